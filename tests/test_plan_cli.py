"""`fks-tui plan` and `fks-tui build --headless --base`: due services, reasons, one-line errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from fks_tui.cli import main
from tests.conftest import git, local_images, make_demo_repo, remove_images

API = "examples/fks/src/python/services/api"


def commit_api_change(repo: Path) -> None:
    (repo / API / "main.py").write_text("print('v2')\n")
    git(repo, "commit", "-q", "-am", "api v2")


def test_plan_prints_every_service_with_its_reason(tmp_path: Path, capsys):
    config = make_demo_repo(tmp_path / "repo", "fks-test-plan")
    commit_api_change(tmp_path / "repo")
    assert main(["plan", "--config", str(config), "--base", "HEAD~1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["api", "cpu", "due", "changed:", "src/python/services/api/main.py"]
    assert lines[1].split()[:3] == ["worker", "cpu", "skip"] and "no changes since" in lines[1]
    assert len(lines) == 9 and lines[-1] == "1 of 8 services due"


def test_plan_json(tmp_path: Path, capsys):
    config = make_demo_repo(tmp_path / "repo", "fks-test-plan", services=["api", "web"])
    repo = tmp_path / "repo"
    commit_api_change(repo)
    (repo / API / "routes.py").write_text("ROUTES = []\n")  # uncommitted changes count too
    assert main(["plan", "--config", str(config), "--base", "HEAD~1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["head"] == git(repo, "rev-parse", "HEAD").strip()
    assert data["base"] == git(repo, "rev-parse", "HEAD~1").strip()
    services = {s["name"]: s for s in data["services"]}
    assert (
        services["api"]["due"]
        and services["api"]["reason"] == "changed: src/python/services/api/main.py (+1 more)"
    )
    assert services["api"]["paths"] == [
        "src/python/services/api/main.py",
        "src/python/services/api/routes.py",
    ]
    assert not services["web"]["due"] and services["web"]["paths"] == []


def test_plan_without_base_or_history_is_first_build(tmp_path: Path, capsys):
    config = make_demo_repo(tmp_path / "repo", "fks-test-plan", services=["api"])
    assert main(["plan", "--config", str(config)]) == 0
    assert capsys.readouterr().out.splitlines()[0].split() == ["api", "cpu", "due", "first", "build"]


@pytest.mark.parametrize(
    "argv_tail, message",
    [
        (["--base", "nope"], "fks-tui: error: --base 'nope' is not a branch, tag or commit in "),
    ],
)
def test_bad_base_is_one_line_exit_2(tmp_path: Path, capsys, argv_tail, message):
    config = make_demo_repo(tmp_path / "repo", "fks-test-plan", services=["api"])
    for command in ("plan", "build"):
        assert (
            main(
                [
                    command,
                    "--config",
                    str(config),
                    "--headless" if command == "build" else "--json",
                    *argv_tail,
                ]
            )
            == 2
        )
        err = capsys.readouterr().err
        assert err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err


def test_bad_base_ref_in_services_toml_names_the_key(tmp_path: Path, capsys):
    config = make_demo_repo(tmp_path / "repo", "fks-test-plan", services=["api"])
    config.write_text(
        config.read_text().replace('push = "batch"', 'push = "batch"\nbase_ref = "origin/main"')
    )
    assert main(["plan", "--config", str(config)]) == 2
    assert capsys.readouterr().err == (
        f"fks-tui: error: services.toml: [build] base_ref 'origin/main' is not "
        f"a branch, tag or commit in {tmp_path / 'repo'}\n"
    )


def test_shallow_clone_tells_to_fetch_deeper(tmp_path: Path, capsys):
    make_demo_repo(tmp_path / "origin", "fks-test-plan", services=["api"])
    commit_api_change(tmp_path / "origin")
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{tmp_path / 'origin'}", str(clone)], check=True
    )
    assert main(["plan", "--config", str(clone / "services.toml"), "--base", "HEAD~1"]) == 2
    err = capsys.readouterr().err
    assert "is not in this shallow clone; fetch deeper: git fetch --unshallow" in err and err.count("\n") == 1


def test_not_a_git_repository_warns_and_plans_everything(tmp_path: Path, capsys):
    config = make_demo_repo(tmp_path / "plain", "fks-test-plan", services=["api", "nginx"], use_git=False)
    assert main(["plan", "--config", str(config)]) == 0
    out, err = capsys.readouterr()
    assert err == f"fks-tui: warning: {tmp_path / 'plain'} is not a git repository: every service is due\n"
    assert [line.split()[2] for line in out.splitlines()[:2]] == ["due", "due"]


@pytest.mark.docker
@pytest.mark.slow
def test_headless_build_builds_only_due_services(tmp_path: Path, docker_stack, unique_image):
    config = make_demo_repo(tmp_path / "repo", unique_image, services=["api", "worker"])
    commit_api_change(tmp_path / "repo")
    result = subprocess.run(
        [
            "fks-tui",
            "build",
            "--headless",
            "--no-push",
            "--quiet-logs",
            "--config",
            str(config),
            "--base",
            "HEAD~1",
            "--report-json",
            str(tmp_path / "report.json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 of 2 services due" in result.stdout
    assert "skipped (no changes since" in result.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    statuses = {name: s["status"] for name, s in report["services"].items()}
    assert statuses == {"api": "built", "worker": "skipped"}
    images = local_images(unique_image)
    assert images and all(":api-" in ref for ref in images)
    remove_images(unique_image)
