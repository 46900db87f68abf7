"""The header line: run phase, counts per kind, wall time, and the speedup once the run is done."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual.widgets import Static

from .service_table import format_elapsed

PHASE_LOOK = {
    "idle": ("idle", "grey62"),
    "planning": ("planning…", "bold"),
    "queued": ("starting", "bold"),
    "cpu": ("CPU builds", "bold yellow"),
    "gpu": ("GPU builds", "bold yellow"),
    "push": ("pushing", "bold cyan"),
    "done": ("done", "bold green"),
    "cancelled": ("cancelled", "bold magenta"),
    "cancelling": ("cancelling…", "bold magenta"),
}


@dataclass
class StatusInfo:
    project: str = ""
    phase: str = "idle"
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> status -> n
    pushed: int = 0
    to_push: int = 0
    wall: float | None = None
    speedup: float | None = None
    flags: list[str] = field(default_factory=list)
    due: int = 0  # services the file watcher marked due and no build has started yet
    auto_build: bool = False
    watching: bool = False


class StatusLine(Static):
    """One line; the app passes a StatusInfo."""

    DEFAULT_CSS = """
    StatusLine { height: 1; background: $panel; padding: 0 1; }
    """

    def show_info(self, info: StatusInfo) -> None:
        label, style = PHASE_LOOK.get(info.phase, (info.phase, "bold"))
        text = Text.assemble(
            ("fks-tui", "bold"),
            (f" {info.project}" if info.project else "", "grey70"),
            "  ",
            (f"● {label}", style),
        )
        for kind in ("cpu", "gpu"):
            counts = info.counts.get(kind)
            if not counts:
                continue
            total = sum(counts.values())
            done = counts.get("built", 0) + counts.get("cached", 0)
            text.append(f"  {kind.upper()} ", style="bold")
            text.append(f"{done}/{total}")
            for status, style_ in (("building", "yellow"), ("failed", "red"), ("cancelled", "magenta")):
                if counts.get(status):
                    text.append(f" {counts[status]} {status}", style=style_)
        if info.to_push:
            text.append(f"  push {info.pushed}/{info.to_push}", style="cyan")
        if info.wall is not None:
            text.append(f"  ⏱ {format_elapsed(info.wall)}")
        if info.speedup:
            text.append(f"  {info.speedup:.1f}x vs one after another", style="bold green")
        if info.due:
            text.append(f"  {info.due} due", style="bold orange1")
        if info.watching:
            text.append("  auto-build ", style="grey62")
            text.append(
                "on" if info.auto_build else "off", style="bold green" if info.auto_build else "grey62"
            )
        for flag in info.flags:
            text.append(f"  [{flag}]", style="orange1")
        self.update(text)
