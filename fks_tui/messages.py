"""Textual messages carrying engine events to the dashboard, and the pump that batches them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from textual.message import Message

from .events import BuildProgress, CleanupFinished, DiskSample, Event, LogLines, PlannedService, PushProgress


@dataclass
class EngineEvent(Message):
    """One engine event that changes the screen (lifecycle, steps, pushes)."""

    event: Event


@dataclass
class ProgressTick(Message):
    """A service's latest step counts; a newer tick for the same service replaces a queued one."""

    event: BuildProgress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ProgressTick) and message.event.service == self.event.service


@dataclass
class PushTick(Message):
    """A layer's latest push progress; a newer tick for the same layer replaces a queued one."""

    event: PushProgress

    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(message, PushTick)
            and message.event.service == self.event.service
            and message.event.layer == self.event.layer
        )


@dataclass
class LogBatch(Message):
    """Lines of one service's build log, several engine batches merged into one message."""

    service: str
    lines: list[str]


@dataclass(frozen=True)
class RunRequest:
    """What the user asked for when pressing build or retry, frozen at that moment."""

    force: frozenset[str]
    force_all: bool
    kinds: tuple[str, ...]
    only: frozenset[str] | None
    trigger: str = "manual"  # "watch" when the file watcher started the run (auto-build)
    watched: tuple[tuple[str, str], ...] = ()  # (service, changed file) the watcher marked due


@dataclass
class RunPlanned(Message):
    """The plan is made: the engine is about to stream (engine None: no run, see problem)."""

    request: RunRequest
    engine: object | None
    problem: str = ""
    plan: tuple[PlannedService, ...] = ()  # set when nothing was due: each service's reason


@dataclass
class RunEnded(Message):
    """The engine's stream is over (finished, cancelled or crashed)."""

    cancelled: bool = False


@dataclass
class DockerChecked(Message):
    """Result of the daemon/buildx preflight: a one-line problem, or None when all is well."""

    problem: str | None


class EventPump:
    """Turns engine events into messages: log lines are merged per service and sent at most every
    `interval` seconds or every `max_lines` lines; any other event flushes them first, so order holds."""

    def __init__(
        self,
        post: Callable[[Message], object],
        interval: float = 0.05,
        max_lines: int = 2000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.post = post
        self.interval = interval
        self.max_lines = max_lines
        self.clock = clock
        self.pending: dict[str, list[str]] = {}
        self.pending_count = 0
        self.last_flush = clock()
        self.lines_in = 0

    def feed(self, event: Event) -> None:
        if isinstance(event, LogLines):
            self.pending.setdefault(event.service, []).extend(event.lines)
            self.pending_count += len(event.lines)
            self.lines_in += len(event.lines)
            if self.pending_count >= self.max_lines or self.clock() - self.last_flush >= self.interval:
                self.flush()
            return
        self.flush()
        if isinstance(event, BuildProgress):
            self.post(ProgressTick(event))
        elif isinstance(event, PushProgress):
            self.post(PushTick(event))
        else:
            self.post(EngineEvent(event))

    def flush(self) -> None:
        self.last_flush = self.clock()
        if not self.pending:
            return
        pending, self.pending, self.pending_count = self.pending, {}, 0
        for service, lines in pending.items():
            self.post(LogBatch(service, lines))


@dataclass
class FilesChanged(Message):
    """The file watcher saw saves that make these services due: service -> the file (relative)."""

    services: dict[str, str]


@dataclass
class WatchProblem(Message):
    """The file watcher hit a problem and is retrying (one line)."""

    message: str


@dataclass
class DiskSampled(Message):
    """A disk sample taken between runs (None: the daemon or path could not be read)."""

    sample: DiskSample | None


@dataclass
class DiskCleaned(Message):
    """A manual cleanup between runs is over (None: it failed, see problem)."""

    result: CleanupFinished | None
    problem: str = ""
