"""The disk widget: free space bar and sparkline, Docker's usage, threshold state, last cleanup."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Sparkline, Static

from ..disk import size_text
from ..events import BuildsPaused, BuildsResumed, CleanupFinished, CleanupStarted, DiskSample

STATE_STYLE = {
    "ok": "green",
    "warn": "yellow",
    "cleanup": "dark_orange",
    "critical": "bold red",
    "unknown": "dim",
}
BAR_WIDTH = 16


def free_bar(free: int, total: int, width: int = BAR_WIDTH) -> str:
    """A used/free bar: filled cells are used space."""
    if total <= 0 or free < 0:
        return "?" * width
    used = round(width * (1 - free / total))
    return "█" * used + "░" * (width - used)


class DiskPanel(Widget):
    """Shows the latest DiskSample and CleanupFinished; the first row alone still says what matters."""

    DEFAULT_CSS = """
    DiskPanel { height: auto; }
    DiskPanel #disk-top { height: 1; }
    DiskPanel #disk-free { width: auto; }
    DiskPanel #disk-spark { height: 1; width: 1fr; max-width: 40; min-width: 8; margin-left: 1; }
    DiskPanel #disk-spark.-empty { display: none; }
    DiskPanel #disk-usage, DiskPanel #disk-cleanup { height: 1; color: $text-muted; }
    DiskPanel.-warn #disk-spark > .sparkline--max-color { color: $warning; }
    DiskPanel.-critical #disk-spark > .sparkline--max-color { color: $error; }
    """
    # Samples kept for the sparkline (at the default 5 s interval: the last 10 minutes).
    HISTORY = 120

    def __init__(self, *, id: str | None = "disk-panel", classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.sample: DiskSample | None = None
        self.cleanup: CleanupFinished | None = None
        self.cleaning = False
        self.paused: set[str] = set()
        self.history: list[float] = []

    def compose(self) -> ComposeResult:
        with Horizontal(id="disk-top"):
            yield Static("disk: waiting for the first sample", id="disk-free")
            yield Sparkline([], id="disk-spark", classes="-empty")
        yield Static("", id="disk-usage")
        yield Static("no cleanup yet", id="disk-cleanup")

    # -- what the app forwards
    def handle(self, event: object) -> bool:
        """Take any disk event; False for events that are not the disk's."""
        match event:
            case DiskSample():
                self.update_sample(event)
            case CleanupStarted():
                self.cleaning = True
                self._render_cleanup()
            case CleanupFinished():
                self.update_cleanup(event)
            case BuildsPaused():
                self.paused.add(event.service)
                self._render_free()
            case BuildsResumed():
                self.paused.discard(event.service)
                self._render_free()
            case _:
                return False
        return True

    def update_sample(self, sample: DiskSample) -> None:
        self.sample = sample
        if sample.free >= 0:
            self.history = [*self.history, float(sample.free)][-self.HISTORY :]
            spark = self.query_one("#disk-spark", Sparkline)
            spark.data = self.history
            # One sample, or all the same, draws a solid bar that says nothing: a trend needs change.
            spark.set_class(len(set(self.history)) < 2, "-empty")
        for state in STATE_STYLE:
            self.set_class(sample.state == state, f"-{state}")
        self._render_free()
        usage = "  ".join(
            f"{u.category} {size_text(u.size)} ({size_text(u.reclaimable)} reclaimable)" for u in sample.usage
        )
        self.query_one("#disk-usage", Static).update(Text(f"docker: {usage}" if usage else ""))

    def show_unavailable(self, why: str) -> None:
        """No sample could be taken; the last good sample (if any) stays on screen."""
        if self.sample is None:
            self.query_one("#disk-free", Static).update(Text(f"disk: {why}", style="dim"))

    def update_cleanup(self, result: CleanupFinished) -> None:
        self.cleanup = result
        self.cleaning = False
        self._render_cleanup()
        self._render_free()

    # -- rendering
    def _render_free(self) -> None:
        sample = self.sample
        if sample is None:
            return
        style = STATE_STYLE.get(sample.state, "")
        text = Text()
        if sample.free >= 0:
            text.append(free_bar(sample.free, sample.total), style=style)
            text.append(f" {size_text(sample.free)} free of {size_text(sample.total)} ")
        else:
            text.append("free space unknown (remote daemon) ", style="dim")
        text.append(sample.state.upper() if sample.state != "ok" else "ok", style=style)
        if self.paused:
            text.append(f"  builds waiting: {', '.join(sorted(self.paused))}", style="bold red")
        elif self.cleanup is not None:
            text.append(f"  cleanup freed {size_text(max(self.cleanup.freed, 0))}", style="dim")
        self.query_one("#disk-free", Static).update(text)

    def _render_cleanup(self) -> None:
        label = self.query_one("#disk-cleanup", Static)
        if self.cleaning:
            label.update(Text("cleanup running...", style="yellow"))
            return
        result = self.cleanup
        if result is None:
            return
        steps = ", ".join(
            f"{s.name} {size_text(max(s.freed, 0))}/{size_text(s.reclaimed)}" for s in result.steps
        )
        when = time.strftime("%H:%M:%S", time.localtime(result.ts))
        outcome = "back above target" if result.reached else "still below target"
        label.update(
            Text(
                f"last cleanup {when} ({result.reason}): freed {size_text(max(result.freed, 0))} on disk, "
                f"daemon reclaimed {size_text(result.reclaimed)}; {outcome}; steps (disk/daemon): "
                f"{steps or 'none needed'}"
            )
        )
