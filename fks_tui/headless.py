"""The headless consumer: line-oriented progress for CI logs, prefixed by service."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TextIO

from . import github
from .disk import disk_lines
from .events import (
    BuildsPaused,
    BuildsResumed,
    BuildStatus,
    CleanupFinished,
    CleanupStarted,
    DiskSample,
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
from .history import SLOW_FACTOR

_COLORS = {"ok": "32", "fail": "31", "warn": "33", "dim": "2"}
# A service's log group in GitHub Actions keeps at most this many (last) lines.
GROUP_MAX_LINES = 5000


class HeadlessPrinter:
    """Prints every event as plain lines; escape codes only when writing to a terminal."""

    def __init__(
        self,
        out: TextIO | None = None,
        show_logs: bool = True,
        width: int = 12,
        github_actions: bool = False,
        medians: Mapping[str, float] | None = None,
    ) -> None:
        self.out = out or sys.stdout
        self.show_logs = show_logs
        self.width = width
        self.color = self.out.isatty()
        # In GitHub Actions each service's log is printed as one foldable group when it finishes,
        # since the logs of concurrent builds interleave; only status lines are printed live.
        self.github_actions = github_actions
        self.medians = dict(medians or {})  # service -> median build time, from the history
        self._logs: dict[str, list[str]] = {}
        self._dropped: dict[str, int] = {}

    def _paint(self, text: str, style: str) -> str:
        return f"\x1b[{_COLORS[style]}m{text}\x1b[0m" if self.color else text

    def _line(self, who: str, text: str) -> None:
        self.out.write(f"{who:<{self.width}}| {text}\n")

    def handle(self, event: Event) -> None:
        match event:
            case RunStarted():
                self.width = max([self.width, *(len(s.name) + 1 for s in event.services)])
                due = sum(s.due for s in event.services)
                self.out.write(
                    f"fks-tui run {event.run_id}: {due} of {len(event.services)} services due, "
                    f"push {event.push_mode}, logs in {event.run_dir}\n"
                )
            case PhaseStarted():
                self.out.write(
                    self._paint(f"== {event.phase.value} phase: {', '.join(event.services)}", "dim") + "\n"
                )
            case PhaseFinished():
                pass
            case ServiceQueued():
                self._line(event.service, f"queued ({event.reason})")
            case ServiceSkipped():
                self._line(event.service, self._paint(f"skipped ({event.reason})", "dim"))
            case ServiceStarted():
                median = self.medians.get(event.service)
                self._line(event.service, f"building (usually {median:.1f}s)" if median else "building")
            case LogLines() if self.show_logs and self.github_actions:
                self._buffer(event.service, event.lines)
            case LogLines() if self.show_logs:
                for line in event.lines:
                    self._line(event.service, line)
            case ServiceFinished():
                self._finished(event)
                if self.github_actions:
                    self._github_finished(event)
            case PushQueued():
                self._line(event.service, "push queued: " + ", ".join(event.tags))
            case PushRetry():
                self._line(
                    event.service,
                    self._paint(
                        f"push of {event.tag} failed (attempt {event.attempt}): {event.error}; "
                        f"retrying in {event.delay:.0f}s",
                        "warn",
                    ),
                )
            case PushFinished():
                if event.ok:
                    self._line(
                        event.service,
                        self._paint(f"pushed {event.digest[:19]} ({', '.join(event.tags)})", "ok"),
                    )
                else:
                    self._line(
                        event.service,
                        self._paint(f"push failed after {event.attempts} attempts: {event.error}", "fail"),
                    )
                    if self.github_actions:
                        self.out.write(
                            github.error(event.error, title=f"{event.service}: push failed") + "\n"
                        )
            case DiskSample() | CleanupStarted() | CleanupFinished() | BuildsPaused() | BuildsResumed():
                for text, style in disk_lines(event):
                    self._line("disk", self._paint(text, style) if style else text)
            case Notice():
                self._line(
                    event.service or "fks-tui",
                    self._paint(event.message, "warn" if event.level != "info" else "dim"),
                )
        if isinstance(event, (ServiceFinished, PushFinished, RunStarted)):
            self.out.flush()

    def _buffer(self, service: str, lines: tuple[str, ...]) -> None:
        kept = self._logs.setdefault(service, [])
        kept.extend(lines)
        if len(kept) > GROUP_MAX_LINES:  # the full log is on disk; keep the end, which says most
            self._dropped[service] = self._dropped.get(service, 0) + len(kept) - GROUP_MAX_LINES
            del kept[: len(kept) - GROUP_MAX_LINES]

    def _github_finished(self, event: ServiceFinished) -> None:
        lines = self._logs.pop(event.service, [])
        dropped = self._dropped.pop(event.service, 0)
        if lines or dropped:
            guard = github.StopCommands()  # build output must not run workflow commands
            self.out.write(github.group(f"{event.service}: {event.status.value} log") + "\n")
            self.out.write(guard.start() + "\n")
            if dropped:
                self.out.write(f"... {dropped} earlier lines in {event.log_path}\n")
            self.out.write("\n".join(lines) + "\n")
            self.out.write(guard.stop() + "\n")
            self.out.write(github.endgroup() + "\n")
        if event.status is BuildStatus.FAILED:
            where = f"failed at {event.failed_step}" if event.failed_step else "failed"
            self.out.write(
                github.error(f"{where}: {event.error}", title=f"{event.service}: build failed") + "\n"
            )

    def _finished(self, event: ServiceFinished) -> None:
        if event.status is BuildStatus.BUILT:
            median = self.medians.get(event.service)
            slow = (
                f"; slower than usual (median {median:.1f}s)"
                if median and event.duration > SLOW_FACTOR * median
                else ""
            )
            self._line(
                event.service,
                self._paint(
                    f"built in {event.duration:.1f}s ({event.cached_steps}/{event.steps_total} steps cached) "
                    f"{event.image_id[:19]}{slow}",
                    "ok",
                ),
            )
        elif event.status is BuildStatus.FAILED:
            self._line(
                event.service,
                self._paint(
                    f"FAILED in {event.duration:.1f}s at {event.failed_step or '(no step)'}: {event.error}",
                    "fail",
                ),
            )
            self._line(event.service, f"full log: {event.log_path}")
        else:
            self._line(event.service, self._paint(f"{event.status.value}: {event.error}", "warn"))
