"""Disk monitor, threshold-driven cleanup and the engine hook that keeps builds off a full disk."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import humanize
import requests

from .config import Config, DiskSettings
from .engine import Engine, RunHooks, latest_run_dir
from .events import (
    BuildsPaused,
    BuildsResumed,
    CleanupFinished,
    CleanupStarted,
    CleanupStep,
    DiskSample,
    DockerUsage,
    Notice,
    Phase,
)
from .preflight import docker_host
from .report import RunReport
from .runner import LABEL_PROJECT, LABEL_RUN, LABEL_SERVICE

OK, WARN, CLEANUP, CRITICAL, UNKNOWN = "ok", "warn", "cleanup", "critical", "unknown"
# Cleanup steps, from least to most costly to undo.
STEP_BUILD_CACHE = "build-cache"
STEP_DANGLING = "dangling-images"
STEP_CONTAINERS = "stopped-containers"
STEP_PROJECT_IMAGES = "old-project-images"
STEPS = (STEP_BUILD_CACHE, STEP_DANGLING, STEP_CONTAINERS, STEP_PROJECT_IMAGES)
_DOCKER_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)


def size_text(value: int) -> str:
    """A byte count for people ("1.2 GiB"); "?" when unknown (negative)."""
    return "?" if value < 0 else humanize.naturalsize(value, binary=True, format="%.1f")


@dataclass(frozen=True, slots=True)
class Limits:
    """The thresholds of [disk] resolved to bytes for one filesystem size."""

    warn: int
    cleanup: int
    critical: int

    @classmethod
    def of(cls, settings: DiskSettings, total: int) -> Limits:
        total = max(total, 0)
        return cls(
            settings.warn_free.resolve(total),
            settings.cleanup_free.resolve(total),
            settings.critical_free.resolve(total),
        )

    def state(self, free: int) -> str:
        if free < 0:
            return UNKNOWN
        if free < self.critical:
            return CRITICAL
        if free < self.cleanup:
            return CLEANUP
        if free < self.warn:
            return WARN
        return OK


def _unique_size(image: dict) -> int:
    """Bytes only this image holds (the daemon's Size minus SharedSize; SharedSize is -1 when not computed)."""
    return max(int(image.get("Size") or 0) - max(int(image.get("SharedSize") or 0), 0), 0)


def _is_local_daemon(host: str) -> bool:
    return host.startswith(("unix://", "npipe://")) or host.startswith("/")


def usage_from_df(df: dict[str, Any]) -> tuple[DockerUsage, ...]:
    """Docker's usage by category from the daemon's /system/df answer, reclaimable included."""
    images = df.get("Images") or []
    layers = int(df.get("LayersSize") or 0)
    in_use = sum(_unique_size(i) for i in images if (i.get("Containers") or 0) > 0)
    cache = [c for c in (df.get("BuildCache") or []) if not c.get("Shared")]
    cache_size = sum(int(c.get("Size") or 0) for c in cache)
    cache_free = sum(int(c.get("Size") or 0) for c in cache if not c.get("InUse"))
    containers = df.get("Containers") or []
    container_size = sum(int(c.get("SizeRw") or 0) for c in containers)
    container_free = sum(int(c.get("SizeRw") or 0) for c in containers if c.get("State") != "running")
    volumes = df.get("Volumes") or []

    def volume_size(v: dict) -> int:
        return max(int((v.get("UsageData") or {}).get("Size") or 0), 0)

    volume_total = sum(volume_size(v) for v in volumes)
    volume_free = sum(volume_size(v) for v in volumes if (v.get("UsageData") or {}).get("RefCount", 1) == 0)
    return (
        DockerUsage(category="images", size=layers, reclaimable=max(layers - in_use, 0), count=len(images)),
        DockerUsage(category="build cache", size=cache_size, reclaimable=cache_free, count=len(cache)),
        DockerUsage(
            category="containers", size=container_size, reclaimable=container_free, count=len(containers)
        ),
        DockerUsage(category="volumes", size=volume_total, reclaimable=volume_free, count=len(volumes)),
    )


class DiskMonitor:
    """Samples free/total space where Docker keeps its data, and Docker's own usage by category."""

    def __init__(self, settings: DiskSettings, client: docker.DockerClient | None = None) -> None:
        self.settings = settings
        self._client = client
        self._location: tuple[Path | None, str] | None = None

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker.from_env(timeout=60)
        return self._client

    def locate(self) -> tuple[Path | None, str]:
        """The monitored path and where it came from; (None, "daemon df") for a remote daemon."""
        if self._location is None:
            if self.settings.path is not None:
                self._location = (self.settings.path, "config path")
            else:
                root = Path(self.client.info().get("DockerRootDir") or "")
                if _is_local_daemon(docker_host()) and str(root) not in ("", ".") and root.exists():
                    self._location = (root, "docker root dir")
                else:
                    self._location = (None, "daemon df")
        return self._location

    def free_total(self) -> tuple[int, int]:
        """(free, total) bytes of the monitored filesystem; (-1, -1) when it cannot be seen from here."""
        path, _ = self.locate()
        if path is None:
            return -1, -1
        stat = os.statvfs(path)
        # f_bavail: what an unprivileged writer (the daemon's files) can still use.
        return stat.f_bavail * stat.f_frsize, stat.f_blocks * stat.f_frsize

    def limits(self, total: int | None = None) -> Limits:
        if total is None:
            total = self.free_total()[1]
        return Limits.of(self.settings, total)

    def usage(self) -> tuple[DockerUsage, ...]:
        return usage_from_df(self.client.df())

    def sample(self, reason: str = "periodic", with_usage: bool = True) -> DiskSample:
        path, source = self.locate()
        free, total = self.free_total()
        usage = self.usage() if with_usage else ()
        if path is None:
            # Remote daemon: Docker's usage is all we can see; total is what Docker holds.
            total = sum(u.size for u in usage)
        limits = self.limits(total)
        return DiskSample(
            path=str(path or docker_host()),
            source=source,
            free=free,
            total=total,
            state=limits.state(free),
            warn_free=limits.warn,
            cleanup_free=limits.cleanup,
            critical_free=limits.critical,
            usage=usage,
            reason=reason,
        )


@dataclass
class PreviewItem:
    step: str
    summary: str
    names: list[str] = field(default_factory=list)
    size: int = 0


@dataclass
class CleanupPreview:
    """What a cleanup would remove, step by step, and what it would keep and why."""

    items: list[PreviewItem]
    kept: list[str]
    free: int
    target: int

    def text(self, limit: int = 8) -> str:
        lines = [f"Free {size_text(self.free)}; cleanup stops once above {size_text(self.target)}."]
        for number, item in enumerate(self.items, start=1):
            lines.append(f"{number}. {item.step}: {item.summary}")
            lines += [f"     {name}" for name in item.names[:limit]]
            if len(item.names) > limit:
                lines.append(f"     ... and {len(item.names) - limit} more")
        if self.kept:
            lines.append("Kept: " + "; ".join(self.kept))
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Protection:
    """What cleanup must never remove: images of this run not yet pushed (by id and by run label)."""

    image_ids: frozenset[str] = frozenset()
    run_id: str = ""

    def protects(self, image: dict) -> bool:
        labels = image.get("Labels") or {}
        return image.get("Id") in self.image_ids or bool(self.run_id and labels.get(LABEL_RUN) == self.run_id)


def _tags(image: dict) -> list[str]:
    """The image's real tags (the daemon lists "<none>:<none>" for an untagged one)."""
    return [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]


def _dangling(image: dict) -> bool:
    return not _tags(image)


class Cleaner:
    """Runs the cleanup steps in order, stopping once free space is back above cleanup_free."""

    def __init__(
        self, settings: DiskSettings, project: str, monitor: DiskMonitor, repository: str = ""
    ) -> None:
        self.settings = settings
        self.project = project
        self.monitor = monitor
        # Old images are only ever removed from this repository (the project's image), whatever else
        # carries the project's label.
        self.repository = repository

    @property
    def client(self) -> docker.DockerClient:
        return self.monitor.client

    # -- what is there
    def _running_image_ids(self) -> set[str]:
        return {c.get("ImageID", "") for c in self.client.api.containers(filters={"status": "running"})}

    def _project_images(self, images: list[dict]) -> list[dict]:
        def in_repository(image: dict) -> bool:
            return not self.repository or any(
                t.rsplit(":", 1)[0] == self.repository for t in image.get("RepoTags") or []
            )

        return [
            i
            for i in images
            if (i.get("Labels") or {}).get(LABEL_PROJECT) == self.project and in_repository(i)
        ]

    def old_project_images(
        self, images: list[dict], protection: Protection, running: set[str]
    ) -> tuple[list[dict], list[str]]:
        """Images of this project older than the newest pushed one of their service; and why others stay."""
        by_service: dict[str, list[dict]] = {}
        for image in self._project_images(images):
            by_service.setdefault((image.get("Labels") or {}).get(LABEL_SERVICE, ""), []).append(image)
        removable, kept = [], []
        for service, group in sorted(by_service.items()):
            pushed = [i for i in group if i.get("RepoDigests")]
            if not pushed:
                continue
            newest = max(_age_key(i) for i in pushed)
            for image in group:
                if _age_key(image) >= newest:
                    continue
                name = _image_name(image)
                if protection.protects(image):
                    kept.append(f"{name} ({service}: built in this run, not pushed)")
                elif image.get("Id") in running:
                    kept.append(f"{name} ({service}: a running container uses it)")
                else:
                    removable.append(image)
        return removable, kept

    def preview(self, protection: Protection = Protection()) -> CleanupPreview:
        """What run(force=True) would remove now (the confirmation shown before a manual cleanup)."""
        df = self.client.df()
        free, total = self.monitor.free_total()
        target = self.monitor.limits(total).cleanup
        usage = {u.category: u for u in usage_from_df(df)}
        cache = usage["build cache"]
        cache_cut = max(min(cache.reclaimable, cache.size - self.settings.keep_build_cache), 0)
        images = df.get("Images") or []
        running = self._running_image_ids()
        dangling = [
            i for i in images if _dangling(i) and not i.get("Containers") and not protection.protects(i)
        ]
        stopped = self.client.api.containers(
            all=True,
            filters={"label": f"{LABEL_PROJECT}={self.project}", "status": ["exited", "created", "dead"]},
        )
        old, kept = self.old_project_images(images, protection, running)
        dangling_size, old_size = sum(map(_unique_size, dangling)), sum(map(_unique_size, old))
        items = [
            PreviewItem(
                STEP_BUILD_CACHE,
                f"prune build cache {size_text(cache.size)} down to "
                f"{size_text(self.settings.keep_build_cache)} (about {size_text(cache_cut)}, oldest first)",
                size=cache_cut,
            ),
            PreviewItem(
                STEP_DANGLING,
                f"{len(dangling)} dangling images, {size_text(dangling_size)}",
                [i["Id"][7:19] for i in dangling],
                dangling_size,
            ),
            PreviewItem(
                STEP_CONTAINERS,
                f"{len(stopped)} stopped containers of project {self.project}",
                [(c.get("Names") or ["?"])[0].lstrip("/") for c in stopped],
            ),
            PreviewItem(
                STEP_PROJECT_IMAGES,
                f"{len(old)} images of {self.project} older than the newest pushed "
                f"one of their service, {size_text(old_size)}",
                [_image_name(i) for i in old],
                old_size,
            ),
        ]
        return CleanupPreview(items, kept, free, target)

    # -- doing it
    def run(
        self,
        reason: str,
        protection: Protection = Protection(),
        force: bool = False,
        on_step: Callable[[CleanupStep], None] | None = None,
    ) -> CleanupFinished:
        """Blocking. force: every step even when free space is already above cleanup_free."""
        started = time.monotonic()
        free_before, total = self.monitor.free_total()
        target = self.monitor.limits(total).cleanup
        free = free_before
        steps: list[CleanupStep] = []
        for name in STEPS:
            # Unknown free space (remote daemon): nothing to stop on, every step runs.
            if not force and free >= 0 and free > target:
                break
            try:
                step = self._step(name, protection, free)
            except _DOCKER_ERRORS as error:
                step = CleanupStep(name=name, freed=0, reclaimed=0, error=_one_line(error))
            steps.append(step)
            if on_step is not None:
                on_step(step)
            free = self.monitor.free_total()[0]
        return CleanupFinished(
            reason=reason,
            free_before=free_before,
            free_after=free,
            target=target,
            steps=tuple(steps),
            reached=free < 0 or free > target,
            duration=time.monotonic() - started,
        )

    def _step(self, name: str, protection: Protection, free_before: int) -> CleanupStep:
        api = self.client.api
        removed = kept = reclaimed = 0
        detail = ""
        if name == STEP_BUILD_CACHE:
            result = api.prune_builds(keep_storage=self.settings.keep_build_cache, all=True)
            reclaimed = int(result.get("SpaceReclaimed") or 0)
            removed = len(result.get("CachesDeleted") or [])
            detail = f"kept up to {size_text(self.settings.keep_build_cache)}"
        elif name == STEP_DANGLING:
            prune_filters: dict[str, Any] = {"dangling": True}
            if protection.run_id:
                prune_filters["label!"] = [f"{LABEL_RUN}={protection.run_id}"]
            # The image list takes no "label!" filter: protection is checked here, and again by the prune.
            candidates = api.images(filters={"dangling": True})
            kept = sum(1 for i in candidates if protection.protects(i))
            if kept:
                reclaimed, removed = self._remove_images(
                    [i for i in candidates if not protection.protects(i)]
                )
            else:
                result = api.prune_images(filters=prune_filters)
                reclaimed = int(result.get("SpaceReclaimed") or 0)
                # ImagesDeleted also lists layers: count the images.
                deleted = {d.get("Deleted") for d in result.get("ImagesDeleted") or []}
                removed = sum(1 for i in candidates if i.get("Id") in deleted)
        elif name == STEP_CONTAINERS:
            result = api.prune_containers(filters={"label": [f"{LABEL_PROJECT}={self.project}"]})
            reclaimed = int(result.get("SpaceReclaimed") or 0)
            removed = len(result.get("ContainersDeleted") or [])
            detail = f"label {LABEL_PROJECT}={self.project}"
        elif name == STEP_PROJECT_IMAGES:
            images = self.client.df().get("Images") or []
            old, kept_names = self.old_project_images(images, protection, self._running_image_ids())
            kept = len(kept_names)
            reclaimed, removed = self._remove_images(old)
            detail = "; ".join(kept_names)
        # Unknown free space (remote daemon): only the daemon's figure means anything.
        freed = self.monitor.free_total()[0] - free_before if free_before >= 0 else 0
        return CleanupStep(
            name=name, freed=freed, reclaimed=reclaimed, removed=removed, kept=kept, detail=detail
        )

    def _remove_images(self, images: Iterable[dict]) -> tuple[int, int]:
        """Remove images without force (a container still using one makes the daemon refuse).

        Returns (bytes, count); the bytes are the daemon's unique size of each image removed.
        """
        reclaimed = removed = 0
        api = self.client.api
        for image in images:
            try:
                # Untag one by one: removing by id refuses images with several tags unless forced.
                for ref in _tags(image) or [image["Id"]]:
                    api.remove_image(ref, noprune=False)
            except docker.errors.APIError:
                continue
            reclaimed += _unique_size(image)
            removed += 1
        return reclaimed, removed


def _age_key(image: dict) -> str:
    """When an image was built, as a sortable string.

    The run id (a local timestamp) of fks-tui's label, not Created: BuildKit sets Created to the time
    the last layer was first built, so a rebuild from cache looks as old as the first build.
    """
    run = (image.get("Labels") or {}).get(LABEL_RUN)
    return run or time.strftime("%Y%m%d-%H%M%S", time.localtime(int(image.get("Created") or 0)))


def _image_name(image: dict) -> str:
    tags = _tags(image)
    return ", ".join(tags) if tags else str(image.get("Id", ""))[7:19]


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def protection_for(engine: Engine | None, config: Config | None = None) -> Protection:
    """Images built and not yet pushed: of the engine's run, else (between runs) of the last recorded run."""
    if engine is not None:
        report, run_id = engine.report, engine.run_id
    else:
        run_dir = latest_run_dir(config) if config is not None else None
        try:
            report = RunReport.load(run_dir / "run.json") if run_dir is not None else None
        except (OSError, ValueError, TypeError):
            report = None
        if report is None:
            return Protection()
        run_id = report.run_id
    ids = frozenset(s.image_id for s in report.services.values() if s.needs_push and s.image_id)
    return Protection(ids, run_id)


class DiskGuard(RunHooks):
    """Engine hooks: cleanup before phases and after the run, and no new builds while disk is critical."""

    def __init__(
        self,
        config: Config,
        monitor: DiskMonitor | None = None,
        poll: float | None = None,
        retry_cleanup_every: float = 60.0,
    ) -> None:
        self.config = config
        self.settings = config.disk
        self.monitor = monitor or DiskMonitor(config.disk)
        self.cleaner = Cleaner(config.disk, config.project.name, self.monitor, config.project.image)
        self.poll = poll if poll is not None else min(1.0, self.settings.interval)
        self.retry_cleanup_every = retry_cleanup_every
        self.samples: list[DiskSample] = []
        self.cleanups: list[CleanupFinished] = []
        self._lock: asyncio.Lock | None = None
        self._sampler: asyncio.Task | None = None
        self._started = False
        self._failed = False
        self._last_cleanup_end = 0.0

    # -- hooks
    async def before_phase(self, engine: Engine, phase: Phase) -> None:
        if not self._started:
            self._started = True
            sample = await self.sample(engine, "start")
            if sample is not None:
                self._sampler = asyncio.create_task(self._sample_loop(engine))
        if phase is Phase.PUSH or not self.settings.cleanup_before_build:
            return
        sample = await self.sample(engine, "periodic")
        if sample is not None and sample.state in (CLEANUP, CRITICAL):
            await self.cleanup(engine, f"before the {phase.value} phase")

    async def before_build(self, engine: Engine, service: str) -> None:
        sample = await self.sample(engine, "periodic")
        if sample is None or sample.state != CRITICAL:
            return
        waited_from = time.monotonic()
        engine.emit(
            BuildsPaused(
                service=service,
                free=sample.free,
                critical_free=sample.critical_free,
                resume_at=sample.cleanup_free,
            )
        )
        last_cleanup = 0.0
        while not engine.cancelled:
            if time.monotonic() - last_cleanup >= self.retry_cleanup_every:
                await self.cleanup(engine, f"free space below critical before building {service}")
                last_cleanup = time.monotonic()
            free, total = await asyncio.to_thread(self.monitor.free_total)
            if free > self.monitor.limits(total).cleanup:
                break
            await asyncio.sleep(self.poll)
        free = (await asyncio.to_thread(self.monitor.free_total))[0]
        engine.emit(BuildsResumed(service=service, free=free, waited=time.monotonic() - waited_from))

    async def after_run(self, engine: Engine) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
            self._sampler = None
        if not self._started:
            return
        # The dashboard keeps one guard for many runs: the next run samples at its start again.
        self._started = False
        if self.settings.cleanup_after_build:
            sample = await self.sample(engine, "periodic")
            if sample is not None and sample.state in (CLEANUP, CRITICAL):
                await self.cleanup(engine, "after the run")
        await self.sample(engine, "end")

    # -- helpers
    async def sample(self, engine: Engine | None, reason: str) -> DiskSample | None:
        """Take and emit a sample; None (after one warning) when the daemon or path cannot be read."""
        try:
            sample = await asyncio.to_thread(self.monitor.sample, reason)
        except (*_DOCKER_ERRORS, OSError) as error:
            if not self._failed and engine is not None:
                engine.emit(Notice(level="warning", message=f"disk monitor: {_one_line(error)}"))
            self._failed = True
            return None
        self.samples.append(sample)
        if engine is not None:
            engine.emit(sample)
        return sample

    async def cleanup(
        self, engine: Engine | None, reason: str, force: bool = False
    ) -> CleanupFinished | None:
        """One cleanup at a time; a caller that waited for another's cleanup does not repeat it."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        asked = time.monotonic()
        async with self._lock:
            if not force and self.cleanups and self._last_cleanup_end >= asked:
                return self.cleanups[-1]
            free, total = await asyncio.to_thread(self.monitor.free_total)
            if engine is not None:
                engine.emit(
                    CleanupStarted(reason=reason, free=free, target=self.monitor.limits(total).cleanup)
                )
            try:
                protection = protection_for(engine, self.config)
                result = await asyncio.to_thread(self.cleaner.run, reason, protection, force)
            except (*_DOCKER_ERRORS, OSError) as error:
                if engine is not None:
                    engine.emit(Notice(level="warning", message=f"disk cleanup failed: {_one_line(error)}"))
                return None
            self._last_cleanup_end = time.monotonic()
            self.cleanups.append(result)
            if engine is not None:
                engine.emit(result)
        await self.sample(engine, "cleanup")
        return result

    async def preview(self, engine: Engine | None = None) -> CleanupPreview:
        """What a forced cleanup would remove now (for the dashboard's confirmation)."""
        return await asyncio.to_thread(self.cleaner.preview, protection_for(engine, self.config))

    async def _sample_loop(self, engine: Engine) -> None:
        """Periodic samples (the sparkline); a fall below cleanup_free starts a cleanup."""
        previous = self.samples[-1].state if self.samples else OK
        while not engine.cancelled:
            await asyncio.sleep(self.settings.interval)
            sample = await self.sample(engine, "periodic")
            if sample is None:
                continue
            crossed = previous in (OK, WARN) and sample.state in (CLEANUP, CRITICAL)
            previous = sample.state
            if crossed:
                await self.cleanup(engine, "free space fell below cleanup_free during the run")


def describe_cleanup(result: CleanupFinished) -> list[str]:
    """One line per step plus a summary, for the headless log and the report."""
    lines = []
    for step in result.steps:
        on_disk = size_text(step.freed) if step.freed >= 0 else "-" + size_text(-step.freed)
        line = (
            f"  {step.name:<19} freed {on_disk} on disk, daemon reclaimed {size_text(step.reclaimed)}, "
            f"removed {step.removed}"
        )
        if step.kept:
            line += f", kept {step.kept}"
        if step.error:
            line += f", error: {step.error}"
        lines.append(line)
    outcome = "back above" if result.reached else "still below"
    lines.append(
        f"  free {size_text(result.free_before)} -> {size_text(result.free_after)}, {outcome} "
        f"{size_text(result.target)} after {len(result.steps)} step(s) in {result.duration:.1f}s"
    )
    return lines


_STATE_STYLE = {OK: "ok", WARN: "warn", CLEANUP: "warn", CRITICAL: "fail", UNKNOWN: "dim"}


def sample_lines(sample: DiskSample) -> list[str]:
    """The figures of a sample as two lines: free space and thresholds, then Docker's usage."""
    if sample.free >= 0:
        share = f" ({100 * sample.free / sample.total:.0f}%)" if sample.total > 0 else ""
        head = (
            f"free {size_text(sample.free)} of {size_text(sample.total)}{share} at {sample.path} "
            f"({sample.source}): {sample.state}; warn below {size_text(sample.warn_free)}, cleanup below "
            f"{size_text(sample.cleanup_free)}, critical below {size_text(sample.critical_free)}"
        )
    else:
        head = f"free space unknown ({sample.source} of {sample.path}); set [disk] path to watch a filesystem"
    usage = ", ".join(
        f"{u.category} {size_text(u.size)} ({size_text(u.reclaimable)} reclaimable)" for u in sample.usage
    )
    return [head, f"docker: {usage}"] if usage else [head]


def disk_lines(event: object) -> list[tuple[str, str]]:
    """Headless lines (text, style) for the disk events; periodic samples print nothing."""
    match event:
        case DiskSample(reason="start" | "end"):
            label = "at start" if event.reason == "start" else "at end"
            head, *rest = sample_lines(event)
            return [
                (f"{label}: {head}", _STATE_STYLE.get(event.state, "")),
                *((line, "dim") for line in rest),
            ]
        case CleanupStarted():
            return [
                (
                    f"cleanup ({event.reason}): free {size_text(event.free)}, "
                    f"target above {size_text(event.target)}",
                    "warn",
                )
            ]
        case CleanupFinished():
            return [(line, "") for line in describe_cleanup(event)]
        case BuildsPaused():
            return [
                (
                    f"{event.service}: waiting, free {size_text(event.free)} is below critical "
                    f"{size_text(event.critical_free)}; resumes above {size_text(event.resume_at)}",
                    "fail",
                )
            ]
        case BuildsResumed():
            return [
                (f"{event.service}: resumed after {event.waited:.1f}s, free {size_text(event.free)}", "ok")
            ]
    return []
