"""End-to-end: the engine and headless CLI against the real daemon, buildx and a real registry."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fks_tui.config import load_config
from fks_tui.engine import Engine, EngineOptions, RunHooks
from fks_tui.events import BuildStatus, Phase, PushFinished, PushRetry, ServiceFinished, StepStarted
from fks_tui.gitinfo import template_values
from fks_tui.plan import make_plan

from .conftest import make_demo_repo, processes_mentioning, run_fks

pytestmark = [pytest.mark.docker, pytest.mark.slow]

BROKEN_SERVICE = """
[[service]]
name = "broken"
kind = "cpu"
context = "examples/fks"
dockerfile = "broken/Dockerfile"
inherit_watch = false
"""


def our_buildx_processes(marker: str) -> list[str]:
    """Live buildx processes whose argv mentions marker (the test's unique image)."""
    return [p for p in processes_mentioning(marker) if "buildx" in p]


def docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False)


def test_demo_builds_concurrently_and_every_tag_reaches_the_registry(tmp_path, registry, unique_image):
    image = f"{registry.addr}/{unique_image}/fks"
    config_path = make_demo_repo(tmp_path, image)
    report_path = tmp_path / "report.json"
    result = run_fks("build", "--headless", "--quiet-logs", "--report-json", str(report_path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    config = load_config(config_path)
    values = template_values(config.root)
    expected = sorted(tag for s in config.services for tag in s.tag_names(values))
    assert registry.tags(f"{unique_image}/fks") == expected
    report = json.loads(report_path.read_text())
    assert {s["status"] for s in report["services"].values()} == {"built"}
    assert all(
        s["push_status"] == "pushed" and s["push_digest"].startswith("sha256:")
        for s in report["services"].values()
    )
    assert "CPU: 6 built, 0 failed, 0 skipped" in result.stdout
    assert "GPU: 2 built, 0 failed, 0 skipped" in result.stdout
    # Builds of one phase overlap: the CPU phase took far less than its builds one after another.
    cpu = [s for s in report["services"].values() if s["kind"] == "cpu"]
    cpu_wall = max(s["started"] + s["duration"] for s in cpu) - min(s["started"] for s in cpu)
    assert cpu_wall < 0.6 * sum(s["duration"] for s in cpu)
    # GPU builds start only after every CPU build finished.
    gpu_start = min(s["started"] for s in report["services"].values() if s["kind"] == "gpu")
    assert gpu_start >= max(s["started"] + s["duration"] for s in cpu) - 0.5
    # Full logs stay on disk, one per service.
    assert "exporting to image" in Path(report["services"]["api"]["log_path"]).read_text()
    for tag in expected:
        docker("rmi", f"{image}:{tag}")


def test_a_broken_service_fails_alone_and_is_never_pushed(tmp_path, registry, unique_image):
    image = f"{registry.addr}/{unique_image}/fks"
    make_demo_repo(
        tmp_path, image, services=["api", "nginx", "training"], extra_toml=BROKEN_SERVICE, use_git=False
    )
    broken = tmp_path / "examples" / "fks" / "broken"
    broken.mkdir()
    (broken / "Dockerfile").write_text(
        "FROM fks/base:busybox AS final\n"
        "RUN --network=none echo preparing && sleep 1\n"
        "RUN --network=none echo 'compiling module x' && echo 'fatal: missing header' >&2 && exit 7\n"
    )
    report_path = tmp_path / "report.json"
    result = run_fks("build", "--headless", "--report-json", str(report_path), cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(report_path.read_text())
    services = report["services"]
    assert services["broken"]["status"] == "failed"
    assert services["broken"]["failed_step"].startswith("[3/3] RUN --network=none echo 'compiling module x'")
    # stdout and stderr of the step reach BuildKit as two streams: their order is not fixed.
    assert sorted(services["broken"]["error_tail"]) == ["compiling module x", "fatal: missing header"]
    assert "exit code: 7" in services["broken"]["error"]
    assert services["broken"]["push_status"] == ""
    for name in ("api", "nginx", "training"):
        assert services[name]["status"] == "built" and services[name]["push_status"] == "pushed"
    assert "CPU: 2 built, 1 failed, 0 skipped" in result.stdout
    tags = registry.tags(f"{unique_image}/fks")
    assert tags and not any(t.startswith("broken") for t in tags)
    assert {t.split("-")[0] for t in tags} == {"api", "nginx", "training"}


def test_sigint_mid_build_leaves_no_buildx_process_and_exits_130(tmp_path, registry, unique_image):
    image = f"{registry.addr}/{unique_image}/fks"
    make_demo_repo(tmp_path, image, services=["api", "worker", "training"], use_git=False)
    process = subprocess.Popen(
        [sys.executable, "-m", "fks_tui", "build", "--headless", "--force-all"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ.copy(),
    )
    assert process.stdout is not None
    # Wait until a RUN step is executing in buildx, then interrupt.
    deadline = time.monotonic() + 60
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        seen.append(line)
        if "RUN --network=none" in line:
            break
    assert our_buildx_processes(unique_image), "no buildx process was running"
    process.send_signal(signal.SIGINT)
    interrupted = time.monotonic()
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 130, "".join(seen) + output
    deadline = interrupted + 5
    while our_buildx_processes(unique_image) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert our_buildx_processes(unique_image) == []
    assert time.monotonic() - interrupted < 5
    assert "cancelled" in output
    assert registry.tags_or_none(f"{unique_image}/fks") in (None, [])


class StopRegistryBeforePush(RunHooks):
    def __init__(self, registry) -> None:
        self.registry = registry

    async def before_phase(self, engine, phase):
        if phase is Phase.PUSH:
            self.registry.stop()


async def test_registry_down_during_push_retries_then_fks_tui_push_recovers(tmp_path, registry, unique_image):
    image = f"{registry.addr}/{unique_image}/fks"
    config = load_config(make_demo_repo(tmp_path, image, services=["api", "training"]))
    values = template_values(config.root)
    engine = Engine(
        config, EngineOptions(values=values, push_backoff=0.2), hooks=StopRegistryBeforePush(registry)
    )
    events = [event async for event in engine.stream(make_plan(config, values=values))]

    finished = {e.service: e for e in events if isinstance(e, ServiceFinished)}
    assert {n: e.status for n, e in finished.items()} == {
        "api": BuildStatus.BUILT,
        "training": BuildStatus.BUILT,
    }
    retries = [e for e in events if isinstance(e, PushRetry)]
    assert {e.service for e in retries} == {"api", "training"}
    assert max(e.attempt for e in retries) == 3  # one try and three retries
    report = engine.report
    assert all(s.push_status == "failed" and s.push_attempts == 4 for s in report.services.values())
    assert not report.ok(push_required=True)
    # Images are still in the local store...
    for service in ("api", "training"):
        for tag in config.service(service).tags(values):
            assert docker("image", "inspect", tag).returncode == 0
    # ...and `fks-tui push` pushes them once the registry is back.
    registry.start()
    result = run_fks("push", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 pushed, 0 not pushed" in result.stdout
    expected = sorted(t for s in ("api", "training") for t in config.service(s).tag_names(values))
    assert registry.tags(f"{unique_image}/fks") == expected
    saved = json.loads((engine.run_dir / "run.json").read_text())
    assert {s["push_status"] for s in saved["services"].values()} == {"pushed"}
    # Nothing left to push: a second call says so and succeeds.
    again = run_fks("push", cwd=tmp_path)
    assert again.returncode == 0 and "nothing to push" in again.stdout


async def test_cancel_one_service_keeps_the_others(tmp_path, registry, unique_image):
    image = f"{registry.addr}/{unique_image}/fks"
    config = load_config(make_demo_repo(tmp_path, image, services=["api", "worker"], use_git=False))
    engine = Engine(config, EngineOptions(push_mode="off"))
    cancelled = False
    finished = {}
    async for event in engine.stream(make_plan(config, force_all=True)):
        if (
            isinstance(event, StepStarted)
            and event.service == "worker"
            and "RUN" in event.name
            and not cancelled
        ):
            engine.cancel_service("worker")
            cancelled = True
        if isinstance(event, ServiceFinished):
            finished[event.service] = event.status
    assert finished == {"api": BuildStatus.BUILT, "worker": BuildStatus.CANCELLED}
    assert our_buildx_processes(unique_image) == []


async def test_eager_push_overlaps_pushes_with_builds(tmp_path, registry, unique_image):
    image = f"{registry.addr}/{unique_image}/fks"
    config = load_config(make_demo_repo(tmp_path, image, services=["nginx", "training"], use_git=False))
    # A step no cache has seen keeps training building for a few seconds.
    dockerfile = tmp_path / "examples/fks/deployment/docker/Dockerfile"
    text = dockerfile.read_text()
    dockerfile.write_text(
        text.replace(
            "ARG SERVICE_TYPE\n", f"ARG SERVICE_TYPE\nRUN --network=none echo {unique_image} && sleep 4\n", 1
        )
    )
    engine = Engine(config, EngineOptions(push_mode="eager"))
    order = []
    async for event in engine.stream(make_plan(config, force_all=True)):
        if isinstance(event, ServiceFinished | PushFinished):
            order.append((type(event).__name__, event.service))
    # nginx (cpu) is pushed while training (gpu) is still building.
    assert order.index(("PushFinished", "nginx")) < order.index(("ServiceFinished", "training"))
    assert sorted(registry.tags(f"{unique_image}/fks")) == sorted(
        t for s in ("nginx", "training") for t in config.service(s).tag_names(engine.values)
    )
