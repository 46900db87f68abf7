"""Shared fixtures: the real Docker stack, throwaway copies of the demo repository, a private registry."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STACK = ROOT / "scripts" / "stack"
DEMO = ROOT / "examples" / "fks"


def _stack_env() -> dict[str, str]:
    out = subprocess.run([str(STACK), "env"], capture_output=True, text=True, check=True).stdout
    env = {}
    for line in out.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value
    return env


@pytest.fixture(scope="session")
def docker_stack() -> dict[str, str]:
    """The real daemon, buildx and registry (brought up by `make test` / scripts/stack up)."""
    env = _stack_env()
    os.environ["DOCKER_HOST"] = env["DOCKER_HOST"]
    status = subprocess.run([str(STACK), "status"], capture_output=True, text=True)
    if status.returncode != 0:
        pytest.fail(f"the Docker stack is not up (run 'scripts/stack up'):\n{status.stdout}{status.stderr}")
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Registry:
    """A private docker-registry on 127.0.0.1:<port> that a test may stop and start."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        root.mkdir(parents=True, exist_ok=True)
        (root / "config.yml").write_text(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {root / 'data'}\nhttp:\n  addr: {self.addr}\n"
        )

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["docker-registry", "serve", str(self.root / "config.yml")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://{self.addr}/v2/", timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"registry on {self.addr} did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def tags(self, repository: str) -> list[str]:
        with urllib.request.urlopen(f"http://{self.addr}/v2/{repository}/tags/list", timeout=5) as response:
            return sorted(json.load(response).get("tags") or [])

    def tags_or_none(self, repository: str) -> list[str] | None:
        """Tags of repository, None when the registry does not know it."""
        try:
            return self.tags(repository)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise


@pytest.fixture
def registry(tmp_path: Path, docker_stack):
    reg = Registry(tmp_path / "registry")
    reg.start()
    yield reg
    reg.stop()


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, check=True).stdout


def init_git(repo: Path) -> None:
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "dev@example.invalid")
    git(repo, "config", "user.name", "dev")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")


def make_demo_repo(
    dest: Path, image: str, services: list[str] | None = None, extra_toml: str = "", use_git: bool = True
) -> Path:
    """Copy the demo monorepo and services.toml into dest with its own image repository.

    services: keep only these [[service]] entries (None: all). Returns the services.toml path.
    """
    shutil.copytree(DEMO, dest / "examples" / "fks")
    text = (ROOT / "services.toml").read_text()
    text = text.replace('image = "127.0.0.1:5000/nuniesmith/fks"', f'image = "{image}"')
    if services is not None:
        head, *blocks = text.split("\n[[service]]\n")
        kept = [b for b in blocks if any(f'name = "{name}"' in b for name in services)]
        text = head + "".join("\n[[service]]\n" + b for b in kept)
    text += extra_toml
    config = dest / "services.toml"
    config.write_text(text)
    (dest / ".gitignore").write_text(".fks/\n")
    if use_git:
        init_git(dest)
    return config


@pytest.fixture
def unique_image() -> str:
    """A registry path no other test uses (cleanup and pushes stay test-local)."""
    return f"fks-test-{uuid.uuid4().hex[:8]}"


RECORDING = Path(__file__).parent / "data" / "demo_run.jsonl.gz"


@pytest.fixture(scope="session")
def recorded():
    """A real cold run of the demo (plus a failing service), recorded as engine events."""
    from fks_tui.testing import load_events

    return load_events(RECORDING)


async def wait_for(pilot, condition, timeout: float = 10.0, step: float = 0.02) -> None:
    """Let the app run until condition() holds; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(step)


def run_fks(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """`python -m fks_tui ARGS` as a user runs it, with this environment plus env."""
    return subprocess.run(
        [sys.executable, "-m", "fks_tui", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that contain text (read from /proc)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{proc.name}: {cmdline}")
    return found


def local_images(repository: str) -> list[str]:
    """repository:tag of every local image of repository."""
    return subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", repository],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()


def remove_images(repository: str) -> None:
    """Remove every local image of repository (what a test built)."""
    listed = local_images(repository)
    if listed:
        subprocess.run(["docker", "image", "rm", "--force", *listed], capture_output=True, check=False)
