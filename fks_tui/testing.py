"""Recorded engine event streams: JSON-lines (de)serialisation, a recorder, and a replaying fake engine."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gzip
import json
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path

from . import events as ev
from .config import Config
from .events import BuildStatus, Event, PlannedService
from .report import RunReport

_EVENT_TYPES: dict[str, type[Event]] = {
    name: obj
    for name, obj in vars(ev).items()
    if isinstance(obj, type) and issubclass(obj, Event) and obj is not Event
}


def event_to_dict(event: Event) -> dict:
    data: dict = {"type": type(event).__name__}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        if f.name == "services" and value and isinstance(value[0], PlannedService):
            value = [dataclasses.asdict(p) for p in value]
        elif isinstance(value, tuple):
            value = list(value)
        data[f.name] = value.value if isinstance(value, (ev.Phase, BuildStatus)) else value
    return data


def event_from_dict(data: dict) -> Event:
    data = dict(data)
    cls = _EVENT_TYPES[data.pop("type")]
    for key, value in data.items():
        if isinstance(value, list):
            data[key] = tuple(
                PlannedService(**{k: tuple(v) if isinstance(v, list) else v for k, v in item.items()})
                if isinstance(item, dict)
                else item
                for item in value
            )
    if "phase" in data:
        data["phase"] = ev.Phase(data["phase"])
    if cls is ev.ServiceFinished:
        data["status"] = BuildStatus(data["status"])
    return cls(**data)


def _open(path: Path, mode: str):
    return gzip.open(path, mode + "t", encoding="utf-8") if path.suffix == ".gz" else path.open(mode)


def save_events(path: Path, stream: Iterable[Event]) -> None:
    with _open(path, "w") as out:
        for event in stream:
            out.write(json.dumps(event_to_dict(event), separators=(",", ":")) + "\n")


def load_events(path: Path) -> list[Event]:
    with _open(path, "r") as src:
        return [event_from_dict(json.loads(line)) for line in src if line.strip()]


def _service_of(event: Event) -> str:
    return getattr(event, "service", "") or ""


class FakeEngine:
    """Replays a recorded stream with the Engine's interface: stream(plan), cancel(), cancel_service(), report.

    Events of services the plan does not make due are dropped (they are reported skipped), so a plan
    without the GPU kind or a retry of one service replays only what it asks for. `delay` sleeps
    between events (0: as fast as the consumer takes them); `hold` pauses the replay before the first
    event it returns True for, until release() is called (for screenshots of a mid-run state).
    """

    def __init__(
        self,
        config: Config,
        events: Iterable[Event],
        *,
        delay: float = 0.0,
        hold: Callable[[Event], bool] | None = None,
        write_logs: bool = True,
        restamp: bool = False,
        run_id: str = "",
        trigger: str = "manual",
    ) -> None:
        self.config = config
        self.trigger = trigger
        self.events = events
        self.delay = delay
        self.hold = hold
        self.write_logs = write_logs
        self.restamp = restamp
        self.report = RunReport()
        self.cancelled = False
        self.run_id = run_id or f"fake-{uuid.uuid4().hex[:6]}"
        self.run_dir = config.state_dir / "runs" / self.run_id
        self.push_mode = config.build.push
        self._cancelled_services: set[str] = set()
        self._released = asyncio.Event()
        self.held = asyncio.Event()
        self.plans: list[list[PlannedService]] = []
        self._recorded_end: ev.RunFinished | None = None

    @classmethod
    def factory(cls, events: Iterable[Event], **kwargs) -> Callable[..., FakeEngine]:
        """An engine factory for FksApp(engine_factory=...): (config, options) -> FakeEngine."""
        made: list[FakeEngine] = []

        def make(config: Config, options=None) -> FakeEngine:
            engine = cls(config, events, trigger=getattr(options, "trigger", "manual"), **kwargs)
            made.append(engine)
            return engine

        make.made = made  # type: ignore[attr-defined]
        return make

    def cancel(self) -> None:
        self.cancelled = True
        self._released.set()

    def cancel_service(self, name: str) -> None:
        self._cancelled_services.add(name)

    def release(self) -> None:
        self.hold = None
        self._released.set()

    def _rewrite(self, event: Event) -> Event:
        changes: dict = {}
        if hasattr(event, "run_id"):
            changes["run_id"] = self.run_id
        if hasattr(event, "run_dir"):
            changes["run_dir"] = str(self.run_dir)
        if getattr(event, "log_path", ""):
            changes["log_path"] = str(self.run_dir / f"{_service_of(event)}.log")
        if self.restamp:
            changes["ts"] = time.time()
        return dataclasses.replace(event, **changes) if changes else event

    async def stream(self, plan: Iterable[PlannedService]) -> AsyncIterator[Event]:
        plan = list(plan)
        self.plans.append(plan)
        due = {p.name for p in plan if p.due}
        self.run_dir.mkdir(parents=True, exist_ok=True)
        logs: dict[str, object] = {}
        started: set[str] = set()
        finished: set[str] = set()
        sent = 0
        paced_from: float | None = None
        try:
            for event in self._replay(plan, due):
                if self.hold is not None and self.hold(event):
                    self.held.set()
                    await self._released.wait()
                if self.cancelled:
                    break
                service = _service_of(event)
                if service in self._cancelled_services and service not in finished:
                    if isinstance(event, ev.ServiceQueued):
                        pass
                    elif service in started or isinstance(event, ev.ServiceStarted):
                        finished.add(service)
                        yield self._publish(
                            ev.ServiceFinished(
                                service=service,
                                kind=self.config.service(service).kind,
                                status=BuildStatus.CANCELLED,
                                duration=0.0,
                                error="cancelled",
                            )
                        )
                        continue
                    elif not isinstance(event, ev.PhaseStarted):
                        continue
                if service in finished and not isinstance(
                    event, ev.PushQueued | ev.PushProgress | ev.PushRetry | ev.PushFinished
                ):
                    continue
                if isinstance(event, ev.ServiceStarted):
                    started.add(service)
                if isinstance(event, ev.ServiceFinished):
                    finished.add(service)
                if isinstance(event, ev.LogLines) and self.write_logs:
                    log = logs.get(service)
                    if log is None:
                        log = logs[service] = (self.run_dir / f"{service}.log").open("a", encoding="utf-8")
                    log.write("\n".join(event.lines) + "\n")  # type: ignore[attr-defined]
                if isinstance(event, ev.RunFinished):
                    break
                yield self._publish(event)
                sent += 1
                if self.delay:
                    # Keep to one event per `delay` on average: sleep to the event's due time, not
                    # `delay` after the last one (the loop's sleep granularity would slow the pace).
                    if paced_from is None:
                        paced_from = time.monotonic()
                    ahead = paced_from + sent * self.delay - time.monotonic()
                    if ahead > 0.002:
                        await asyncio.sleep(ahead)
                    elif sent % 32 == 0:
                        await asyncio.sleep(0)
                elif sent % 32 == 0:
                    # Like the engine's queue: a consumer drains what is ready without a loop turn each.
                    await asyncio.sleep(0)
            if self.cancelled:
                for planned in plan:
                    if planned.due and planned.name not in finished:
                        yield self._publish(
                            ev.ServiceFinished(
                                service=planned.name,
                                kind=planned.kind,
                                status=BuildStatus.CANCELLED,
                                duration=0.0,
                                error="cancelled",
                            )
                        )
            end = self._recorded_end
            yield self._publish(
                ev.RunFinished(
                    run_id=self.run_id,
                    wall_time=end.wall_time if end else 0.0,
                    cancelled=self.cancelled,
                    **({"ts": end.ts} if end and not self.restamp else {}),
                )
            )
        finally:
            for log in logs.values():
                log.close()  # type: ignore[attr-defined]
            with _suppress_os_error():
                self.report.save(self.run_dir / "run.json")

    def _publish(self, event: Event) -> Event:
        event = self._rewrite(event)
        self.report.apply(event)
        return event

    def _replay(self, plan: list[PlannedService], due: set[str]) -> Iterator[Event]:
        for event in self.events:
            if isinstance(event, ev.RunFinished):
                self._recorded_end = event
            if isinstance(event, ev.RunStarted):
                yield dataclasses.replace(
                    event, services=tuple(plan), push_mode=self.push_mode, trigger=self.trigger
                )
                for planned in plan:
                    if planned.due:
                        yield ev.ServiceQueued(
                            service=planned.name, kind=planned.kind, reason=planned.reason, ts=event.ts
                        )
                    else:
                        yield ev.ServiceSkipped(
                            service=planned.name, kind=planned.kind, reason=planned.reason, ts=event.ts
                        )
                continue
            if isinstance(event, ev.ServiceQueued | ev.ServiceSkipped):
                continue  # the plan decides these (above)
            if self.push_mode == "off" and isinstance(
                event, ev.PushQueued | ev.PushProgress | ev.PushRetry | ev.PushFinished
            ):
                continue
            if (
                self.push_mode == "off"
                and isinstance(event, ev.PhaseStarted | ev.PhaseFinished)
                and event.phase is ev.Phase.PUSH
            ):
                continue
            if isinstance(event, ev.PhaseStarted):
                names = tuple(n for n in event.services if n in due)
                if names or event.phase is ev.Phase.DONE:
                    yield dataclasses.replace(event, services=names)
                continue
            service = _service_of(event)
            if service and service not in due:
                continue
            yield event


def seed_history(history, events: Iterable[Event], factors: Iterable[float], spacing: float = 3600.0) -> None:
    """Record one past run per factor into a History (durations scaled by it), via HistoryRecorder."""
    from .history import HistoryRecorder

    events, factors = list(events), list(factors)
    for number, factor in enumerate(factors):
        recorder = HistoryRecorder(history)
        shift = -(len(factors) - number) * spacing  # before the recorded run, oldest first
        for event in events:
            changes: dict = {"ts": event.ts + shift}
            if hasattr(event, "run_id"):
                changes["run_id"] = f"past-{number}"
            if isinstance(event, ev.ServiceFinished):
                changes["duration"] = event.duration * factor
            recorder.handle(dataclasses.replace(event, **changes))


class IdleWatcher:
    """The ServiceWatcher interface with no file-system watches: reports nothing until stopped."""

    def __init__(self, config: Config | None = None) -> None:
        self.pending: dict[str, str] = {}
        self.ready = asyncio.Event()
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    def clear(self, *names: str) -> None:
        for name in names or list(self.pending):
            self.pending.pop(name, None)

    async def watch(self) -> AsyncIterator:
        self.ready.set()
        await self._stop.wait()
        return
        yield  # an async generator that yields nothing


GIB = 1024**3


class FakeDiskGuard:
    """The DiskGuard interface the dashboard uses, with fixed figures and recorded calls (no daemon)."""

    def __init__(self, config: Config, free: int = 41 * GIB, total: int = 120 * GIB) -> None:
        from .disk import Limits

        self.config = config
        self.settings = config.disk
        self.free, self.total = free, total
        self.limits = Limits.of(config.disk, total)
        self.samples: list[ev.DiskSample] = []
        self.cleanups: list[tuple[str, bool]] = []
        self.previews = 0

    # Engine hooks: the fake engine does not call them, a real one may.
    async def before_phase(self, engine, phase) -> None:
        return None

    async def before_build(self, engine, service: str) -> None:
        return None

    async def after_run(self, engine) -> None:
        return None

    async def sample(self, engine, reason: str) -> ev.DiskSample:
        sample = ev.DiskSample(
            path="/var/lib/docker",
            source="docker root dir",
            free=self.free,
            total=self.total,
            state=self.limits.state(self.free),
            warn_free=self.limits.warn,
            cleanup_free=self.limits.cleanup,
            critical_free=self.limits.critical,
            usage=(
                ev.DockerUsage(category="images", size=9 * GIB, reclaimable=3 * GIB, count=42),
                ev.DockerUsage(category="build cache", size=6 * GIB, reclaimable=6 * GIB),
            ),
            reason=reason,
            ts=0.0,
        )
        self.samples.append(sample)
        return sample

    async def preview(self, engine=None):
        from .disk import CleanupPreview, PreviewItem

        self.previews += 1
        return CleanupPreview(
            items=[
                PreviewItem("build-cache", "prune unused build cache, keep 2.0 GiB", size=6 * GIB),
                PreviewItem("old-project-images", "2 images", ["fks/api:old", "fks/web:old"], 2 * GIB),
            ],
            kept=["unpushed images of the last run"],
            free=self.free,
            target=self.limits.cleanup,
        )

    async def cleanup(self, engine, reason: str, force: bool = False) -> ev.CleanupFinished:
        self.cleanups.append((reason, force))
        before, self.free = self.free, self.free + 5 * GIB
        return ev.CleanupFinished(
            reason=reason,
            free_before=before,
            free_after=self.free,
            target=self.limits.cleanup,
            steps=(ev.CleanupStep(name="build-cache", freed=5 * GIB, reclaimed=6 * GIB, removed=12),),
            reached=True,
            duration=1.5,
            ts=0.0,
        )


class _suppress_os_error:
    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        return kind is not None and issubclass(kind, OSError)


# -- recording a real run -------------------------------------------------------------------------

_BROKEN_DOCKERFILE = """\
FROM fks/base:busybox
RUN --network=none for i in 1 2 3 4 5 6 7 8; do echo "Collecting broken-dep-$i"; done
RUN --network=none set -e; for i in $(seq 1 40); do echo "compiling module_$i.c"; done; \\
    echo "error: module_41.c:12: undefined reference to 'fks_init'"; exit 1
"""


BROKEN_SERVICE_TOML = """
[[service]]
name = "billing"
kind = "cpu"
dockerfile = "deployment/docker/broken/Dockerfile"
target = ""
inherit_watch = false
"""


def add_broken_service(config_path: Path) -> None:
    """Add the service `billing`, whose build fails at its last step, to a copy of the demo."""
    folder = config_path.parent / "examples" / "fks" / "deployment" / "docker" / "broken"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Dockerfile").write_text(_BROKEN_DOCKERFILE)
    with config_path.open("a", encoding="utf-8") as toml:
        toml.write(BROKEN_SERVICE_TOML)


def record(dest: Path, out: Path, registry: str) -> RunReport:
    """Run the demo (plus one service whose build fails) on the real daemon and save its events."""
    from .config import load_config
    from .engine import Engine, EngineOptions
    from .gitinfo import template_values
    from .plan import make_plan

    root = Path(__file__).resolve().parent.parent
    shutil.copytree(root / "examples" / "fks", dest / "examples" / "fks")
    dockerfile = dest / "examples" / "fks" / "deployment" / "docker" / "Dockerfile"
    # A fresh first RUN step makes the build cold, so the recording has real build output.
    text = dockerfile.read_text().replace(
        "FROM fks/base:busybox AS base\n",
        f"FROM fks/base:busybox AS base\nRUN --network=none echo 'recording {uuid.uuid4().hex}'\n",
        1,
    )
    dockerfile.write_text(text)
    toml = (
        (root / "services.toml")
        .read_text()
        .replace(
            'image = "127.0.0.1:5000/nuniesmith/fks"',
            f'image = "{registry}/fks-recording-{uuid.uuid4().hex[:6]}"',
        )
    )
    (dest / "services.toml").write_text(toml)
    add_broken_service(dest / "services.toml")
    config = load_config(dest / "services.toml")
    values = template_values(config.root)
    engine = Engine(config, EngineOptions(values=values))
    recorded: list[Event] = []

    async def run() -> None:
        async for event in engine.stream(make_plan(config, values=values)):
            recorded.append(event)

    asyncio.run(run())
    save_events(out, recorded)
    return engine.report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fks_tui.testing",
        description="record a real demo run's events for the dashboard tests",
    )
    parser.add_argument("out", type=Path, help="output .jsonl or .jsonl.gz")
    parser.add_argument("--workdir", type=Path, required=True, help="an empty directory to copy the demo to")
    parser.add_argument("--registry", default="127.0.0.1:5000")
    args = parser.parse_args(argv)
    report = record(args.workdir, args.out, args.registry)
    print(
        f"recorded {sum(1 for _ in load_events(args.out))} events to {args.out}; "
        f"{len(report.built)} built, {len(report.failed)} failed",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
