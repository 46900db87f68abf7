"""The live watcher on real directories and real file writes: latency, ignores, bursts, moved directories."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from fks_tui.config import load_config
from fks_tui.watcher import ServicesChanged, ServiceWatcher
from tests.conftest import git, make_demo_repo

SERVICES = "examples/fks/src/python/services"


class Running:
    """A watcher consumed by a background task, its events in a queue."""

    def __init__(self, watcher: ServiceWatcher) -> None:
        self.watcher = watcher
        self.events: asyncio.Queue = asyncio.Queue()
        self.task = asyncio.create_task(self._consume())

    async def _consume(self) -> None:
        async for event in self.watcher.watch():
            await self.events.put(event)

    async def next(self, timeout: float = 5.0) -> ServicesChanged:
        event = await asyncio.wait_for(self.events.get(), timeout)
        assert isinstance(event, ServicesChanged), event
        return event

    async def quiet(self, seconds: float = 0.6) -> None:
        """Assert nothing is reported for a while."""
        await asyncio.sleep(seconds)
        assert self.events.empty(), self.events.get_nowait()

    async def close(self) -> None:
        self.watcher.stop()
        await asyncio.wait_for(self.task, 5)


@pytest.fixture
async def running(tmp_path: Path):
    path = make_demo_repo(tmp_path / "repo", "fks-test-watch")
    (tmp_path / "repo" / ".gitignore").write_text(".fks/\n*.tmp\nbuild-output/\n")
    watcher = ServiceWatcher(load_config(path))
    run = Running(watcher)
    await asyncio.wait_for(watcher.ready.wait(), 5)
    yield tmp_path / "repo", run
    await run.close()


async def test_saved_file_marks_its_service_within_a_second(running):
    repo, run = running
    started = time.monotonic()
    (repo / SERVICES / "api/main.py").write_text("print('saved')\n")
    event = await run.next()
    latency = time.monotonic() - started
    assert event.services == {"api": "src/python/services/api/main.py"}
    assert latency < 1.0, f"{latency * 1000:.0f} ms"
    (repo / "examples/fks/src/python/shared/logs.py").write_text("# shared\n")
    event = await run.next()
    assert set(event.services) == {"worker", "data", "web", "ninja-api", "training", "transformer"}
    assert event.services["web"] == "src/python/shared/logs.py"  # api is still pending: not repeated


async def test_ignored_paths_never_mark_a_service(running):
    repo, run = running
    api = repo / SERVICES / "api"
    (repo / ".fks/runs/r1").mkdir(parents=True)
    (repo / ".fks/runs/r1/api.log").write_text("log line\n")  # the state directory
    (api / "scratch.tmp").write_text("gitignored\n")
    (api / "build-output").mkdir()
    (api / "build-output/x.py").write_text("gitignored directory\n")
    (api / "NOTES.md").write_text("dockerignored: **/*.md\n")
    (api / "__pycache__").mkdir()
    (api / "__pycache__/main.cpython-311.pyc").write_bytes(b"\0")
    (repo / "unrelated.txt").write_text("no service watches this\n")
    await run.quiet()
    (api / "routes.py").write_text("ROUTES = ['/v2']\n")
    assert (await run.next()).services == {"api": "src/python/services/api/routes.py"}


async def test_pending_service_is_reported_again_after_clear(running):
    repo, run = running
    for n in range(3):
        (repo / SERVICES / "worker/main.py").write_text(f"v{n}\n")
        assert (await run.next()).services == {"worker": "src/python/services/worker/main.py"}
        run.watcher.clear("worker")


def commit_generated_branch(repo: Path, branch: str, files: dict[str, str]) -> None:
    """A branch with many files, made with plumbing in a side index: quick, and the checkout stays as is."""
    env = {**os.environ, "GIT_INDEX_FILE": str(repo / ".git" / "index-generated")}

    def plumbing(*args: str, stdin: str = "") -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args], input=stdin, capture_output=True, text=True, env=env, check=True
        ).stdout.strip()

    blobs = {text: plumbing("hash-object", "-w", "--stdin", stdin=text) for text in set(files.values())}
    plumbing("read-tree", "HEAD")
    plumbing(
        "update-index",
        "--add",
        "--index-info",
        stdin="".join(f"100644 {blobs[text]}\t{name}\n" for name, text in files.items()),
    )
    commit = plumbing("commit-tree", plumbing("write-tree"), "-p", "HEAD", "-m", f"{len(files)} files")
    git(repo, "branch", branch, commit)


@pytest.mark.slow
async def test_checkout_of_5000_files_marks_each_service_once(tmp_path: Path):
    path = make_demo_repo(tmp_path / "repo", "fks-test-burst")
    repo = tmp_path / "repo"
    commit_generated_branch(
        repo,
        "generated",
        {f"{SERVICES}/{'api' if n < 4000 else 'web'}/gen/d{n % 50}/m{n}.py": "N = 1\n" for n in range(5000)},
    )
    watcher = ServiceWatcher(load_config(path))
    run = Running(watcher)
    try:
        await asyncio.wait_for(watcher.ready.wait(), 10)
        started = time.monotonic()
        git(repo, "checkout", "-q", "generated")
        reported: list[str] = []
        while set(reported) != {"api", "web"}:
            reported += list((await run.next(timeout=10)).services)
        elapsed = time.monotonic() - started
        await run.quiet(1.0)
        assert sorted(reported) == ["api", "web"], reported
        assert elapsed < 5, f"burst took {elapsed:.1f}s to report"
        # Still alive after the burst, and the way back (5,000 deletions) marks them once more.
        watcher.clear()
        git(repo, "checkout", "-q", "main")
        reported = []
        while set(reported) != {"api", "web"}:
            reported += list((await run.next(timeout=10)).services)
        await run.quiet(1.0)
        assert sorted(reported) == ["api", "web"]
    finally:
        await run.close()


async def test_deleted_and_renamed_directories(running):
    repo, run = running
    services = repo / SERVICES
    (services / "data").rename(services / "data-old")  # only the directory's own events arrive
    assert (await run.next()).services == {"data": "src/python/services/data/__init__.py"}
    run.watcher.clear()
    (services / "data-old").rename(services / "data")  # moved back in: its files are walked
    assert (await run.next()).services == {"data": "src/python/services/data/__init__.py"}
    shutil.rmtree(services / "worker")
    assert set((await run.next()).services) == {"worker"}
    run.watcher.clear()
    (services / "worker").mkdir()  # a recreated directory is watched again
    await asyncio.sleep(0.2)
    (services / "worker/main.py").write_text("back\n")
    assert (await run.next()).services == {"worker": "src/python/services/worker/main.py"}


async def test_stop_ends_the_iteration(tmp_path: Path):
    path = make_demo_repo(tmp_path / "repo", "fks-test-stop", services=["api"])
    watcher = ServiceWatcher(load_config(path))
    run = Running(watcher)
    await asyncio.wait_for(watcher.ready.wait(), 5)
    started = time.monotonic()
    await run.close()
    assert time.monotonic() - started < 2


async def test_directory_that_is_not_a_git_repository(tmp_path: Path):
    path = make_demo_repo(tmp_path / "plain", "fks-test-plain", services=["api", "nginx"], use_git=False)
    (tmp_path / "plain/.gitignore").write_text("*.tmp\n")
    watcher = ServiceWatcher(load_config(path))
    run = Running(watcher)
    try:
        await asyncio.wait_for(watcher.ready.wait(), 5)
        (tmp_path / "plain" / SERVICES / "api/x.tmp").write_text("ignored by .gitignore\n")
        await run.quiet(0.5)
        (tmp_path / "plain/examples/fks/deployment/docker/nginx/nginx.conf").write_text("events {}\n")
        assert (await run.next()).services == {"nginx": "deployment/docker/nginx/nginx.conf"}
    finally:
        await run.close()


async def test_running_build_logs_do_not_hold_the_watcher_back(tmp_path: Path):
    path = make_demo_repo(tmp_path / "repo", "fks-test-noise", services=["api"])
    log = tmp_path / "repo/.fks/runs/r1/api.log"
    log.parent.mkdir(parents=True)

    async def write_logs() -> None:
        with log.open("a") as out:
            for n in range(10_000):
                out.write(f"line {n}\n")
                out.flush()
                await asyncio.sleep(0.005)

    noise = asyncio.create_task(write_logs())
    watcher = ServiceWatcher(load_config(path))
    run = Running(watcher)
    try:
        await asyncio.wait_for(watcher.ready.wait(), 5)  # ready even though the tree never goes quiet
        started = time.monotonic()
        (tmp_path / "repo" / SERVICES / "api/main.py").write_text("during a build\n")
        assert (await run.next()).services == {"api": "src/python/services/api/main.py"}
        assert time.monotonic() - started < 1.0
    finally:
        noise.cancel()
        await run.close()
