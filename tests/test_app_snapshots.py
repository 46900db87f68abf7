"""Snapshots of the dashboard's main states at fixed terminal sizes, from a recorded run.

`python -m tests.test_app_snapshots` also saves each state as an SVG in screenshots/.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from fks_tui import events as ev
from fks_tui.app import FksApp, make_app
from fks_tui.history import History
from fks_tui.messages import FilesChanged
from fks_tui.testing import (
    FakeDiskGuard,
    FakeEngine,
    IdleWatcher,
    add_broken_service,
    load_events,
    seed_history,
)

from .conftest import make_demo_repo

ROOT = Path(__file__).resolve().parent.parent
RECORDING = Path(__file__).parent / "data" / "demo_run.jsonl.gz"
EVENTS = load_events(RECORDING)
T0 = EVENTS[0].ts


@dataclass
class Scene:
    size: tuple[int, int]
    hold: Callable[[ev.Event], bool] | None = None  # stop the replay there (None: run to the end)
    keys: tuple[str, ...] = ()
    build: bool = True
    clock_at: float = 4.0  # seconds after the recorded run started
    saved: tuple[tuple[str, str], ...] = ()  # files the watcher "saw" before the keys


SCENES: dict[str, Scene] = {
    "idle": Scene((120, 36), build=False),
    "mid-build": Scene((120, 36), hold=lambda e: e.ts > T0 + 4),
    "failure-pane": Scene((120, 36), keys=("e",)),
    "push-queue": Scene((120, 36), hold=lambda e: isinstance(e, ev.PushFinished), clock_at=16.0),
    "finished": Scene((120, 36)),
    "help": Scene((120, 36), build=False, keys=("question_mark",)),
    "watch-due": Scene(
        (120, 36),
        build=False,
        saved=(("api", "src/python/services/api/main.py"), ("training", "src/python/shared/logs.py")),
    ),
    "cleanup-confirm": Scene((120, 36), build=False, keys=("d",)),
    "small-80x24": Scene((80, 24), hold=lambda e: e.ts > T0 + 4),
    "large-200x60": Scene((200, 60), hold=lambda e: e.ts > T0 + 5, clock_at=5.0),
}


def scene_app(name: str, workdir: Path) -> tuple[FksApp, Callable[[object], Awaitable[None]]]:
    """The app for a scene and the pilot steps that bring it there."""
    scene = SCENES[name]
    config = make_demo_repo(workdir / "repo", "127.0.0.1:5000/fks-snapshot")
    add_broken_service(config)
    # Four past runs, so rows have a duration sparkline, an ETA and a median to be slower than.
    with History.for_state_dir(config.parent / ".fks") as history:
        seed_history(history, EVENTS, factors=(1.1, 0.8, 1.3, 1.0))
    factory = FakeEngine.factory(EVENTS, hold=scene.hold, run_id="20261203-130613-5dcd")
    # No real clock, disk figures or file watches: the fakes keep every snapshot the same.
    app = make_app(
        config,
        engine_factory=factory,
        docker_check=lambda: None,
        clock=lambda: T0 + scene.clock_at,
        guard_factory=FakeDiskGuard,
        watcher_factory=IdleWatcher,
    )

    async def run_before(pilot) -> None:
        await pilot.pause()
        if scene.saved:
            app.post_message(FilesChanged(dict(scene.saved)))
            await pilot.pause(0.3)
        if scene.build:
            await pilot.press("b")
            engine = factory.made[0]
            if scene.hold is not None:
                await engine.held.wait()
            else:
                while app.running:
                    await pilot.pause(0.02)
            await pilot.pause(0.4)  # let batched log lines and the throttled redraw land
        if scene.keys:
            await pilot.press(*scene.keys)
            await pilot.pause(0.2)

    return app, run_before


@pytest.mark.parametrize("name", list(SCENES))
def test_snapshot(name, snap_compare, tmp_path):
    app, run_before = scene_app(name, tmp_path)
    assert snap_compare(app, terminal_size=SCENES[name].size, run_before=run_before)


async def save_screenshots(dest: Path) -> None:
    for name, scene in SCENES.items():
        with tempfile.TemporaryDirectory() as work:
            app, run_before = scene_app(name, Path(work))
            async with app.run_test(size=scene.size) as pilot:
                await run_before(pilot)
                app.save_screenshot(f"{name}.svg", path=str(dest))
        print(f"saved {dest / (name + '.svg')}", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(save_screenshots(ROOT / "screenshots"))
