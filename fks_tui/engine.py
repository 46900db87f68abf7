"""The build engine: phased concurrent builds (CPU, then GPU), then pushes, as an async event stream."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import secrets
import threading
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .config import Config, TemplateValues
from .events import (
    BuildStatus,
    Event,
    Notice,
    Phase,
    PhaseFinished,
    PhaseStarted,
    PlannedService,
    PushFinished,
    PushQueued,
    RunFinished,
    RunStarted,
    ServiceFinished,
    ServiceQueued,
    ServiceSkipped,
)
from .pusher import BACKOFF_BASE, PUSH_RETRIES, PushJob
from .report import RunReport
from .runner import BuildJob

_END = object()


class RunHooks:
    """Extension points around phases and builds (disk guard, history); the default does nothing."""

    async def before_phase(self, engine: Engine, phase: Phase) -> None:
        """Runs before a phase starts (e.g. cleanup when disk is low)."""

    async def before_build(self, engine: Engine, service: str) -> None:
        """Runs before each build starts; may wait (e.g. until disk is back above critical)."""

    async def after_run(self, engine: Engine) -> None:
        """Runs after the last phase, before RunFinished."""


def image_size(image_id: str) -> int:
    """The loaded image's size in bytes per the daemon; 0 when it cannot say (never fails a build)."""
    try:
        import docker

        client = docker.from_env(timeout=10)
        try:
            return int(client.images.get(image_id).attrs.get("Size") or 0)
        finally:
            client.close()
    except Exception:
        return 0


def new_run_id() -> str:
    """A run id that sorts by start time (milliseconds), unique across processes."""
    now = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return f"{stamp}{int(now * 1000) % 1000:03d}-{secrets.token_hex(2)}"


def runs_dir(config: Config) -> Path:
    return config.state_dir / "runs"


def latest_run_dir(config: Config) -> Path | None:
    """The most recent run directory that has a run.json, if any."""
    root = runs_dir(config)
    if not root.is_dir():
        return None
    candidates = sorted((p for p in root.iterdir() if (p / "run.json").is_file()), key=lambda p: p.name)
    return candidates[-1] if candidates else None


@dataclass
class EngineOptions:
    push_mode: str | None = None  # None: the config's [build] push
    push_retries: int = PUSH_RETRIES
    push_backoff: float = BACKOFF_BASE
    values: TemplateValues | None = None
    git_sha: str = ""
    trigger: str = "manual"  # manual | ci | watch: recorded in the report and the history


@dataclass
class Engine:
    """Runs one plan. Consumers iterate `stream(plan)`; cancel() and cancel_service() stop builds."""

    config: Config
    options: EngineOptions = field(default_factory=EngineOptions)
    hooks: RunHooks = field(default_factory=RunHooks)

    def __post_init__(self) -> None:
        self.run_id = new_run_id()
        self.run_dir = runs_dir(self.config) / self.run_id
        self.report = RunReport()
        self.values = self.options.values or TemplateValues()
        self.push_mode = self.options.push_mode or self.config.build.push
        self.cancelled = False
        self._jobs: dict[str, BuildJob] = {}
        self._cancelled_services: set[str] = set()
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._push_cancel = threading.Event()
        self._push_sem: asyncio.Semaphore | None = None
        self._push_tasks: list[asyncio.Task] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.started = 0.0

    # -- control
    def cancel(self) -> None:
        """Cancel the whole run: running builds end, queued ones never start, pushes stop."""
        self.cancelled = True
        self._push_cancel.set()
        for job in list(self._jobs.values()):
            job.cancel()

    def cancel_service(self, name: str) -> None:
        self._cancelled_services.add(name)
        job = self._jobs.get(name)
        if job is not None:
            job.cancel()

    def emit(self, event: Event) -> None:
        """Publish an event; safe from the engine's loop and from push threads."""
        if self._loop is not None and not self._in_loop_thread():
            self._loop.call_soon_threadsafe(self._publish, event)
        else:
            self._publish(event)

    def _in_loop_thread(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def _publish(self, event: Event) -> None:
        self.report.apply(event)
        self._queue.put_nowait(event)

    # -- the stream
    async def stream(self, plan: Iterable[PlannedService]) -> AsyncIterator[Event]:
        """Run the plan, yielding every event; closing the iterator cancels the run."""
        self._loop = asyncio.get_running_loop()
        task = asyncio.create_task(self._run(tuple(plan)))
        try:
            while True:
                item = await self._queue.get()
                if item is _END:
                    break
                yield item  # type: ignore[misc]
            await task
        finally:
            if not task.done():
                self.cancel()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _run(self, plan: tuple[PlannedService, ...]) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.started = time.monotonic()
        try:
            await self._phases(plan)
        except asyncio.CancelledError:
            self.cancel()
            raise
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._finish())

    async def _phases(self, plan: tuple[PlannedService, ...]) -> None:
        self.emit(
            RunStarted(
                run_id=self.run_id,
                run_dir=str(self.run_dir),
                config_path=str(self.config.path),
                git_sha=self.options.git_sha or self.values.sha,
                services=plan,
                push_mode=self.push_mode,
                trigger=self.options.trigger,
            )
        )
        self.save()
        for entry in plan:
            if entry.due:
                self.emit(ServiceQueued(service=entry.name, kind=entry.kind, reason=entry.reason))
            else:
                self.emit(ServiceSkipped(service=entry.name, kind=entry.kind, reason=entry.reason))
        self._push_sem = asyncio.Semaphore(self.config.build.push_parallelism)
        for phase in (Phase.CPU, Phase.GPU):
            names = tuple(e.name for e in plan if e.due and e.kind == phase.value)
            if not names:
                continue
            if self.cancelled:
                for name in names:
                    self._cancelled_without_start(name)
                continue
            await self.hooks.before_phase(self, phase)
            self.emit(PhaseStarted(phase=phase, services=names))
            limit = asyncio.Semaphore(self.config.build.parallelism(phase.value))
            await asyncio.gather(*(self._build(name, limit) for name in names))
            self.emit(PhaseFinished(phase=phase))
            self.save()
        to_push = [s.name for s in self.report.built if s.push_status == ""]
        if self.push_mode != "off" and (to_push or self._push_tasks) and not self.cancelled:
            await self.hooks.before_phase(self, Phase.PUSH)
            self.emit(PhaseStarted(phase=Phase.PUSH, services=tuple(to_push)))
            for name in to_push:
                self._start_push(name)
            await asyncio.gather(*self._push_tasks)
            self.emit(PhaseFinished(phase=Phase.PUSH))
        await self.hooks.after_run(self)

    async def _finish(self) -> None:
        # In-flight pushes: let them end (they stop quickly when cancelled).
        if self._push_tasks:
            await asyncio.gather(*self._push_tasks, return_exceptions=True)
        self.emit(
            RunFinished(
                run_id=self.run_id, wall_time=time.monotonic() - self.started, cancelled=self.cancelled
            )
        )
        self.save()
        self._queue.put_nowait(_END)

    def save(self) -> None:
        """Write run.json (so `fks-tui push` and `fks-tui report` can pick the run up later)."""
        with contextlib.suppress(OSError):
            self.report.save(self.run_dir / "run.json")

    def _cancelled_without_start(self, name: str) -> None:
        kind = self.config.service(name).kind
        self.emit(
            ServiceFinished(
                service=name,
                kind=kind,
                status=BuildStatus.CANCELLED,
                duration=0.0,
                error="cancelled before start",
            )
        )

    async def _build(self, name: str, limit: asyncio.Semaphore) -> None:
        async with limit:
            if self.cancelled or name in self._cancelled_services:
                self._cancelled_without_start(name)
                return
            await self.hooks.before_build(self, name)
            if self.cancelled or name in self._cancelled_services:
                self._cancelled_without_start(name)
                return
            job = BuildJob(
                self.config.service(name),
                self.values,
                self.run_id,
                self.run_dir,
                self.config.project.name,
                self.emit,
            )
            self._jobs[name] = job
            try:
                finished = await job.run()
            except OSError as error:
                finished = ServiceFinished(
                    service=name,
                    kind=job.service.kind,
                    status=BuildStatus.FAILED,
                    duration=0.0,
                    error=f"cannot run the build: {error}",
                )
            finally:
                self._jobs.pop(name, None)
            if finished.status is BuildStatus.BUILT and finished.image_id:
                size = await asyncio.to_thread(image_size, finished.image_id)
                finished = dataclasses.replace(finished, image_size=size)
            self.emit(finished)
        if finished.status is BuildStatus.BUILT and self.push_mode == "eager" and not self.cancelled:
            self._start_push(name)

    def _start_push(self, name: str) -> None:
        tags = tuple(self.report.services[name].tags)
        self.emit(PushQueued(service=name, tags=tags))
        self._push_tasks.append(asyncio.create_task(self._push(name, tags)))

    async def _push(self, name: str, tags: tuple[str, ...]) -> None:
        assert self._push_sem is not None
        async with self._push_sem:
            job = PushJob(
                name,
                tags,
                self.emit,
                retries=self.options.push_retries,
                backoff=self.options.push_backoff,
                cancel_event=self._push_cancel,
            )
            finished = await run_push_job(job)
            self.emit(finished)
            self.save()


async def run_push_job(job: PushJob) -> PushFinished:
    """Run a blocking push in a thread; a bug in it is a failed push, never a lost report."""
    try:
        return await asyncio.to_thread(job.run)
    except Exception as error:
        return PushFinished(service=job.service, tags=job.tags, ok=False, error=f"push crashed: {error}")


async def push_pending(
    config: Config, run_dir: Path, options: EngineOptions | None = None, emit=None
) -> RunReport:
    """Push what a past run built but could not push; updates that run's run.json."""
    options = options or EngineOptions()
    report = RunReport.load(run_dir / "run.json")
    pending = [s for s in report.built if s.needs_push]
    sem = asyncio.Semaphore(config.build.push_parallelism)
    loop = asyncio.get_running_loop()

    def publish(event: Event) -> None:
        loop.call_soon_threadsafe(_apply, event)

    def _apply(event: Event) -> None:
        report.apply(event)
        if emit is not None:
            emit(event)

    async def one(name: str) -> None:
        async with sem:
            tags = tuple(report.services[name].tags)
            _apply(PushQueued(service=name, tags=tags))
            job = PushJob(name, tags, publish, retries=options.push_retries, backoff=options.push_backoff)
            _apply(await run_push_job(job))
            report.save(run_dir / "run.json")

    if not pending:
        _apply(Notice(level="info", message=f"nothing to push in run {report.run_id}"))
    await asyncio.gather(*(one(s.name) for s in pending))
    await asyncio.sleep(0)  # let the last thread-posted events land
    report.save(run_dir / "run.json")
    return report
