"""Runs one `docker buildx build --load` per service as its own process group and reports events."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .config import Service, TemplateValues
from .events import (
    BuildProgress,
    BuildStatus,
    Event,
    LogLines,
    ServiceFinished,
    ServiceStarted,
    StepFailed,
    StepFinished,
    StepStarted,
)
from .rawjson import RawJsonDecoder, StepTracker, StepUpdate

LABEL_PROJECT = "fks-tui.project"
LABEL_SERVICE = "fks-tui.service"
LABEL_RUN = "fks-tui.run"
# How long buildx gets to cancel its solve after SIGTERM before the group is killed.
TERM_GRACE = 3.0
_READ_SIZE = 64 * 1024


def build_argv(
    service: Service,
    values: TemplateValues,
    metadata_file: Path,
    iid_file: Path,
    labels: dict[str, str],
) -> list[str]:
    """The buildx command for a service, as an argv list (never a shell string)."""
    argv = ["docker", "buildx", "build", "--progress=rawjson", "--load"]
    if service.builder:
        argv += ["--builder", service.builder]
    argv += ["--metadata-file", str(metadata_file), "--iidfile", str(iid_file)]
    argv += ["--file", str(service.dockerfile)]
    if service.target:
        argv += ["--target", service.target]
    if service.network and service.network != "default":
        argv += ["--network", service.network]
    for key, value in service.build_args(values).items():
        argv += ["--build-arg", f"{key}={value}"]
    for key, value in labels.items():
        argv += ["--label", f"{key}={value}"]
    for tag in service.tags(values):
        argv += ["--tag", tag]
    argv.append(str(service.context))
    return argv


@dataclass
class BuildJob:
    """One service's build in this run; cancel() ends its whole process group."""

    service: Service
    values: TemplateValues
    run_id: str
    run_dir: Path
    project: str
    emit: Callable[[Event], None]
    process: asyncio.subprocess.Process | None = None
    cancelled: bool = False

    @property
    def log_path(self) -> Path:
        return self.run_dir / f"{self.service.name}.log"

    def cancel(self) -> None:
        self.cancelled = True
        process = self.process
        if process is not None and process.returncode is None:
            _signal_group(process.pid, signal.SIGTERM)
            # buildx normally cancels its solve and exits at once; make sure it does.
            asyncio.get_running_loop().call_later(TERM_GRACE, self._kill_if_running, process)

    @staticmethod
    def _kill_if_running(process: asyncio.subprocess.Process) -> None:
        if process.returncode is None:
            _signal_group(process.pid, signal.SIGKILL)

    async def run(self) -> ServiceFinished:
        service = self.service
        work = self.run_dir / "meta"
        work.mkdir(parents=True, exist_ok=True)
        metadata_file = work / f"{service.name}.metadata.json"
        iid_file = work / f"{service.name}.iid"
        labels = {LABEL_PROJECT: self.project, LABEL_SERVICE: service.name, LABEL_RUN: self.run_id}
        argv = build_argv(service, self.values, metadata_file, iid_file, labels)
        tracker = StepTracker()
        started = time.monotonic()
        self.emit(
            ServiceStarted(
                service=service.name, kind=service.kind, argv=tuple(argv), log_path=str(self.log_path)
            )
        )
        if self.cancelled:
            return self._finished(BuildStatus.CANCELLED, started, tracker, error="cancelled before start")
        with self.log_path.open("w", encoding="utf-8") as log:
            log.write("$ " + " ".join(argv) + "\n")
            try:
                self.process = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    start_new_session=True,  # own process group: cancel reaches every child
                )
            except OSError as error:
                message = f"cannot start docker: {error.strerror or error}"
                log.write(message + "\n")
                return self._finished(BuildStatus.FAILED, started, tracker, error=message)
            try:
                await asyncio.gather(
                    self._pump(self.process.stderr, tracker, log, raw=True),
                    self._pump(self.process.stdout, tracker, log, raw=False),
                )
                returncode = await self.process.wait()
            except asyncio.CancelledError:
                await self._terminate()
                raise
            finally:
                if self.process.returncode is None:
                    await self._terminate()
            log.write(f"exit status {returncode}\n")
        if self.cancelled:
            return self._finished(BuildStatus.CANCELLED, started, tracker, error="cancelled")
        if returncode != 0:
            return self._finished(
                BuildStatus.FAILED, started, tracker, error=_error_summary(tracker, returncode)
            )
        image_id = iid_file.read_text().strip() if iid_file.exists() else ""
        return self._finished(BuildStatus.BUILT, started, tracker, image_id=image_id)

    async def _pump(self, stream: asyncio.StreamReader | None, tracker: StepTracker, log, raw: bool) -> None:
        if stream is None:
            return
        decoder = RawJsonDecoder()
        name = self.service.name
        last_progress: tuple = ()
        while True:
            chunk = await stream.read(_READ_SIZE)
            items = decoder.feed(chunk) if chunk else decoder.close()
            updates: list[StepUpdate] = []
            lines: list[str] = []
            if raw:
                for item in items:
                    tracker.feed(item, updates, lines)
                if not chunk:
                    # Only the status stream's end: the other pipe may close while this one still
                    # has the rest of a partial line buffered.
                    tracker.flush(lines)
            else:
                lines.extend(item if isinstance(item, str) else str(item) for item in items)
            for update in updates:
                self.emit(_step_event(name, update))
            if lines:
                log.write("\n".join(lines) + "\n")
                self.emit(LogLines(service=name, lines=tuple(lines)))
            if raw:
                progress = (
                    tracker.steps_done,
                    tracker.steps_total,
                    tracker.cached_steps,
                    tracker.current_step,
                )
                if progress != last_progress:
                    last_progress = progress
                    self.emit(
                        BuildProgress(
                            service=name,
                            steps_done=progress[0],
                            steps_total=progress[1],
                            cached_steps=progress[2],
                            current_step=progress[3],
                        )
                    )
            if not chunk:
                log.flush()
                return

    async def _terminate(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        _signal_group(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), TERM_GRACE)
        except TimeoutError:
            _signal_group(process.pid, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), TERM_GRACE)

    def _finished(
        self, status: BuildStatus, started: float, tracker: StepTracker, image_id: str = "", error: str = ""
    ) -> ServiceFinished:
        failed = tracker.failed_vertex() if status is BuildStatus.FAILED else None
        tail: tuple[str, ...] = ()
        if failed is not None:
            tail = tuple(failed.tail) or tuple(tracker.text_tail)
        elif status is BuildStatus.FAILED:
            tail = tuple(tracker.text_tail)
        return ServiceFinished(
            service=self.service.name,
            kind=self.service.kind,
            status=status,
            duration=time.monotonic() - started,
            image_id=image_id,
            tags=self.service.tags(self.values) if status is BuildStatus.BUILT else (),
            steps_total=tracker.steps_total,
            cached_steps=tracker.cached_steps,
            error=error,
            failed_step=failed.name if failed else "",
            error_tail=tail,
            log_path=str(self.log_path),
        )


def _step_event(service: str, update: StepUpdate) -> Event:
    if update.kind == "started":
        return StepStarted(service=service, step_id=update.digest, name=update.name)
    if update.kind == "failed":
        return StepFailed(service=service, step_id=update.digest, name=update.name, error=update.error)
    return StepFinished(
        service=service,
        step_id=update.digest,
        name=update.name,
        cached=update.kind == "cached",
        duration=update.duration,
    )


def _error_summary(tracker: StepTracker, returncode: int) -> str:
    """The one line that says why a build failed: buildx's ERROR line, else the failing step's error."""
    for line in reversed(tracker.text_tail):
        if line.startswith("ERROR:"):
            return line[len("ERROR:") :].strip()
    failed = tracker.failed_vertex()
    if failed is not None:
        return failed.error
    for line in reversed(tracker.text_tail):
        if line.strip():
            return line.strip()
    return f"docker buildx exited with status {returncode}"


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
