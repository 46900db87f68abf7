"""Which services a run builds, and why: the plan the engine executes."""

from __future__ import annotations

from collections.abc import Collection

from .config import Config, TemplateValues
from .events import PlannedService


class PlanError(Exception):
    """A request that names something the config does not have (one line)."""


def check_service_names(config: Config, names: Collection[str]) -> None:
    unknown = config.unknown_services(list(names))
    if unknown:
        raise PlanError(
            f"unknown service {', '.join(repr(n) for n in unknown)} "
            f"(in {config.path.name}: {', '.join(config.service_names())})"
        )


def make_plan(
    config: Config,
    *,
    force: Collection[str] = (),
    force_all: bool = False,
    kinds: Collection[str] = ("cpu", "gpu"),
    values: TemplateValues | None = None,
) -> list[PlannedService]:
    """Every enabled service of the selected kinds is due; forced ones say so."""
    check_service_names(config, force)
    values = values or TemplateValues()
    plan = []
    for service in config.services:
        tags = service.tags(values)
        if not service.enabled:
            plan.append(PlannedService(name=service.name, kind=service.kind, due=False, reason="disabled",
                                       tags=tags))
        elif service.kind not in kinds:
            plan.append(PlannedService(name=service.name, kind=service.kind, due=False,
                                       reason=f"{service.kind} not selected", tags=tags))
        else:
            forced = force_all or service.name in force
            plan.append(PlannedService(name=service.name, kind=service.kind, due=True,
                                       reason="forced" if forced else "always", tags=tags))
    return plan
