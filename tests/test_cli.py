"""Command-line errors: one line, the right exit status, never a traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .conftest import run_fks

ROOT = Path(__file__).resolve().parent.parent


def fks(*args: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return run_fks(*args, cwd=cwd, env=env, timeout=60)


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_daemon_down_is_one_line_with_the_fix():
    result = fks("build", "--headless", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert_one_line_error(
        result, 2, "cannot reach the Docker daemon at unix:///nonexistent/docker.sock", "scripts/stack up"
    )


def test_check_reports_daemon_down_the_same_way():
    result = fks("check", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert result.returncode == 2
    assert "services.toml: ok, 8 services (6 cpu, 2 gpu)" in result.stdout
    assert "cannot reach the Docker daemon" in result.stderr


def test_unknown_service_is_named():
    result = fks("build", "--headless", "--force", "api", "nosuch")
    assert_one_line_error(result, 2, "unknown service 'nosuch'", "api, worker")


def test_broken_config_names_file_and_line(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM fks/base:busybox\n")
    (tmp_path / "services.toml").write_text(
        '[project]\nname = "x"\nimage = "x"\n\n[[service]]\nname = "a"\nkind = "cpu"\nwatch = "src/**"\n'
    )
    result = fks("check", "--config", str(tmp_path / "services.toml"))
    assert_one_line_error(
        result, 2, f"{tmp_path / 'services.toml'}:8: [[service]] 'a': key 'watch' must be a list"
    )


def test_missing_dockerfile_names_the_service(tmp_path):
    (tmp_path / "services.toml").write_text(
        '[project]\nname = "x"\nimage = "x"\n\n[[service]]\nname = "a"\nkind = "cpu"\n'
    )
    result = fks("build", "--headless", "--config", str(tmp_path / "services.toml"))
    assert_one_line_error(result, 2, "[[service]] 'a': Dockerfile 'Dockerfile' not found in context")


def test_push_without_a_recorded_run(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM fks/base:busybox\n")
    (tmp_path / "services.toml").write_text(
        '[project]\nname = "x"\nimage = "x"\n\n[[service]]\nname = "a"\nkind = "cpu"\n'
    )
    result = fks("push", "--config", str(tmp_path / "services.toml"))
    assert_one_line_error(result, 2, "no recorded run", "run 'fks-tui build' first")


def test_bake_file_is_valid_json_for_every_enabled_service():
    import json

    result = fks("bake-file")
    assert result.returncode == 0
    bake = json.loads(result.stdout)
    assert set(bake["group"]["default"]["targets"]) == set(bake["target"])
    assert bake["group"]["gpu"]["targets"] == ["training", "transformer"]
    api = bake["target"]["api"]
    assert api["args"]["SERVICE_TYPE"] == "api" and api["target"] == "final"
    assert api["dockerfile"] == "deployment/docker/Dockerfile"
