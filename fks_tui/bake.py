"""Exports services.toml as a `docker buildx bake` JSON file (same builds, for comparison or reuse)."""

from __future__ import annotations

from .config import Config, TemplateValues


def bake_definition(config: Config, values: TemplateValues, kinds: tuple[str, ...] = ("cpu", "gpu")) -> dict:
    targets: dict[str, dict] = {}
    groups: dict[str, list[str]] = {kind: [] for kind in kinds}
    for service in config.services:
        if not service.enabled or service.kind not in kinds:
            continue
        target: dict = {
            "context": str(service.context),
            "dockerfile": str(service.dockerfile.relative_to(service.context))
            if service.dockerfile.is_relative_to(service.context)
            else str(service.dockerfile),
            "tags": list(service.tags(values)),
            "args": service.build_args(values),
            "output": ["type=docker"],
        }
        if service.target:
            target["target"] = service.target
        if service.network and service.network != "default":
            target["network"] = service.network
        targets[service.name] = target
        groups[service.kind].append(service.name)
    group = {kind: {"targets": names} for kind, names in groups.items() if names}
    group["default"] = {"targets": list(targets)}
    return {"group": group, "target": targets}
