"""The dashboard driving the real engine on the real daemon: builds finish in the tables; quit leaves no buildx."""

from __future__ import annotations

import time
import uuid

import pytest

from fks_tui.app import make_app
from fks_tui.disk import DiskGuard
from fks_tui.widgets.confirm import ConfirmScreen
from fks_tui.widgets.service_table import ServiceTable

from .conftest import make_demo_repo, processes_mentioning, remove_images, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.docker]


async def test_two_services_build_and_push_through_the_dashboard(tmp_path, docker_stack, unique_image):
    image = f"{docker_stack['FKS_REGISTRY']}/{unique_image}"
    config = make_demo_repo(tmp_path / "repo", image, services=["api", "nginx"])
    app = make_app(config)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_for(pilot, lambda: app.docker_problem is None and app.config is not None, 30)
            await pilot.pause(0.5)  # the docker check runs in a thread
            assert app.docker_problem is None
            await pilot.press("b")
            await wait_for(pilot, lambda: app.phase in ("done", "cancelled") and not app.running, 180)
            assert {n: r.status in ("built", "cached") for n, r in app.rows.items()} == {
                "api": True,
                "nginx": True,
            }
            await pilot.pause(0.4)
            cpu = app.query_one("#cpu-table", ServiceTable)
            assert {str(cpu.get_cell(n, "status")).split()[1] for n in ("api", "nginx")} <= {
                "built",
                "cached",
            }
            pushes = app.push_queue.rows_by_service
            assert {n: p.status for n, p in pushes.items()} == {"api": "pushed", "nginx": "pushed"}
            assert all(p.digest.startswith("sha256:") for p in pushes.values())
            assert app.live_log.tails["api"], "the api build log reached the log widget"
            # The run went through the disk guard (samples at start and end reached the panel) ...
            assert isinstance(app.guard, DiskGuard)
            reasons = [s.reason for s in app.guard.samples]
            assert "start" in reasons and "end" in reasons
            assert app.disk_panel is not None and app.disk_panel.sample is not None
            assert app.disk_panel.sample.free > 0
            # ... and is in the build history, which the rows' sparklines now show.
            (run,) = app.history.runs()
            assert (run.status, run.trigger, run.built) == ("succeeded", "manual", 2)
            assert len(app.history.durations("api")) == 1 and app.rows["api"].spark
    finally:
        remove_images(image)


async def test_quit_mid_build_leaves_no_buildx_process(tmp_path, docker_stack, unique_image):
    image = f"{docker_stack['FKS_REGISTRY']}/{unique_image}"
    config = make_demo_repo(tmp_path / "repo", image, services=["api"], use_git=False)
    dockerfile = tmp_path / "repo" / "examples" / "fks" / "deployment" / "docker" / "Dockerfile"
    # A cold, slow first step, so the build is surely running when we quit.
    dockerfile.write_text(
        dockerfile.read_text().replace(
            "FROM fks/base:busybox AS base\n",
            f"FROM fks/base:busybox AS base\nRUN --network=none echo {uuid.uuid4().hex} && sleep 60\n",
            1,
        )
    )
    app = make_app(config)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.pause(0.5)
            await pilot.press("b")
            await wait_for(
                pilot, lambda: app.rows["api"].status == "building" and processes_mentioning(image), 60
            )
            await pilot.press("q")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), 5)
            started = time.monotonic()
            await pilot.press("y")
            await wait_for(pilot, lambda: not app.is_running, 30)
        assert time.monotonic() - started < 20
        assert app.engine.cancelled
        deadline = time.monotonic() + 5
        while processes_mentioning(image) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert processes_mentioning(image) == []
    finally:
        remove_images(image)
