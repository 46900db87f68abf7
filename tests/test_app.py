"""Dashboard behaviour driven by keys against a recorded engine stream (no Docker needed)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.message import Message

from fks_tui import events as ev
from fks_tui.app import FksApp, make_app
from fks_tui.messages import EngineEvent, LogBatch, ProgressTick
from fks_tui.testing import FakeEngine, add_broken_service
from fks_tui.widgets.banner import Banner
from fks_tui.widgets.confirm import ConfirmScreen
from fks_tui.widgets.failure_pane import FailureCard, FailurePane
from fks_tui.widgets.help_screen import HelpScreen
from fks_tui.widgets.live_log import LiveLog
from fks_tui.widgets.log_viewer import LogViewerScreen
from fks_tui.widgets.push_queue import PushQueue
from fks_tui.widgets.service_table import ServiceTable

from .conftest import make_demo_repo, wait_for

# Unit tests replay a recording: no real file watcher or disk guard unless a test asks for one.
NO_WATCH_NO_DISK = {"watcher_factory": None, "guard_factory": None}


@pytest.fixture
def demo_config(tmp_path: Path) -> Path:
    config = make_demo_repo(tmp_path / "repo", "127.0.0.1:5000/fks-app-test")
    add_broken_service(config)
    return config


def fake_app(config: Path, events: list[ev.Event], app_options=None, **fake) -> tuple[FksApp, object]:
    """The app on a replayed run; no file watcher or disk guard unless app_options asks for them."""
    factory = FakeEngine.factory(events, **fake)
    options = {**NO_WATCH_NO_DISK, **(app_options or {})}
    return make_app(config, engine_factory=factory, docker_check=lambda: None, **options), factory


async def test_recorded_run_fills_tables_push_queue_and_failures(demo_config, recorded):
    seen: list[Message] = []
    app, _ = fake_app(demo_config, recorded)
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await pilot.press("b")
        await wait_for(pilot, lambda: app.phase == "done" and not app.running)
        statuses = {name: row.status for name, row in app.rows.items()}
        assert statuses["billing"] == "failed"
        assert {statuses[n] for n in ("api", "worker", "data", "web", "ninja-api", "nginx")} == {"built"}
        assert statuses["training"] == statuses["transformer"] == "built"
        cpu = app.query_one("#cpu-table", ServiceTable)
        assert cpu.visible_rows()[0].name == "billing"  # failed rows come before built ones
        pushes = app.query_one(PushQueue).rows_by_service
        assert len(pushes) == 8 and all(p.status == "pushed" and p.digest for p in pushes.values())
        cards = list(app.query(FailureCard))
        assert [c.failure.service for c in cards] == ["billing"]
        assert "undefined reference" in cards[0].failure.tail[-1]
        info = app.status_info()
        assert info.phase == "done" and info.speedup and info.speedup > 1.5
    log_events = sum(isinstance(e, ev.LogLines) for e in recorded)
    batches = [m for m in seen if isinstance(m, LogBatch)]
    assert batches and len(batches) < log_events  # lines are merged, never one message per line
    assert sum(len(b.lines) for b in batches) == sum(
        len(e.lines) for e in recorded if isinstance(e, ev.LogLines)
    )
    assert any(isinstance(m, ProgressTick) for m in seen)
    assert any(isinstance(m, EngineEvent) and isinstance(m.event, ev.RunFinished) for m in seen)


async def test_running_rows_first_and_gpu_queued_mid_build(demo_config, recorded):
    t0 = recorded[0].ts
    app, factory = fake_app(demo_config, recorded, hold=lambda e: e.ts > t0 + 4)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("b")
        await factory.made[0].held.wait()
        await pilot.pause(0.1)
        order = [r.status for r in app.query_one("#cpu-table", ServiceTable).visible_rows()]
        assert order[0] == "building" and order.index("building") < order.index("failed")
        assert [r.status for r in app.query_one("#gpu-table", ServiceTable).visible_rows()] == ["queued"] * 2
        assert app.phase == "cpu"
        await pilot.press("question_mark")  # a modal on top must not stop the run from landing
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        factory.made[0].release()
        await wait_for(pilot, lambda: not app.running)
        assert app.rows["transformer"].status == "built"
        assert len(app.live_log.tails) == 9


async def test_force_toggle_shows_in_row_and_is_used_by_next_build(demo_config, recorded):
    app, factory = fake_app(demo_config, recorded)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        cpu = app.query_one("#cpu-table", ServiceTable)
        cpu.focus()
        await pilot.press("j")
        selected = app.selected
        assert selected == "worker"
        await pilot.press("f")
        assert app.rows[selected].forced
        await wait_for(pilot, lambda: "⚑" in str(cpu.get_cell(selected, "name")))
        await pilot.press("f")
        assert not app.rows[selected].forced
        await pilot.press("f", "b")
        await wait_for(pilot, lambda: factory.made and factory.made[0].plans)
        await pilot.pause(0.05)
        plan = {p.name: p for p in factory.made[0].plans[0]}
        assert plan[selected].reason == "forced" and plan[selected].due
        assert not app.rows[selected].forced and not app.forced  # consumed by this build
        await wait_for(pilot, lambda: not app.running)
        await pilot.press("F")
        assert all(r.forced for r in app.rows.values()) and app.force_all


async def test_gpu_toggle_leaves_gpu_out_of_the_plan(demo_config, recorded):
    app, factory = fake_app(demo_config, recorded)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("g", "b")
        await wait_for(pilot, lambda: not app.running)
        plan = {p.name: p for p in factory.made[0].plans[0]}
        assert not plan["training"].due and not plan["transformer"].due and plan["api"].due
        assert app.rows["training"].status == "skipped"
        assert "GPU off" in app.status_info().flags


async def test_cancel_selected_then_cancel_run_with_confirm(demo_config, recorded):
    t0 = recorded[0].ts
    app, factory = fake_app(demo_config, recorded, hold=lambda e: e.ts > t0 + 3)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("b")
        engine = factory.made[0]
        await engine.held.wait()
        await pilot.pause(0.1)
        app.query_one("#cpu-table", ServiceTable).focus()
        await pilot.pause()
        target = app.selected
        assert app.rows[target].status == "building"
        await pilot.press("c")
        assert target in engine._cancelled_services
        await pilot.press("C")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await pilot.pause()
        assert not engine.cancelled
        await pilot.press("C")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.running)
        assert engine.cancelled and app.phase == "cancelled"
        assert app.rows[target].status == "cancelled"
        assert app.rows["training"].status == "cancelled"


async def test_retry_rebuilds_only_failed_services(demo_config, recorded):
    app, factory = fake_app(demo_config, recorded)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("r")  # nothing failed yet: a warning, no run
        await pilot.pause(0.1)
        assert not factory.made
        await pilot.press("b")
        await wait_for(pilot, lambda: not app.running)
        await pilot.press("r")
        await wait_for(pilot, lambda: len(factory.made) == 2 and not app.running)
        due = [p.name for p in factory.made[1].plans[0] if p.due]
        assert due == ["billing"]
        assert app.rows["billing"].status == "failed" and app.rows["api"].status == "skipped"


async def test_push_now_runs_the_pusher_on_the_last_run(tmp_path, recorded):
    config = make_demo_repo(tmp_path / "repo", "127.0.0.1:5000/fks-app-test", extra_toml="")
    config.write_text(config.read_text().replace('push = "batch"', 'push = "off"'))
    add_broken_service(config)
    calls = []

    async def fake_push(cfg, run_dir, emit):
        calls.append(run_dir)
        emit(ev.PushQueued(service="api", tags=("x:api",)))
        emit(
            ev.PushProgress(
                service="api", tag="x:api", layer="abc", status="Pushing", current=512, total=2048
            )
        )
        await asyncio.sleep(0.05)
        emit(ev.PushFinished(service="api", tags=("x:api",), ok=False, error="registry down", attempts=4))

    factory = FakeEngine.factory(recorded)
    app = make_app(
        config, engine_factory=factory, push_runner=fake_push, docker_check=lambda: None, **NO_WATCH_NO_DISK
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("b")
        await wait_for(pilot, lambda: not app.running)
        assert not app.query_one(PushQueue).rows_by_service  # push = "off": nothing pushed by the run
        await pilot.press("p")
        await wait_for(pilot, lambda: calls and not app.pushing)
        assert calls == [factory.made[0].run_dir]
        row = app.query_one(PushQueue).rows_by_service["api"]
        assert row.status == "failed" and row.attempts == 4 and row.error == "registry down"
        assert row.bytes_total == 2048


async def test_quit_asks_while_running_and_cancels_the_engine(demo_config, recorded):
    t0 = recorded[0].ts
    app, factory = fake_app(demo_config, recorded, hold=lambda e: e.ts > t0 + 3)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("b")
        await factory.made[0].held.wait()
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running and app.running
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.is_running)
    assert factory.made[0].cancelled
    assert not app.engine_worker.is_running


async def test_quit_when_idle_needs_no_confirmation(demo_config, recorded):
    app, _ = fake_app(demo_config, recorded)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)


async def test_broken_config_opens_with_a_banner(tmp_path, recorded):
    config = tmp_path / "services.toml"
    config.write_text('[project]\nname = "x"\nimage = "r/x"\nbogus = 1\n')
    app, factory = fake_app(config, recorded)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        banner = app.query_one(Banner)
        assert banner.has_class("-shown")
        text = str(banner.render())
        assert "config error" in text and "services.toml" in text and "fix:" in text
        await pilot.press("b")  # refuses politely, no run, no crash
        await pilot.pause()
        assert not factory.made and app.is_running


async def test_missing_config_and_unreachable_daemon_banners(tmp_path, demo_config, recorded):
    app = make_app(tmp_path / "nope.toml", docker_check=lambda: None)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert "nope.toml" in str(app.query_one(Banner).render())
    problem = "cannot reach the Docker daemon at unix:///x.sock: start one with 'scripts/stack up'"
    factory = FakeEngine.factory(recorded)
    app = make_app(demo_config, engine_factory=factory, docker_check=lambda: problem, **NO_WATCH_NO_DISK)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.docker_problem is not None)
        assert problem in str(app.query_one(Banner).render())
        await pilot.press("b")
        await pilot.pause()
        assert not factory.made


async def test_filter_by_name(demo_config, recorded):
    app, _ = fake_app(demo_config, recorded)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("slash", "a", "p", "i")
        cpu = app.query_one("#cpu-table", ServiceTable)
        assert [r.name for r in cpu.visible_rows()] == ["api", "ninja-api"]
        assert app.query_one("#gpu-table", ServiceTable).row_count == 0
        await pilot.press("escape")
        assert cpu.row_count == 7


async def test_log_follows_selection_and_all_services_toggle(demo_config, recorded):
    app, _ = fake_app(demo_config, recorded)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("b")
        await wait_for(pilot, lambda: not app.running)
        log = app.query_one(LiveLog)
        app.query_one("#gpu-table", ServiceTable).focus()
        await pilot.pause()
        assert log.service in ("training", "transformer")
        assert log.lines and not any("│ " in line for line in log.lines[:5])
        await pilot.press("a")
        assert log.all_services
        prefixes = {line.split("│")[0].strip() for line in log.lines}
        assert {"api", "billing", "training"} <= prefixes
        await pilot.press("l")
        assert app.focused is log


async def test_failure_pane_enter_opens_the_full_log(demo_config, recorded):
    app, factory = fake_app(demo_config, recorded)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("b")
        await wait_for(pilot, lambda: not app.running)
        await pilot.press("e")
        assert isinstance(app.focused, FailureCard)
        assert app.query_one(FailurePane).failures[0].log_path.endswith("billing.log")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, LogViewerScreen))
        lines = app.screen.query_one("#full-log").lines
        assert any("undefined reference" in line for line in lines)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, LogViewerScreen))


async def test_help_lists_every_key_with_its_description(demo_config, recorded):
    app, _ = fake_app(demo_config, recorded)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        for key in "bfFgcCrplae":
            assert any(b.key == key and b.tooltip for b in app.screen.key_bindings)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen))


async def test_engine_crash_lands_in_the_failure_pane(demo_config):
    class Exploding:
        cancelled = False

        def __init__(self, config, options):
            self.report = None

        async def stream(self, plan):
            yield ev.RunStarted(
                run_id="x", run_dir="", config_path="", git_sha="", services=tuple(plan), push_mode="off"
            )
            raise RuntimeError("daemon went away")

        def cancel(self):
            self.cancelled = True

    app = make_app(demo_config, engine_factory=Exploding, docker_check=lambda: None, **NO_WATCH_NO_DISK)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("b")
        await wait_for(pilot, lambda: not app.running)
        failures = app.query_one(FailurePane).failures
        assert failures and "daemon went away" in failures[0].error
        assert app.is_running


def test_cli_opens_the_dashboard_without_a_command(monkeypatch, tmp_path):
    from fks_tui import cli

    opened = []

    def fake_run(self):
        opened.append((self.config_path, sorted(self.forced), self.gpu_enabled))
        return 0

    monkeypatch.setattr(FksApp, "run", fake_run)
    assert cli.main(["--config", str(tmp_path / "a.toml")]) == 0
    assert cli.main(["dashboard", "--config", str(tmp_path / "b.toml")]) == 0
    assert cli.main(["build", "--config", str(tmp_path / "c.toml"), "--force", "api", "--kinds", "cpu"]) == 0
    assert opened == [
        (tmp_path / "a.toml", [], True),
        (tmp_path / "b.toml", [], True),
        (tmp_path / "c.toml", ["api"], False),
    ]


async def test_banner_says_what_fks_tui_check_says(tmp_path, capsys, recorded):
    from fks_tui import cli

    config = tmp_path / "services.toml"
    config.write_text('[project]\nname = "x"\nimage = "r/x"\nbogus = 1\n')
    assert cli.main(["check", "--config", str(config), "--no-docker"]) == 2
    message = capsys.readouterr().err.strip().removeprefix("fks-tui: config error: ")
    app, _ = fake_app(config, recorded)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert message and message in str(app.banner.render()).replace("\n", " ")


async def test_disk_area_takes_a_widget_and_feeds_it_events(demo_config, recorded):
    from textual.widgets import Static

    class Probe(Static):
        def __init__(self):
            super().__init__("probe", id="probe")
            self.seen = []

        def handle(self, event):
            self.seen.append(type(event).__name__)
            return True

    app, _ = fake_app(demo_config, recorded)
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.query_one("#disk-area").query("#disk-placeholder")
        probe = Probe()
        app.mount_disk_widget(probe)
        await pilot.pause()
        assert not app.query_one("#disk-area").query("#disk-placeholder")
        assert probe.parent is app.query_one("#disk-area")
        await pilot.press("b")
        await wait_for(pilot, lambda: not app.running)
        assert "RunStarted" in probe.seen and "RunFinished" in probe.seen


async def test_nothing_due_starts_no_engine(demo_config, recorded):
    app, factory = fake_app(demo_config, recorded)
    async with app.run_test(size=(120, 40)) as pilot:
        app.gpu_enabled = False
        app.start_run(only=set())  # a retry of nothing: every service ends up not due
        await wait_for(pilot, lambda: not app.running)
        assert not factory.made and app.phase == "idle"


async def test_nothing_due_says_why_on_every_row(demo_config, recorded):
    messages = []
    app, factory = fake_app(demo_config, recorded)
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        app.start_run(only=set())  # a retry of nothing: every service ends up not due
        await wait_for(pilot, lambda: not app.running)
        planned = next(m for m in messages if type(m).__name__ == "RunPlanned")
        assert planned.problem.startswith("nothing is due") and len(planned.plan) == len(app.rows)
        assert {row.status for row in app.rows.values()} == {"skipped"}
        assert {row.reason for row in app.rows.values()} == {"not retried"}
