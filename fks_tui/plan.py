"""Which services a run builds, and why: the plan the engine executes."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from .changes import BuildHistory, ChangeError, detect
from .config import Config, TemplateValues
from .events import PlannedService


class PlanError(Exception):
    """A request that names something the config does not have, or a bad base ref (one line)."""


@dataclass
class Plan:
    """The planned services plus what the table and --json show beside them."""

    services: list[PlannedService]
    paths: dict[str, tuple[str, ...]] = field(default_factory=dict)  # service -> its changed paths
    warnings: list[str] = field(default_factory=list)
    head: str = ""
    base: str = ""

    @property
    def due(self) -> list[PlannedService]:
        return [s for s in self.services if s.due]

    def to_dict(self) -> dict:
        return {
            "head": self.head,
            "base": self.base,
            "warnings": list(self.warnings),
            "services": [
                {
                    "name": s.name,
                    "kind": s.kind,
                    "due": s.due,
                    "reason": s.reason,
                    "paths": list(self.paths.get(s.name, ())),
                    "tags": list(s.tags),
                }
                for s in self.services
            ],
        }


def check_service_names(config: Config, names: Collection[str]) -> None:
    unknown = config.unknown_services(list(names))
    if unknown:
        raise PlanError(
            f"unknown service {', '.join(repr(n) for n in unknown)} "
            f"(in {config.path.name}: {', '.join(config.service_names())})"
        )


def compute_plan(
    config: Config,
    *,
    force: Collection[str] = (),
    force_all: bool = False,
    kinds: Collection[str] = ("cpu", "gpu"),
    values: TemplateValues | None = None,
    base: str | None = None,
    history: BuildHistory | None = None,
) -> Plan:
    """Change detection turned into a plan; raises PlanError (one line) for bad input."""
    check_service_names(config, force)
    values = values or TemplateValues()
    try:
        detection = detect(config, base=base, history=history, force=force, force_all=force_all, kinds=kinds)
    except ChangeError as error:
        raise PlanError(str(error)) from None
    services = [
        PlannedService(
            name=s.name,
            kind=s.kind,
            due=detection.decisions[s.name].due,
            reason=detection.decisions[s.name].reason,
            tags=s.tags(values),
        )
        for s in config.services
    ]
    paths = {name: d.paths for name, d in detection.decisions.items() if d.paths}
    return Plan(services, paths, detection.warnings, detection.head, detection.base)


def make_plan(
    config: Config, *, warn: Callable[[str], None] | None = None, **options: Any
) -> list[PlannedService]:
    """Due services are those whose inputs changed (or forced, first build, last build failed).

    options: the keyword arguments of compute_plan; warn receives the plan's warnings.
    """
    plan = compute_plan(config, **options)
    if warn is not None:
        for message in plan.warnings:
            warn(message)
    return plan.services
