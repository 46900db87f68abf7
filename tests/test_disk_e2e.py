"""Disk monitor and cleanup against the real daemon, with a real tmpfs as the watched filesystem."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import docker
import docker.errors
import pytest

from fks_tui.config import load_config
from fks_tui.disk import STEPS, DiskGuard, DiskMonitor, protection_for
from fks_tui.engine import Engine, EngineOptions
from fks_tui.events import (
    BuildsPaused,
    BuildsResumed,
    BuildStatus,
    CleanupFinished,
    DiskSample,
    ServiceFinished,
    ServiceStarted,
)
from fks_tui.gitinfo import template_values
from fks_tui.plan import make_plan
from fks_tui.runner import LABEL_PROJECT, LABEL_SERVICE

from .conftest import git, make_demo_repo

MB = 1000**2
DISK_TOML = """
[disk]
path = "{path}"
warn_free = "200MB"
cleanup_free = "150MB"
critical_free = "100MB"
keep_build_cache = "1GB"
interval = 0.5
"""


@pytest.fixture
def tmpfs(tmp_path: Path):
    """A 300 MB tmpfs of its own (the tests run as root), unmounted afterwards."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300m", "tmpfs", str(mount_point)], check=True)
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def free_bytes(path: Path) -> int:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def fill(mount_point: Path, leave_free: int) -> None:
    """Grow or shrink the filler file so that leave_free bytes stay free."""
    filler = mount_point / "filler"
    current = filler.stat().st_size if filler.exists() else 0
    size = current + free_bytes(mount_point) - leave_free
    with filler.open("ab") as handle:
        handle.truncate(size)
        if size > current:
            os.posix_fallocate(handle.fileno(), current, size - current)
    assert abs(free_bytes(mount_point) - leave_free) < 2 * MB


def test_threshold_states_follow_a_real_filesystem(tmpfs: Path, tmp_path: Path) -> None:
    config_path = make_demo_repo(
        tmp_path / "repo",
        "fks-disk-states",
        services=["api"],
        use_git=False,
        extra_toml=DISK_TOML.format(path=tmpfs),
    )
    monitor = DiskMonitor(load_config(config_path).disk)
    states = []
    for leave in (280 * MB, 180 * MB, 120 * MB, 50 * MB, 160 * MB):
        fill(tmpfs, leave)
        sample = monitor.sample(with_usage=False)
        assert sample.source == "config path" and sample.path == str(tmpfs)
        assert sample.total == 300 * 1024**2
        states.append(sample.state)
    assert states == ["ok", "warn", "cleanup", "critical", "warn"]

    # Percentages resolve against the filesystem's size: 60% / 40% / 20% of 300 MiB.
    text = config_path.read_text().replace('"200MB"', '"60%"').replace('"150MB"', '"40%"')
    config_path.write_text(text.replace('"100MB"', '"20%"'))
    monitor = DiskMonitor(load_config(config_path).disk)
    fill(tmpfs, 150 * MB)  # 47.7% free: below 60%, above 40%
    sample = monitor.sample(with_usage=False)
    assert (sample.state, sample.warn_free, sample.critical_free) == ("warn", 188743680, 62914560)


def _docker(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run(["docker", *args], input=stdin, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _build_extra(context: Path, labels: dict[str, str], tag: str | None, payload_mb: int) -> str:
    """A small image straight from buildx (unique content; untagged when tag is None); returns its id."""
    context.mkdir(parents=True, exist_ok=True)
    iid = context / "iid"
    dockerfile = (
        "FROM fks/base:busybox\n"
        f"RUN echo {uuid.uuid4().hex} > /stamp && dd if=/dev/urandom of=/payload bs=1M count={payload_mb}\n"
    )
    argv = ["buildx", "build", "--load", "--network", "none", "--iidfile", str(iid), "-f", "-"]
    for key, value in labels.items():
        argv += ["--label", f"{key}={value}"]
    if tag:
        argv += ["--tag", tag]
    _docker(*argv, str(context), stdin=dockerfile)
    return iid.read_text().strip()


def _exists(client: docker.DockerClient, image_id: str) -> bool:
    try:
        client.images.get(image_id)
        return True
    except docker.errors.ImageNotFound:
        return False


async def _run(config_path: Path, push_mode: str, on_event=None) -> tuple[Engine, DiskGuard, list]:
    config = load_config(config_path)
    values = template_values(config.root)
    guard = DiskGuard(config, poll=0.2)
    engine = Engine(config, EngineOptions(push_mode=push_mode, values=values, push_retries=0), hooks=guard)
    events = []
    async for event in engine.stream(make_plan(config, force_all=True, values=values)):
        events.append(event)
        if on_event is not None:
            on_event(event)
    return engine, guard, events


@pytest.mark.slow
@pytest.mark.docker
async def test_cleanup_order_pause_resume_and_unpushed_images_survive(
    tmpfs: Path, tmp_path: Path, registry, unique_image: str
) -> None:
    client = docker.from_env()
    project = unique_image  # the project label scopes the container and old-image steps to this test
    image = f"{registry.addr}/{unique_image}"
    repo = tmp_path / "repo"
    config_path = make_demo_repo(repo, image, services=["api"], extra_toml=DISK_TOML.format(path=tmpfs))
    config_path.write_text(
        config_path.read_text().replace('[project]\nname = "fks"', f'[project]\nname = "{project}"')
    )
    assert load_config(config_path).project.name == project
    git(repo, "commit", "-qam", "c0")
    labels = {LABEL_PROJECT: project, LABEL_SERVICE: "api"}
    containers = []
    try:
        # An old image of the project that a running container uses: never removed.
        in_use = _build_extra(tmp_path / "x1", labels, f"{image}:api-in-use", 1)
        containers.append(client.containers.run(in_use, ["sleep", "300"], detach=True, network_mode="none"))
        # r0: an image that gets older than a pushed one; r1: the newest pushed one.
        engine0, _, _ = await _run(config_path, "off")
        old_id = engine0.report.services["api"].image_id
        git(repo, "commit", "-q", "--allow-empty", "-m", "c1")
        engine1, _, _ = await _run(config_path, "batch")
        pushed_id = engine1.report.services["api"].image_id
        assert engine1.report.services["api"].push_status == "pushed"
        # A stopped container of the old image (it blocks that image until the container step ran).
        containers.append(client.containers.create(old_id, ["true"], network_mode="none"))
        # Dangling images: one from a build (its layers stay in the build cache, so removing it frees
        # nothing the daemon can count) and one committed from a container with a unique 3 MiB layer.
        dangling_built = _build_extra(tmp_path / "x2", {"fks-test": unique_image}, None, 1)
        writer = client.containers.run(
            "fks/base:busybox",
            ["dd", "if=/dev/urandom", "of=/payload", "bs=1M", "count=3"],
            detach=True,
            network_mode="none",
        )
        writer.wait()
        dangling_committed = writer.commit().id
        writer.remove()
        assert all(_exists(client, i) for i in (dangling_built, dangling_committed, old_id))

        # r2: start below critical; the filler goes when the build waits, and comes back (cleanup zone)
        # once the image is built, so the after-run cleanup sees the unpushed image of this run.
        git(repo, "commit", "-q", "--allow-empty", "-m", "c2")
        fill(tmpfs, 50 * MB)
        order: list[str] = []

        def on_event(event) -> None:
            if isinstance(event, BuildsPaused):
                order.append("paused")
                (tmpfs / "filler").unlink()
            elif isinstance(event, BuildsResumed):
                order.append("resumed")
            elif isinstance(event, ServiceStarted):
                order.append("started")
            elif isinstance(event, ServiceFinished):
                order.append("finished")
                fill(tmpfs, 120 * MB)
                # Move the new image's tags away: untagged, only its run label keeps the dangling step off it.
                for tag in event.tags:
                    client.api.tag(in_use, *tag.rsplit(":", 1))

        engine2, guard, events = await _run(config_path, "off", on_event)
        new = engine2.report.services["api"]
        assert new.status == BuildStatus.BUILT and new.needs_push
        assert order == ["paused", "resumed", "started", "finished"]

        samples = [e for e in events if isinstance(e, DiskSample)]
        assert samples[0].reason == "start" and samples[0].state == "critical"
        assert samples[-1].reason == "end" and samples[-1].state == "cleanup"
        cleanups = [e for e in events if isinstance(e, CleanupFinished)]
        first = cleanups[0]
        assert first.reason == "before the cpu phase"
        # The filler keeps free space low: every step runs, in order, and the target is not reached.
        assert [s.name for s in first.steps] == list(STEPS) and not first.reached
        by_name = {s.name: s for s in first.steps}
        assert by_name["dangling-images"].reclaimed >= 3 * 1024**2 and by_name["dangling-images"].removed >= 2
        assert not _exists(client, dangling_built) and not _exists(client, dangling_committed)
        assert by_name["stopped-containers"].removed >= 1
        assert by_name["old-project-images"].removed == 1 and by_name["old-project-images"].kept == 1
        assert "a running container uses it" in by_name["old-project-images"].detail
        assert not _exists(client, old_id)
        assert _exists(client, in_use) and _exists(client, pushed_id)
        # A cleanup ran after the build (the after-run one at least) and kept this run's unpushed image.
        late = [c for c in cleanups if c.ts > next(e.ts for e in events if isinstance(e, ServiceFinished))]
        assert late and all(len(c.steps) == len(STEPS) for c in late)
        assert _exists(client, new.image_id)

        for tag in new.tags:
            client.api.tag(new.image_id, *tag.rsplit(":", 1))

        # Another run pushes a newer image: this run's unpushed one is now older than the newest pushed.
        fill(tmpfs, 280 * MB)
        git(repo, "commit", "-q", "--allow-empty", "-m", "c3")
        engine3, _, _ = await _run(config_path, "batch")
        newest_id = engine3.report.services["api"].image_id
        assert engine3.report.services["api"].push_status == "pushed"
        preview = guard.cleaner.preview(protection_for(engine2))
        assert (
            f"{image}:api-latest" not in preview.text() and "built in this run, not pushed" in preview.text()
        )
        # A manual cleanup (the dashboard's `d`), every step forced, while run 2 still counts as running.
        forced = await guard.cleanup(engine2, "manual", force=True)
        assert forced is not None and [s.name for s in forced.steps] == list(STEPS)
        assert forced.steps[-1].kept == 2 and "built in this run, not pushed" in forced.steps[-1].detail
        # The r1 image, pushed but no longer the newest pushed one, goes.
        assert forced.steps[-1].removed == 1 and not _exists(client, pushed_id)
        assert all(_exists(client, i) for i in (new.image_id, in_use, newest_id))
        # Without that protection the same step removes it: the protection is what kept it.
        unprotected = await guard.cleanup(None, "manual", force=True)
        assert unprotected is not None and unprotected.steps[-1].removed == 1
        assert not _exists(client, new.image_id) and _exists(client, newest_id) and _exists(client, in_use)
    finally:
        for container in containers:
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                pass
        for ref in _docker("images", "--quiet", "--no-trunc", image).split():
            subprocess.run(["docker", "rmi", "-f", ref], capture_output=True, check=False)
        client.close()
