"""The dashboard: a Textual app that runs the engine in a worker and shows its events live."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.events import Resize
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Input, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from . import events as ev
from .config import Config, ConfigError, TemplateValues, load_config
from .disk import DiskGuard, size_text
from .engine import Engine, EngineOptions, RunHooks, latest_run_dir, push_pending
from .events import PlannedService
from .gitinfo import template_values
from .history import History, HistoryError, HistoryRecorder, sparkline
from .messages import (
    DiskCleaned,
    DiskSampled,
    DockerChecked,
    EngineEvent,
    EventPump,
    FilesChanged,
    LogBatch,
    ProgressTick,
    PushTick,
    RunEnded,
    RunPlanned,
    RunRequest,
    WatchProblem,
)
from .plan import PlanError, make_plan
from .preflight import check_docker
from .report import RunReport
from .watcher import ServicesChanged, ServiceWatcher
from .widgets.banner import Banner
from .widgets.cleanup_confirm import CleanupConfirm
from .widgets.confirm import ConfirmScreen
from .widgets.disk_panel import DiskPanel
from .widgets.disk_placeholder import DiskPlaceholder
from .widgets.failure_pane import Failure, FailureCard, FailurePane
from .widgets.help_screen import HelpScreen
from .widgets.live_log import LiveLog
from .widgets.log_viewer import LogViewerScreen
from .widgets.push_queue import PushQueue
from .widgets.service_table import ServiceRow, ServiceTable, format_elapsed
from .widgets.status_line import StatusInfo, StatusLine

STYLES = Path(__file__).resolve().parent / "styles"  # a link to the top-level styles/, packaged with it
CONFIG_FIX = "correct the file, then press ctrl+r to reload it (or run 'fks-tui check')"
# Log batches the app may have queued before the worker waits for it to catch up.
MAX_IN_FLIGHT = 16
# Below these sizes panes collapse (fewer columns, no borders); above WIDE the panes sit side by side.
COMPACT_WIDTH, COMPACT_HEIGHT, WIDE_WIDTH = 110, 32, 160
# Tables and the status line are redrawn at most this often (seconds), however fast events come.
REDRAW_INTERVAL = 0.2
# Durations in a row's history sparkline.
SPARK_BUILDS = 10
# Disk samples the guard keeps between runs (it appends one per interval; the panel keeps its own).
GUARD_SAMPLES_KEPT = 100

EngineFactory = Callable[[Config, EngineOptions], Engine]
PushRunner = Callable[..., Awaitable[object]]


def open_history(config: Config) -> History:
    return History.for_state_dir(config.state_dir)


def one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


class FksApp(App[int]):
    """fks-tui dashboard: CPU and GPU build queues, the live log, the push queue and failures."""

    TITLE = "fks-tui"
    CSS_PATH = [STYLES / "app.tcss"]
    BINDINGS = [
        Binding(
            "b",
            "build",
            "Build",
            tooltip="Build now: every due service, changed since its last build or saved (CPU, then GPU)",
        ),
        Binding(
            "w",
            "toggle_auto_build",
            "Auto-build",
            tooltip="Toggle auto-build (off at start): build saved services as soon as no run is busy",
        ),
        Binding("f", "toggle_force", "Force", tooltip="Toggle force-rebuild of the selected service"),
        Binding("F", "force_all", "Force all", show=False, tooltip="Toggle force-rebuild of every service"),
        Binding("g", "toggle_gpu", "GPU", tooltip="Toggle the GPU phase on or off"),
        Binding("c", "cancel_service", "Cancel", tooltip="Cancel the selected service's build"),
        Binding("C", "cancel_run", "Cancel run", show=False, tooltip="Cancel the whole run (asks first)"),
        Binding("r", "retry", "Retry", tooltip="Rebuild the services that failed"),
        Binding("p", "push", "Push", tooltip="Push what is built and not pushed yet"),
        Binding(
            "d",
            "disk_cleanup",
            "Disk",
            tooltip="Disk cleanup: shows what it would remove, asks, then cleans (unpushed images stay)",
        ),
        Binding("l", "focus_log", "Log", show=False, tooltip="Focus the live log of the selected service"),
        Binding(
            "a", "all_logs", "All logs", show=False, tooltip="Toggle the log of all services, interleaved"
        ),
        Binding("e", "failures", "Failures", tooltip="Show the failure pane (Enter opens the full log)"),
        Binding("u", "push_queue", "Push queue", show=False, tooltip="Show the push queue"),
        Binding("slash", "filter", "Filter", key_display="/", show=False, tooltip="Filter services by name"),
        Binding("j", "move(1)", "Down", show=False, tooltip="Move down (also ↓)"),
        Binding("k", "move(-1)", "Up", show=False, tooltip="Move up (also ↑)"),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="Show the keys"),
        Binding(
            "ctrl+r",
            "reload",
            "Reload config",
            show=False,
            tooltip="Reload services.toml and check Docker again",
        ),
        Binding("q", "quit", "Quit", tooltip="Quit (asks first while something runs; cancels builds)"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, tooltip="Quit"),
    ]

    def __init__(
        self,
        config_path: str | Path = "services.toml",
        *,
        engine_factory: EngineFactory | None = None,
        push_runner: PushRunner | None = None,
        docker_check: Callable[[], str | None] | None = check_docker,
        clock: Callable[[], float] = time.time,
        ticks: bool = True,
        force: Iterable[str] = (),
        force_all: bool = False,
        kinds: Iterable[str] = ("cpu", "gpu"),
        watcher_factory: Callable[[Config], ServiceWatcher] | None = ServiceWatcher,
        guard_factory: Callable[[Config], DiskGuard] | None = DiskGuard,
        history_factory: Callable[[Config], History] | None = open_history,
        auto_build: bool = False,
    ) -> None:
        super().__init__()
        self.config_path = Path(config_path)
        # The default engine runs with the disk guard's hooks (cleanup, pause at critical free space).
        self.engine_factory: EngineFactory = engine_factory or (
            lambda config, options: Engine(config, options, hooks=self.guard or RunHooks())
        )
        self.watcher_factory = watcher_factory
        self.guard_factory = guard_factory
        self.history_factory = history_factory
        self.watcher: ServiceWatcher | None = None
        self.guard: DiskGuard | None = None
        self.history: History | None = None
        self.disk_panel: DiskPanel | None = None
        self.auto_build = auto_build
        # service -> the saved file that made it due; dropped when the service's build starts.
        self.watch_due: dict[str, str] = {}
        # Saved services no run has taken yet: what auto-build starts a run for (once each).
        self.auto_queued: set[str] = set()
        self.push_runner: PushRunner = push_runner or push_pending
        self.docker_check = docker_check
        self.clock = clock
        self.ticks = ticks
        self.config: Config | None = None
        self.config_error: str | None = None
        self.docker_problem: str | None = None
        self.engine: Engine | None = None
        self.engine_worker: Worker | None = None
        self.pump: EventPump | None = None
        self.report = RunReport()
        self.rows: dict[str, ServiceRow] = {}
        self.forced: set[str] = set(force)
        self.force_all = force_all
        self.gpu_enabled = "gpu" in tuple(kinds)
        self.phase = "idle"
        self.running = False
        self.pushing = False
        self.run_started = 0.0
        self.run_dir: str = ""
        self.wall: float | None = None
        self.selected: str | None = None
        self.in_flight = 0
        self.events_seen = 0
        self.stopping = False
        self.cancel_requested = False
        self._redraw_pending = False
        # Extra consumers of every engine event (e.g. the disk widget's handle(event)).
        self.event_handlers: list[Callable[[ev.Event], object]] = []

    # -- layout
    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        yield Banner(id="banner")
        yield Input(placeholder="filter services by name (Esc clears)", id="filter")
        with Container(id="body"):
            with Vertical(id="tables"):
                yield ServiceTable("cpu", self.clock, id="cpu-table")
                yield ServiceTable("gpu", self.clock, id="gpu-table")
                with Container(id="disk-area"):
                    yield DiskPlaceholder()
            with TabbedContent(id="panes", initial="tab-log"):
                with TabPane("Log", id="tab-log"):
                    yield LiveLog(id="log")
                with TabPane("Push queue", id="tab-push"):
                    yield PushQueue(id="push-queue")
                with TabPane("Failures", id="tab-failures"):
                    yield FailurePane(id="failures")
        yield Footer()

    def on_mount(self) -> None:
        # Kept as attributes: handlers must reach the main screen's widgets while a modal is on top.
        self.cpu_table = self.query_one("#cpu-table", ServiceTable)
        self.gpu_table = self.query_one("#gpu-table", ServiceTable)
        self.live_log = self.query_one(LiveLog)
        self.push_queue = self.query_one(PushQueue)
        self.failure_pane = self.query_one(FailurePane)
        self.tabs = self.query_one(TabbedContent)
        self.status_line = self.query_one(StatusLine)
        self.banner = self.query_one(Banner)
        self.filter_box = self.query_one("#filter", Input)
        self.cpu_table.border_title = "CPU builds"
        self.gpu_table.border_title = "GPU builds"
        self.query_one("#disk-area").border_title = "Disk"
        self._apply_size(self.size.width, self.size.height)
        if self.guard_factory is not None:
            self.disk_panel = DiskPanel()
            self.mount_disk_widget(self.disk_panel)
        self.load()
        if self.ticks:
            self.set_interval(1.0, self._tick)
            self.set_interval(0.1, self._flush_pump)
        self.cpu_table.focus()

    def export_screenshot(self, *, title: str | None = None, simplify: bool = False) -> str:
        """The SVG with whitespace preserved: without it some renderers (librsvg) drop the space that
        starts a text run, gluing words together and shifting table cells by one column."""
        svg = super().export_screenshot(title=title, simplify=simplify)
        return svg.replace("<svg ", '<svg xml:space="preserve" ', 1)

    def on_resize(self, event: Resize) -> None:
        self._apply_size(event.size.width, event.size.height)

    def _apply_size(self, width: int, height: int) -> None:
        if not hasattr(self, "cpu_table"):
            return  # not mounted yet; on_mount applies the size
        compact = width < COMPACT_WIDTH or height < COMPACT_HEIGHT
        wide = width >= WIDE_WIDTH and not compact
        main = self.screen_stack[0]
        main.set_class(compact, "-compact")
        main.set_class(wide, "-wide")
        table_width = int(width * 0.6) if wide else width
        for table in (self.cpu_table, self.gpu_table):
            table.set_compact(compact, table_width)

    def mount_disk_widget(self, widget: Widget) -> None:
        """Put the disk widget in its bounded area (replacing the placeholder)."""
        area = self.screen_stack[0].query_one("#disk-area")
        area.query(DiskPlaceholder).remove()
        area.mount(widget)
        handle = getattr(widget, "handle", None)
        if callable(handle):
            self.event_handlers.append(handle)

    # -- config and preflight
    def load(self) -> None:
        banner = self.banner
        try:
            self.config = load_config(self.config_path)
            self.config_error = None
        except ConfigError as error:
            self.config, self.config_error = None, str(error)
        except OSError as error:
            self.config, self.config_error = None, f"{self.config_path}: {error.strerror or error}"
        banner.set_problem(
            "config", f"config error: {self.config_error}" if self.config_error else None, CONFIG_FIX
        )
        self.failure_pane.root = str(self.config.root) if self.config else ""
        if self.config is not None:
            self.rows = {
                s.name: ServiceRow(
                    s.name,
                    s.kind,
                    status="idle" if s.enabled else "skipped",
                    reason="" if s.enabled else "disabled",
                )
                for s in self.config.services
            }
            self.forced &= set(self.rows)
            for row in self.rows.values():
                row.forced = self.force_all or row.name in self.forced
            if self.docker_check is not None:
                self.check_docker_worker()
        else:
            self.rows = {}
        self._start_services(self.config)
        for table in (self.cpu_table, self.gpu_table):
            table.set_rows(list(self.rows.values()))
        self._refresh_status()

    def _start_services(self, config: Config | None) -> None:
        """(Re)open the history, the disk guard and the file watcher for a newly loaded config."""
        self._stop_services()
        self.watch_due = {n: p for n, p in self.watch_due.items() if n in self.rows}
        self.auto_queued &= set(self.watch_due)
        if config is None:
            return
        if self.history_factory is not None:
            try:
                self.history = self.history_factory(config)
            except HistoryError as error:
                self.notify(f"{error}; builds are not recorded", severity="warning", timeout=10)
        self._refresh_history()
        if self.guard_factory is not None:
            self.guard = self.guard_factory(config)
            self.sample_disk(self.guard)
        if self.watcher_factory is not None:
            try:
                self.watcher = self.watcher_factory(config)
            except OSError as error:
                self.notify(f"file watcher: {one_line(error)}", severity="warning")
            else:
                self.watch_files(self.watcher)
        for name, path in self.watch_due.items():
            self.mark_due(name, path)

    def _stop_services(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        self.workers.cancel_group(self, "watch")
        self.workers.cancel_group(self, "disk")
        self.guard = None
        if self.history is not None:
            self.history.close()
            self.history = None

    def on_unmount(self) -> None:
        self._stop_services()

    # -- file watcher and auto-build
    @work(exclusive=True, group="watch", exit_on_error=False)
    async def watch_files(self, watcher: ServiceWatcher) -> None:
        """Saves become FilesChanged messages (about 50-200 ms after the write)."""
        async for event in watcher.watch():
            if isinstance(event, ServicesChanged):
                self.post_message(FilesChanged(dict(event.services)))
            else:
                self.post_message(WatchProblem(event.message))

    def on_files_changed(self, message: FilesChanged) -> None:
        for name, path in message.services.items():
            if name in self.rows:
                self.mark_due(name, path)
                self.auto_queued.add(name)
        self._maybe_auto_build()
        self._refresh_all()

    def on_watch_problem(self, message: WatchProblem) -> None:
        self.notify(message.message, severity="warning")

    def mark_due(self, name: str, path: str) -> None:
        """The row says the service is due and which saved file made it so (a running build keeps its status)."""
        row = self.rows[name]
        self.watch_due[name] = path
        row.trigger = f"changed: {path}"
        if row.status not in ("queued", "building"):
            row.status, row.reason = "due", "file saved"

    def _maybe_auto_build(self) -> None:
        if (
            self.auto_build
            and self.auto_queued
            and not (self.running or self.pushing)
            and self.config is not None
            and not self.docker_problem
        ):
            self.start_run(trigger="watch")

    def action_toggle_auto_build(self) -> None:
        self.auto_build = not self.auto_build
        if self.watcher is None:
            self.notify("file watching is off (fix the config, then ctrl+r)", severity="warning")
        else:
            self.notify(
                f"auto-build {'on: saved services build when no run is busy' if self.auto_build else 'off'}"
            )
        self._maybe_auto_build()
        self._refresh_status()

    # -- history
    def _refresh_history(self) -> None:
        """Per row: sparkline of recent durations and the median (for the ETA and the slow mark)."""
        history = self.history
        if history is None:
            return
        try:
            for row in self.rows.values():
                row.spark = sparkline(history.durations(row.name, SPARK_BUILDS))
                row.median = history.median_duration(row.name, SPARK_BUILDS)
        except sqlite3.Error as error:
            self.notify(f"build history: {one_line(error)}", severity="warning")

    # -- disk
    @work(exclusive=True, group="disk", exit_on_error=False)
    async def sample_disk(self, guard: DiskGuard) -> None:
        """Samples between runs; during a run the guard samples itself and the samples come as events."""
        while True:
            if not self.running:
                self.post_message(DiskSampled(await guard.sample(None, "periodic")))
                del guard.samples[:-GUARD_SAMPLES_KEPT]
            await asyncio.sleep(guard.settings.interval)

    def on_disk_sampled(self, message: DiskSampled) -> None:
        if self.disk_panel is None:
            return
        if message.sample is None:
            self.disk_panel.show_unavailable("cannot read free space (is the Docker daemon up?)")
        else:
            self.disk_panel.update_sample(message.sample)

    @work(group="dialog", exit_on_error=False)
    async def action_disk_cleanup(self) -> None:
        guard = self.guard
        if guard is None:
            self.notify("disk monitoring is off (config error or disabled)", severity="warning")
            return
        try:
            preview = await guard.preview(self.engine if self.running else None)
        except Exception as error:  # whatever the daemon says becomes one line, not a crash
            self.notify(f"cannot preview the cleanup: {one_line(error)}", severity="error")
            return
        if not await self.push_screen_wait(CleanupConfirm(preview)):
            return
        # During a run the cleanup's events go through the engine's stream (and protect its images).
        engine = self.engine if self.running else None
        self.notify("disk cleanup running…")
        try:
            result = await guard.cleanup(engine, "manual (d)", force=True)
        except Exception as error:  # as above
            self.post_message(DiskCleaned(None, f"disk cleanup failed: {one_line(error)}"))
            return
        if engine is None:
            problem = "" if result is not None else "disk cleanup failed (is the Docker daemon up?)"
            self.post_message(DiskCleaned(result, problem))
            if guard.samples:
                self.post_message(DiskSampled(guard.samples[-1]))

    def on_disk_cleaned(self, message: DiskCleaned) -> None:
        result = message.result
        if result is None:
            self.notify(message.problem, severity="error")
            return
        if self.disk_panel is not None:
            self.disk_panel.update_cleanup(result)
        self.notify(f"disk cleanup freed {size_text(max(result.freed, 0))}")

    @work(thread=True, exclusive=True, group="preflight", exit_on_error=False)
    def check_docker_worker(self) -> None:
        assert self.docker_check is not None
        self.post_message(DockerChecked(self.docker_check()))

    def on_docker_checked(self, message: DockerChecked) -> None:
        self.docker_problem = message.problem
        self.banner.set_problem(
            "docker",
            f"Docker: {message.problem}" if message.problem else None,
            "start the daemon, then press ctrl+r to check again",
        )

    # -- starting runs
    def _make_plan(self, request: RunRequest, values: TemplateValues) -> list[PlannedService]:
        """The one place a plan is made (keyword arguments only: make_plan grows new ones).

        Runs in a thread (change detection may ask git), so it reports through call_from_thread.
        """
        assert self.config is not None
        saved = dict(request.watched)
        plan = make_plan(
            self.config,
            force=sorted(request.force | saved.keys()),
            force_all=request.force_all,
            kinds=request.kinds,
            values=values,
            history=self.history,
            warn=self._plan_warning,
        )
        # A saved service is due because of its file, not because someone forced it.
        plan = [
            dataclasses.replace(p, reason=f"changed: {saved[p.name]}")
            if p.due and p.name in saved and p.name not in request.force and p.reason == "forced"
            else p
            for p in plan
        ]
        if request.only is not None:
            left_out = "not saved" if request.trigger == "watch" else "not retried"
            plan = [
                p
                if p.name in request.only or not p.due
                else dataclasses.replace(p, due=False, reason=left_out)
                for p in plan
            ]
        return plan

    def _plan_warning(self, message: str) -> None:
        self.call_from_thread(self.notify, message, severity="warning")

    def start_run(self, only: set[str] | None = None, trigger: str = "manual") -> bool:
        """Plan and run; saved services are always due; a "watch" run builds only those."""
        if self.config is None:
            self.notify(f"cannot build: config error: {self.config_error}", severity="error")
            return False
        if self.running or self.pushing:
            self.notify("a run is in progress (C cancels it)", severity="warning")
            return False
        if self.docker_problem:
            self.notify(f"cannot build: {self.docker_problem}", severity="error")
            return False
        forced = frozenset(self.forced)
        if trigger == "watch":
            only = set(self.watch_due)
            forced &= only  # other force toggles wait for a build that includes them
        self.auto_queued.clear()  # this run takes them: auto-build waits for new saves
        request = RunRequest(
            force=forced,
            force_all=self.force_all and trigger != "watch",
            kinds=("cpu", "gpu") if self.gpu_enabled else ("cpu",),
            only=frozenset(only) if only is not None else None,
            trigger=trigger,
            watched=tuple(sorted(self.watch_due.items())),
        )
        self.engine, self.cancel_requested, self.stopping = None, False, False
        self.phase, self.wall, self.running, self.run_started = "planning", None, True, self.clock()
        self.engine_worker = self.run_engine(self.config, request)
        self._refresh_all()
        return True

    def on_run_planned(self, message: RunPlanned) -> None:
        """The plan is made and the engine about to start: consume force toggles, clear the panes."""
        if message.problem:
            self.notify(message.problem, severity="warning")
            # Say on each row why it is not built (e.g. "no changes since 1a2b3c4").
            for planned in message.plan:
                row = self.rows.get(planned.name)
                if row is not None and row.status in ("idle", "skipped"):
                    row.status, row.reason = "skipped", planned.reason
            self._refresh_all()
            return
        self.engine = message.engine
        if self.cancel_requested:
            self.engine.cancel()
            return
        self.forced -= message.request.force  # force toggles persist until a build uses them
        if message.request.force_all:
            self.force_all = False
        self.report = RunReport()
        for row in self.rows.values():
            row.forced = self.force_all or row.name in self.forced
            row.reset_for_run()
        self.live_log.reset()
        self.push_queue.reset()
        self.failure_pane.reset()
        self.phase = "queued"
        self._refresh_all()

    @work(exclusive=True, group="engine", exit_on_error=False)
    async def run_engine(self, config: Config, request: RunRequest) -> None:
        """Plan (in a thread), then consume the engine's stream, posting messages; never touches a widget."""
        engine = None
        try:
            try:
                values = await asyncio.to_thread(template_values, config.root)
                plan = await asyncio.to_thread(self._make_plan, request, values)
            except PlanError as error:
                self.post_message(RunPlanned(request, None, problem=str(error)))
                return
            if not any(p.due for p in plan):
                self.post_message(
                    RunPlanned(
                        request,
                        None,
                        plan=tuple(plan),
                        problem="nothing is due: no service changed since its last build (f or F forces a rebuild)",
                    )
                )
                return
            if self.stopping:
                return
            engine = self.engine_factory(config, EngineOptions(values=values, trigger=request.trigger))
            self.post_message(RunPlanned(request, engine))
            if self.cancel_requested:
                engine.cancel()
            pump = self.pump = EventPump(self._post_from_pump)
            # Recorded here, not in a message handler: the history is complete even if the app exits mid-run.
            recorder = HistoryRecorder(self.history) if self.history is not None else None
            try:
                async for event in engine.stream(plan):
                    if recorder is not None:
                        recorder.handle(event)
                    pump.feed(event)
                    if self.in_flight > MAX_IN_FLIGHT:
                        await self._wait_for_catch_up()
            finally:
                pump.flush()
                if recorder is not None and recorder.failed:
                    notice = ev.Notice(
                        level="warning", message=f"build history not recorded: {recorder.error}"
                    )
                    self.post_message(EngineEvent(notice))
        finally:
            self.post_message(RunEnded(cancelled=bool(getattr(engine, "cancelled", False))))

    async def _wait_for_catch_up(self) -> None:
        while self.in_flight > MAX_IN_FLIGHT // 2 and not self.stopping:
            await asyncio.sleep(0.002)

    def _post_from_pump(self, message) -> None:
        if isinstance(message, LogBatch):
            self.in_flight += 1
        self.post_message(message)

    def _flush_pump(self) -> None:
        if self.pump is not None and self.pump.pending:
            self.pump.flush()

    @work(exclusive=True, group="push", exit_on_error=False)
    async def run_push(self, config: Config, run_dir: Path) -> None:
        pump = self.pump = EventPump(self._post_from_pump)
        try:
            await self.push_runner(config, run_dir, emit=pump.feed)
        finally:
            pump.flush()
            self.post_message(RunEnded())

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker errors become visible: a failure card and a notification."""
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        name = {
            "engine": "build engine",
            "push": "push",
            "preflight": "Docker check",
            "watch": "file watcher",
            "disk": "disk monitor",
        }.get(event.worker.group, event.worker.name)
        message = f"{type(error).__name__}: {error}"
        self.failure_pane.add(Failure(service=f"({name})", step="", error=message, tail=()))
        self.notify(f"{name} stopped: {message}", severity="error")
        if event.worker.group in ("engine", "push"):
            self.post_message(RunEnded(cancelled=False))

    # -- engine messages
    def _row(self, name: str, kind: str = "cpu") -> ServiceRow:
        if name not in self.rows:
            self.rows[name] = ServiceRow(name, kind)
        return self.rows[name]

    def on_engine_event(self, message: EngineEvent) -> None:
        event = message.event
        self.events_seen += 1
        self.report.apply(event)
        for handle in self.event_handlers:
            handle(event)
        match event:
            case ev.RunStarted():
                self.run_started, self.run_dir = event.ts, event.run_dir
                for planned in event.services:
                    row = self._row(planned.name, planned.kind)
                    row.status = "queued" if planned.due else "skipped"
                    row.reason = planned.reason
            case ev.ServiceQueued() | ev.ServiceSkipped():
                row = self._row(event.service, event.kind)
                row.status = "queued" if isinstance(event, ev.ServiceQueued) else "skipped"
                row.reason = event.reason
            case ev.ServiceStarted():
                row = self._row(event.service, event.kind)
                row.status, row.started, row.log_path = "building", event.ts, event.log_path
                # This build takes the saved change: a save from now on marks the service due again.
                if self.watcher is not None:
                    self.watcher.clear(event.service)
                self.watch_due.pop(event.service, None)
                self.auto_queued.discard(event.service)
                row.trigger = ""
                if self.selected is None:
                    self._select(event.service)
            case ev.StepStarted() | ev.StepFailed():
                self._row(event.service).step = event.name
            case ev.ServiceFinished():
                self._finished(event)
            case ev.PhaseStarted():
                self.phase = event.phase.value
                if event.phase is ev.Phase.PUSH and self.tabs.active == "tab-log":
                    self.tabs.active = "tab-push"
            case ev.PushQueued():
                row = self.push_queue.row(event.service)
                row.tags, row.status = event.tags, "waiting"
            case ev.PushRetry():
                row = self.push_queue.row(event.service)
                row.attempts = event.attempt
                row.retry = f"retry {event.attempt} in {event.delay:.0f}s: {event.error}"
            case ev.PushFinished():
                row = self.push_queue.row(event.service)
                row.status = "pushed" if event.ok else "failed"
                row.digest, row.error, row.attempts, row.retry = event.digest, event.error, event.attempts, ""
            case ev.Notice():
                severity = {"warning": "warning", "error": "error"}.get(event.level, "information")
                self.notify(event.message, title=event.service or "fks-tui", severity=severity)
            case ev.RunFinished():
                self.wall = event.wall_time
                self.phase = "cancelled" if event.cancelled else "done"
        self._refresh_all()

    def _finished(self, event: ev.ServiceFinished) -> None:
        row = self._row(event.service, event.kind)
        status = event.status.value
        if status == "built" and event.steps_total and event.cached_steps >= event.steps_total:
            status = "cached"
        row.status, row.duration = status, event.duration
        if status == "built" and row.median is not None and row.is_slow(event.duration):
            row.note = f"slower than usual (usually {format_elapsed(row.median)})"
        row.steps_total, row.cached_steps = event.steps_total or row.steps_total, event.cached_steps
        row.steps_done = row.steps_total if status in ("built", "cached") else row.steps_done
        if event.log_path:
            row.log_path = event.log_path
        if event.status is ev.BuildStatus.FAILED:
            row.step = event.failed_step or row.step
            self.failure_pane.add(
                Failure(
                    service=event.service,
                    step=event.failed_step,
                    error=event.error,
                    tail=tuple(event.error_tail),
                    log_path=event.log_path or row.log_path,
                )
            )

    def on_progress_tick(self, message: ProgressTick) -> None:
        event = message.event
        row = self._row(event.service)
        row.steps_done, row.steps_total = event.steps_done, event.steps_total
        row.cached_steps, row.step = event.cached_steps, event.current_step or row.step
        self._refresh_all()

    def on_push_tick(self, message: PushTick) -> None:
        event = message.event
        queue = self.push_queue
        row = queue.row(event.service)
        if row.status == "waiting":
            row.status = "pushing"
        _, seen_current, seen_total = row.layers.get(event.layer, ("", 0, 0))
        # "Pushed" comes without byte counts: keep the layer's last known size.
        row.layers[event.layer] = (event.status, event.current or seen_current, event.total or seen_total)
        self._refresh_all()

    def on_log_batch(self, message: LogBatch) -> None:
        self.in_flight = max(0, self.in_flight - 1)
        self.live_log.add(message.service, message.lines)

    def on_run_ended(self, message: RunEnded) -> None:
        self.running = self.pushing = False
        self.pump = None
        self.in_flight = 0
        if self.phase == "planning":
            self.phase = "idle"  # nothing was due, or planning failed: no run happened
        elif self.phase not in ("done", "cancelled"):
            self.phase = "cancelled" if message.cancelled else "done"
        for name, path in self.watch_due.items():
            if name in self.rows:
                self.mark_due(name, path)  # saved during the run, or left out of it
        self._refresh_history()
        self._maybe_auto_build()
        self._refresh_all()

    # -- refreshing
    def _table_for(self, kind: str) -> ServiceTable:
        return self.gpu_table if kind == "gpu" else self.cpu_table

    def _refresh_all(self) -> None:
        """Redraw tables and the status line soon; many events in a burst cost one redraw."""
        if not self._redraw_pending:
            self._redraw_pending = True
            self.set_timer(REDRAW_INTERVAL, self._redraw)

    def _redraw(self) -> None:
        self._redraw_pending = False
        for table in (self.cpu_table, self.gpu_table):
            table.refresh_rows()
        self.push_queue.refresh_rows()
        self._refresh_status()

    def _tick(self) -> None:
        if self.running:
            self._refresh_all()

    def status_info(self) -> StatusInfo:
        counts: dict[str, dict[str, int]] = {}
        for row in self.rows.values():
            if row.status in ("skipped", "idle", "due"):
                continue
            counts.setdefault(row.kind, {}).setdefault(row.status, 0)
            counts[row.kind][row.status] += 1
        pushes = self.push_queue.rows_by_service.values()
        flags = []
        if not self.gpu_enabled:
            flags.append("GPU off")
        if self.force_all:
            flags.append("force all")
        elif self.forced:
            flags.append(f"{len(self.forced)} forced")
        filter_text = self.cpu_table.filter_text
        if filter_text:
            flags.append(f"filter: {filter_text}")
        if self.running:
            wall = max(0.0, self.clock() - self.run_started)
        else:
            wall = self.wall
        speedup = self.report.speedup if self.phase == "done" and self.report.speedup else None
        return StatusInfo(
            project=self.config.project.name if self.config else "",
            phase=self.phase,
            counts=counts,
            pushed=sum(p.status == "pushed" for p in pushes),
            to_push=len(pushes),
            wall=wall,
            speedup=speedup,
            flags=flags,
            due=len(self.watch_due),
            auto_build=self.auto_build,
            watching=self.watcher is not None,
        )

    def _refresh_status(self) -> None:
        self.status_line.show_info(self.status_info())

    # -- selection
    def _select(self, name: str | None) -> None:
        self.selected = name
        self.live_log.show(name)

    @on(DataTable.RowHighlighted, "ServiceTable")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value and event.data_table.has_focus:
            self._select(event.row_key.value)

    def on_descendant_focus(self, event) -> None:
        if isinstance(event.widget, ServiceTable) and event.widget.selected_name:
            self._select(event.widget.selected_name)

    # -- actions
    def action_build(self) -> None:
        self.start_run()

    def action_toggle_force(self) -> None:
        name = self.selected
        if name is None or name not in self.rows:
            self.notify("select a service first", severity="warning")
            return
        if name in self.forced:
            self.forced.discard(name)
        else:
            self.forced.add(name)
        self.rows[name].forced = name in self.forced or self.force_all
        self._refresh_all()

    def action_force_all(self) -> None:
        self.force_all = not self.force_all
        for row in self.rows.values():
            row.forced = self.force_all or row.name in self.forced
        self._refresh_all()

    def action_toggle_gpu(self) -> None:
        self.gpu_enabled = not self.gpu_enabled
        if not self.gpu_enabled and self.running and self.engine is not None:
            # The GPU phase has not started yet: drop its queued builds from this run too.
            for row in self.rows.values():
                if row.kind == "gpu" and row.status == "queued":
                    self.engine.cancel_service(row.name)
        self.notify(f"GPU phase {'on' if self.gpu_enabled else 'off'}")
        self._refresh_status()

    def action_cancel_service(self) -> None:
        name = self.selected
        if not self.running or self.engine is None or name is None:
            self.notify("no build of the selected service is running", severity="warning")
            return
        row = self.rows.get(name)
        if row is None or row.status not in ("queued", "building"):
            self.notify(f"{name} is not queued or building", severity="warning")
            return
        self.engine.cancel_service(name)
        self.notify(f"cancelling {name}")

    @work(group="dialog")
    async def action_cancel_run(self) -> None:
        if not self.running:
            self.notify("nothing is running", severity="warning")
            return
        if await self.push_screen_wait(ConfirmScreen("Cancel the whole run?", yes="Cancel run")):
            self.cancel_engine()

    def cancel_engine(self) -> None:
        if not self.running:
            return
        self.cancel_requested = True  # still planning: the engine is cancelled as soon as it exists
        if self.engine is not None:
            self.engine.cancel()
        self.phase = "cancelling"
        self._refresh_status()

    def action_retry(self) -> None:
        failed = {r.name for r in self.rows.values() if r.status in ("failed", "cancelled")}
        if not failed:
            self.notify("no failed builds to retry", severity="warning")
            return
        self.start_run(only=failed)

    def action_push(self) -> None:
        if self.config is None:
            self.notify(f"cannot push: config error: {self.config_error}", severity="error")
            return
        if self.running or self.pushing:
            self.notify("a run is in progress; it pushes when its builds are done", severity="warning")
            return
        run_dir = Path(self.run_dir) if self.run_dir else latest_run_dir(self.config)
        if run_dir is None or not (run_dir / "run.json").is_file():
            self.notify("nothing built yet: press b to build", severity="warning")
            return
        pending = [s for s in RunReport.load(run_dir / "run.json").built if s.needs_push]
        if not pending:
            self.notify("everything built is pushed")
            return
        self.pushing, self.phase = True, "push"
        self.tabs.active = "tab-push"
        self.run_push(self.config, run_dir)
        self._refresh_status()

    def action_focus_log(self) -> None:
        self.tabs.active = "tab-log"
        self.live_log.focus()

    def action_all_logs(self) -> None:
        log = self.live_log
        log.set_all(not log.all_services)
        self.tabs.active = "tab-log"

    def action_failures(self) -> None:
        self.tabs.active = "tab-failures"
        self.failure_pane.focus_first()

    def action_push_queue(self) -> None:
        self.tabs.active = "tab-push"

    def action_filter(self) -> None:
        box = self.filter_box
        box.add_class("-shown")
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        for table in (self.cpu_table, self.gpu_table):
            table.set_filter(event.value)
        self._refresh_status()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.filter_box.remove_class("-shown")
        self.cpu_table.focus()

    def on_key(self, event) -> None:
        box = self.filter_box
        if event.key == "escape" and box.has_focus:
            box.value = ""
            box.remove_class("-shown")
            self.cpu_table.focus()
            event.stop()

    def action_move(self, delta: int) -> None:
        focused = self.focused
        if isinstance(focused, LiveLog):
            focused.scroll_relative(y=delta, animate=False)
            return
        cpu, gpu = self._table_for("cpu"), self._table_for("gpu")
        if not isinstance(focused, ServiceTable):
            cpu.focus()
            return
        if delta > 0 and focused is cpu and focused.cursor_row >= focused.row_count - 1 and gpu.row_count:
            gpu.focus()
            gpu.move_cursor(row=0)
        elif delta < 0 and focused is gpu and focused.cursor_row <= 0 and cpu.row_count:
            cpu.focus()
            cpu.move_cursor(row=cpu.row_count - 1)
        elif delta > 0:
            focused.action_cursor_down()
        else:
            focused.action_cursor_up()

    def action_help(self) -> None:
        self.push_screen(HelpScreen([b for b in self.BINDINGS if isinstance(b, Binding)]))

    def action_reload(self) -> None:
        if self.running or self.pushing:
            self.notify("reload after the run", severity="warning")
            return
        self.load()

    @on(FailureCard.OpenLog)
    def _open_log(self, message: FailureCard.OpenLog) -> None:
        if message.log_path:
            self.push_screen(LogViewerScreen(message.service, message.log_path))
        else:
            self.notify("this failure has no log file", severity="warning")

    @work(group="dialog")
    async def action_quit(self) -> None:
        if self.running or self.pushing:
            if not await self.push_screen_wait(
                ConfirmScreen("Builds are running. Cancel them and quit?", yes="Cancel and quit")
            ):
                return
        await self.shutdown_engine()
        self._stop_services()
        self.exit(0)

    async def shutdown_engine(self, timeout: float = 20.0) -> None:
        """Cancel the run and wait for the worker, so no buildx process outlives the app."""
        worker = self.engine_worker
        self.stopping = self.cancel_requested = True
        if self.engine is not None:
            self.engine.cancel()
        if worker is not None and worker.is_running:
            try:
                await asyncio.wait_for(worker.wait(), timeout)
            except Exception:  # timed out or the worker failed: cancelling it still closes the stream
                worker.cancel()


def make_app(config_path: str | Path, **kwargs) -> FksApp:
    """Build the dashboard (tests pass a fake engine factory, a docker check and a fixed clock)."""
    return FksApp(config_path, **kwargs)
