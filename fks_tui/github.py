"""GitHub Actions integration: workflow commands (groups, annotations) and the job step summary."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path


def in_actions(env: Mapping[str, str] | None = None) -> bool:
    """True inside a GitHub Actions job (GitHub sets GITHUB_ACTIONS=true)."""
    env = os.environ if env is None else env
    return env.get("GITHUB_ACTIONS", "") == "true"


def trigger_from_env(env: Mapping[str, str] | None = None) -> str:
    """ci when a CI system runs us (GITHUB_ACTIONS or the conventional CI variable), else manual."""
    env = os.environ if env is None else env
    if in_actions(env) or env.get("CI", "").lower() in ("1", "true", "yes"):
        return "ci"
    return "manual"


def escape_data(text: str) -> str:
    """A workflow command's message: %, CR and LF are percent-encoded (the runner decodes them)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: like data, plus ':' and ',' which delimit properties."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str = "", **properties: str | int | None) -> str:
    """One workflow command line, e.g. `::error title=api build failed::step 3 exited 1`."""
    props = ",".join(
        f"{key}={escape_property(str(value))}" for key, value in properties.items() if value not in (None, "")
    )
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def error(message: str, title: str = "", file: str = "", line: int | None = None) -> str:
    return command("error", message, title=title, file=file, line=line)


def warning(message: str, title: str = "") -> str:
    return command("warning", message, title=title)


def group(name: str) -> str:
    return command("group", name)


def endgroup() -> str:
    return "::endgroup::"


class StopCommands:
    """Brackets untrusted output (build logs) so lines in it cannot act as workflow commands."""

    def __init__(self) -> None:
        self.token = secrets.token_hex(16)

    def start(self) -> str:
        return f"::stop-commands::{self.token}"

    def stop(self) -> str:
        return f"::{self.token}::"


def append_step_summary(markdown: str, env: Mapping[str, str] | None = None) -> Path | None:
    """Append to the job summary file named by GITHUB_STEP_SUMMARY; None when it is not set."""
    env = os.environ if env is None else env
    target = env.get("GITHUB_STEP_SUMMARY", "")
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as summary:
        summary.write(markdown.rstrip("\n") + "\n\n")
    return path
