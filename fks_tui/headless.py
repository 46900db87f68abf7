"""The headless consumer: line-oriented progress for CI logs, prefixed by service."""

from __future__ import annotations

import sys
from typing import TextIO

from .events import (
    BuildStatus,
    Event,
    LogLines,
    Notice,
    PhaseFinished,
    PhaseStarted,
    PushFinished,
    PushQueued,
    PushRetry,
    RunStarted,
    ServiceFinished,
    ServiceQueued,
    ServiceSkipped,
    ServiceStarted,
)

_COLORS = {"ok": "32", "fail": "31", "warn": "33", "dim": "2"}


class HeadlessPrinter:
    """Prints every event as plain lines; escape codes only when writing to a terminal."""

    def __init__(self, out: TextIO | None = None, show_logs: bool = True, width: int = 12) -> None:
        self.out = out or sys.stdout
        self.show_logs = show_logs
        self.width = width
        self.color = self.out.isatty()

    def _paint(self, text: str, style: str) -> str:
        return f"\x1b[{_COLORS[style]}m{text}\x1b[0m" if self.color else text

    def _line(self, who: str, text: str) -> None:
        self.out.write(f"{who:<{self.width}}| {text}\n")

    def handle(self, event: Event) -> None:
        match event:
            case RunStarted():
                self.width = max([self.width, *(len(s.name) + 1 for s in event.services)])
                due = sum(s.due for s in event.services)
                self.out.write(f"fks-tui run {event.run_id}: {due} of {len(event.services)} services due, "
                               f"push {event.push_mode}, logs in {event.run_dir}\n")
            case PhaseStarted():
                self.out.write(self._paint(f"== {event.phase.value} phase: {', '.join(event.services)}",
                                           "dim") + "\n")
            case PhaseFinished():
                pass
            case ServiceQueued():
                self._line(event.service, f"queued ({event.reason})")
            case ServiceSkipped():
                self._line(event.service, self._paint(f"skipped ({event.reason})", "dim"))
            case ServiceStarted():
                self._line(event.service, "building")
            case LogLines() if self.show_logs:
                for line in event.lines:
                    self._line(event.service, line)
            case ServiceFinished():
                self._finished(event)
            case PushQueued():
                self._line(event.service, "push queued: " + ", ".join(event.tags))
            case PushRetry():
                self._line(event.service, self._paint(
                    f"push of {event.tag} failed (attempt {event.attempt}): {event.error}; "
                    f"retrying in {event.delay:.0f}s", "warn"))
            case PushFinished():
                if event.ok:
                    self._line(event.service, self._paint(f"pushed {event.digest[:19]} "
                                                          f"({', '.join(event.tags)})", "ok"))
                else:
                    self._line(event.service, self._paint(
                        f"push failed after {event.attempts} attempts: {event.error}", "fail"))
            case Notice():
                self._line(event.service or "fks-tui", self._paint(event.message,
                                                                   "warn" if event.level != "info" else "dim"))
        if isinstance(event, (ServiceFinished, PushFinished, RunStarted)):
            self.out.flush()

    def _finished(self, event: ServiceFinished) -> None:
        if event.status is BuildStatus.BUILT:
            self._line(event.service, self._paint(
                f"built in {event.duration:.1f}s ({event.cached_steps}/{event.steps_total} steps cached) "
                f"{event.image_id[:19]}", "ok"))
        elif event.status is BuildStatus.FAILED:
            self._line(event.service, self._paint(
                f"FAILED in {event.duration:.1f}s at {event.failed_step or '(no step)'}: {event.error}", "fail"))
            self._line(event.service, f"full log: {event.log_path}")
        else:
            self._line(event.service, self._paint(f"{event.status.value}: {event.error}", "warn"))
