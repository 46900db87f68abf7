"""Typed, immutable events the engine emits; the dashboard and the headless reporter consume them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum


class Phase(StrEnum):
    CPU = "cpu"
    GPU = "gpu"
    PUSH = "push"
    DONE = "done"


class BuildStatus(StrEnum):
    QUEUED = "queued"
    BUILDING = "building"
    BUILT = "built"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


class PushStatus(StrEnum):
    WAITING = "waiting"
    PUSHING = "pushing"
    PUSHED = "pushed"
    FAILED = "failed"


def _now() -> float:
    return time.time()


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every engine event; ts is wall-clock seconds."""

    ts: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedService:
    name: str
    kind: str
    due: bool
    reason: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted(Event):
    run_id: str
    run_dir: str
    config_path: str
    git_sha: str
    services: tuple[PlannedService, ...]
    push_mode: str
    trigger: str = "manual"  # manual | ci | watch


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseStarted(Event):
    phase: Phase
    services: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseFinished(Event):
    phase: Phase


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceQueued(Event):
    service: str
    kind: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceSkipped(Event):
    service: str
    kind: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceStarted(Event):
    service: str
    kind: str
    argv: tuple[str, ...]
    log_path: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StepStarted(Event):
    service: str
    step_id: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StepFinished(Event):
    service: str
    step_id: str
    name: str
    cached: bool
    duration: float


@dataclass(frozen=True, slots=True, kw_only=True)
class StepFailed(Event):
    service: str
    step_id: str
    name: str
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildProgress(Event):
    """A service's step counts; frequent, so consumers may keep only the latest per service."""

    service: str
    steps_done: int
    steps_total: int
    cached_steps: int
    current_step: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LogLines(Event):
    """A batch of output lines of one service (never one event per line)."""

    service: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceFinished(Event):
    service: str
    kind: str
    status: BuildStatus
    duration: float
    image_id: str = ""
    tags: tuple[str, ...] = ()
    steps_total: int = 0
    cached_steps: int = 0
    error: str = ""
    failed_step: str = ""
    error_tail: tuple[str, ...] = ()
    log_path: str = ""
    image_size: int = 0  # bytes, as the daemon reports it after --load


@dataclass(frozen=True, slots=True, kw_only=True)
class PushQueued(Event):
    service: str
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PushProgress(Event):
    """Per-layer push progress; frequent, consumers may keep only the latest per layer."""

    service: str
    tag: str
    layer: str
    status: str
    current: int = 0
    total: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class PushRetry(Event):
    service: str
    tag: str
    attempt: int
    error: str
    delay: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PushFinished(Event):
    service: str
    tags: tuple[str, ...]
    ok: bool
    digest: str = ""
    error: str = ""
    attempts: int = 1
    duration: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice(Event):
    """Something the user should read that is not tied to a build step (warnings, cleanup)."""

    level: str  # info | warning | error
    message: str
    service: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished(Event):
    run_id: str
    wall_time: float
    cancelled: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class DockerUsage:
    """Docker's own disk usage of one category (images, build cache, containers, volumes)."""

    category: str
    size: int
    reclaimable: int
    count: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class DiskSample(Event):
    """Free space of the filesystem holding Docker's data, Docker's usage, and the threshold state.

    free/total are -1 when unknown (a remote daemon without a [disk] path); state is then "unknown".
    reason: "start", "end", "periodic" or "cleanup" (headless prints only start, end).
    """

    path: str
    source: str  # "config path", "docker root dir" or "daemon df"
    free: int
    total: int
    state: str  # ok | warn | cleanup | critical | unknown
    warn_free: int
    cleanup_free: int
    critical_free: int
    usage: tuple[DockerUsage, ...] = ()
    reason: str = "periodic"


@dataclass(frozen=True, slots=True, kw_only=True)
class CleanupStep:
    """What one cleanup step did: bytes freed on the monitored filesystem and as the daemon reported."""

    name: str  # build-cache | dangling-images | stopped-containers | old-project-images
    freed: int  # change in free space of the monitored filesystem
    reclaimed: int  # bytes the daemon reported as reclaimed
    removed: int = 0  # how many images, containers or cache records went
    kept: int = 0  # candidates kept because they are protected (unpushed run images, running containers)
    detail: str = ""
    error: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CleanupStarted(Event):
    reason: str
    free: int
    target: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CleanupFinished(Event):
    """A cleanup's result: steps in the order they ran; reached says whether free ended above target."""

    reason: str
    free_before: int
    free_after: int
    target: int
    steps: tuple[CleanupStep, ...]
    reached: bool
    duration: float = 0.0

    @property
    def freed(self) -> int:
        return sum(step.freed for step in self.steps)

    @property
    def reclaimed(self) -> int:
        return sum(step.reclaimed for step in self.steps)


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildsPaused(Event):
    """New builds wait: free space fell below critical_free."""

    service: str
    free: int
    critical_free: int
    resume_at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildsResumed(Event):
    service: str
    free: int
    waited: float
