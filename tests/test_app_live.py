"""The dashboard's live parts: file watcher and auto-build on real file writes, disk cleanup, build history."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
from textual.message import Message

from fks_tui import events as ev
from fks_tui.app import FksApp, make_app
from fks_tui.history import History, sparkline
from fks_tui.messages import DiskCleaned, FilesChanged
from fks_tui.testing import FakeDiskGuard, FakeEngine, add_broken_service, seed_history
from fks_tui.widgets.cleanup_confirm import CleanupConfirm
from fks_tui.widgets.disk_panel import DiskPanel
from fks_tui.widgets.service_table import ServiceTable

from .conftest import make_demo_repo, wait_for

SERVICES = "examples/fks/src/python/services"


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    config = make_demo_repo(tmp_path / "repo", "127.0.0.1:5000/fks-live-test")
    add_broken_service(config)
    return config


def step_cell(app: FksApp, name: str) -> str:
    table = app.query_one("#gpu-table" if app.rows[name].kind == "gpu" else "#cpu-table", ServiceTable)
    return str(table.get_cell(name, "step"))


async def test_saved_file_marks_due_then_auto_build_builds_only_saved_services(tmp_path, recorded):
    # The plain demo: its services watch their own folders (the extra "billing" would watch everything).
    demo = make_demo_repo(tmp_path / "repo", "127.0.0.1:5000/fks-live-test")
    seen: list[Message] = []
    factory = FakeEngine.factory(recorded)
    app = make_app(demo, engine_factory=factory, docker_check=lambda: None, guard_factory=None)
    repo = demo.parent
    async with app.run_test(size=(120, 36), message_hook=seen.append) as pilot:
        await wait_for(pilot, lambda: app.watcher is not None and app.watcher.ready.is_set(), 5)
        assert not app.auto_build and "auto-build off" in str(app.status_line.render())

        # Auto-build off: the save marks the row (status and file) quickly and builds nothing.
        started = time.monotonic()
        (repo / SERVICES / "api/main.py").write_text("print('saved')\n")
        await wait_for(pilot, lambda: "api/main.py" in step_cell(app, "api"), 3)
        latency = time.monotonic() - started
        assert latency < 1.0, f"{latency * 1000:.0f} ms"
        assert step_cell(app, "api") == "changed: src/python/services/api/main.py"
        assert app.rows["api"].status == "due" and app.status_info().due == 1
        assert [m.services for m in seen if isinstance(m, FilesChanged)] == [
            {"api": "src/python/services/api/main.py"}
        ]
        await pilot.pause(0.3)
        assert not factory.made and not app.running

        # w: auto-build on, and the service saved meanwhile builds at once, alone.
        await pilot.press("w")
        assert app.auto_build and "auto-build on" in str(app.status_line.render())
        await wait_for(pilot, lambda: len(factory.made) == 1 and not app.running)
        plan = {p.name: p for p in factory.made[0].plans[0]}
        assert plan["api"].due and plan["api"].reason == "changed: src/python/services/api/main.py"
        assert not plan["worker"].due and plan["worker"].reason == "not saved"
        assert app.rows["api"].status == "built" and app.rows["api"].trigger == ""
        assert "api" not in app.watcher.pending and not app.watch_due

        # Idle with auto-build on: the next save starts a run by itself.
        (repo / SERVICES / "worker/main.py").write_text("print('saved too')\n")
        await wait_for(pilot, lambda: len(factory.made) == 2 and not app.running, 5)
        assert [p.name for p in factory.made[1].plans[0] if p.due] == ["worker"]

        # w again: off; a save only marks the row, and b builds it with what change detection finds.
        await pilot.press("w")
        (repo / SERVICES / "web/main.py").write_text("print('saved, built by hand')\n")
        await wait_for(pilot, lambda: app.rows["web"].status == "due", 3)
        await pilot.pause(0.3)
        assert len(factory.made) == 2
        await pilot.press("b")
        await wait_for(pilot, lambda: len(factory.made) == 3 and not app.running)
        plan = {p.name: p for p in factory.made[2].plans[0]}
        assert plan["web"].due and plan["web"].reason == "changed: src/python/services/web/main.py"
        assert app.rows["web"].status == "built" and not app.watch_due

        # The history knows which runs the watcher started.
        assert sorted(r.trigger for r in app.history.runs()) == ["manual", "watch", "watch"]
    assert app.watcher is None and app.history is None  # stopped and closed on exit


async def test_auto_build_waits_for_the_running_build_then_builds_the_save(demo, recorded):
    t0 = recorded[0].ts
    factory = FakeEngine.factory(recorded, hold=lambda e: e.ts > t0 + 3)
    app = make_app(
        demo,
        engine_factory=factory,
        docker_check=lambda: None,
        guard_factory=None,
        watcher_factory=None,
        auto_build=True,
    )
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("b")
        await wait_for(pilot, lambda: factory.made and factory.made[0].held.is_set())
        await pilot.pause(0.1)
        assert app.rows["api"].status == "building"
        # A save of a service that is building: its row keeps building, the save waits for the next run.
        app.post_message(FilesChanged({"api": "src/python/services/api/routes.py"}))
        await pilot.pause(0.1)
        assert app.rows["api"].status == "building" and len(factory.made) == 1
        factory.made[0].release()
        await wait_for(pilot, lambda: len(factory.made) == 2 and factory.made[1].held.is_set())
        second = factory.made[1]
        second.release()  # the factory's engines all hold at the same point
        await wait_for(pilot, lambda: not app.running)
        assert [p.name for p in second.plans[0] if p.due] == ["api"]
        assert app.rows["api"].status == "built" and not app.auto_queued
        await pilot.pause(0.3)
        assert len(factory.made) == 2  # one save, one extra run


async def test_disk_panel_samples_and_d_confirms_before_cleanup(demo, recorded):
    guards: list[FakeDiskGuard] = []

    def make_guard(config):
        guards.append(FakeDiskGuard(config))
        return guards[-1]

    seen: list[Message] = []
    app = make_app(
        demo,
        engine_factory=FakeEngine.factory(recorded),
        docker_check=lambda: None,
        guard_factory=make_guard,
        watcher_factory=None,
    )
    async with app.run_test(size=(120, 36), message_hook=seen.append) as pilot:
        panel = app.query_one("#disk-area").query_one(DiskPanel)
        assert not app.query("#disk-placeholder")
        await wait_for(pilot, lambda: panel.sample is not None)
        assert "41.0 GiB free of 120.0 GiB" in str(panel.query_one("#disk-free").render())
        guard = guards[0]

        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, CleanupConfirm))
        assert "old-project-images" in str(app.screen.query_one("#cleanup-text").render())
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, CleanupConfirm))
        await pilot.pause(0.1)
        assert guard.previews == 1 and guard.cleanups == []

        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, CleanupConfirm))
        await pilot.press("y")
        await wait_for(pilot, lambda: panel.cleanup is not None)
        assert guard.cleanups == [("manual (d)", True)]
        assert "cleanup freed 5.0 GiB" in str(panel.query_one("#disk-free").render())
        assert any(isinstance(m, DiskCleaned) for m in seen)


async def test_history_sparkline_eta_and_slower_than_usual(demo, recorded):
    config_dir = demo.parent
    with History.for_state_dir(config_dir / ".fks") as history:
        seed_history(history, recorded, factors=(1.0, 1.5, 0.5))
        api_durations = history.durations("api")
        median = history.median_duration("api")
    assert len(api_durations) == 3 and median == pytest.approx(7.487, abs=0.01)

    # This run: api takes 3x its usual time; the clock stands 2 s after api started.
    t0 = recorded[0].ts
    slow = [
        dataclasses.replace(e, duration=e.duration * 3, ts=e.ts + e.duration * 2)
        if isinstance(e, ev.ServiceFinished) and e.service == "api"
        else e
        for e in recorded
    ]
    now = [t0 + 2.0]
    factory = FakeEngine.factory(slow, hold=lambda e: e.ts > t0 + 3)
    app = make_app(
        demo,
        engine_factory=factory,
        docker_check=lambda: None,
        guard_factory=None,
        watcher_factory=None,
        clock=lambda: now[0],
    )
    async with app.run_test(size=(150, 36)) as pilot:  # the History column needs 140 columns
        await pilot.pause()
        cpu = app.query_one("#cpu-table", ServiceTable)
        assert str(cpu.get_cell("api", "trend")) == sparkline(api_durations) == "▆█▃"
        await pilot.press("b")
        await wait_for(pilot, lambda: factory.made and factory.made[0].held.is_set())
        await pilot.pause(0.3)
        assert str(cpu.get_cell("api", "elapsed")) == f"2.0s ~{median - 2:.0f}s left"
        now[0] = t0 + median * 1.6  # past 1.5x the median while still building
        app._redraw()
        assert "⚠ slow" in str(cpu.get_cell("api", "elapsed"))
        factory.made[0].release()
        await wait_for(pilot, lambda: not app.running)
        await pilot.pause(0.3)
        assert app.rows["api"].note == "slower than usual (usually 7.5s)"
        assert step_cell(app, "api") == "slower than usual (usually 7.5s)"
        assert "⚠ slow" in str(cpu.get_cell("api", "elapsed"))
        assert app.rows["worker"].note == ""  # on time
        # The run is in the history: the sparkline grew by one bar.
        assert len(str(cpu.get_cell("api", "trend"))) == 4
        assert app.history.runs()[0].trigger == "manual"
