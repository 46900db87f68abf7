"""Real headless builds: the GitHub step summary and groups, `fks-tui report`, and a run killed mid-build."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from fks_tui.history import History
from fks_tui.report import RunReport, render_markdown

from .conftest import make_demo_repo, run_fks

pytestmark = [pytest.mark.slow, pytest.mark.docker]


def test_github_actions_build_writes_step_summary_groups_and_json(
    tmp_path, docker_stack, registry, unique_image
):
    image = f"{registry.addr}/{unique_image}"
    config = make_demo_repo(tmp_path, image, services=["api", "nginx", "training"])
    summary = tmp_path / "summary.md"
    summary.write_text("## earlier step\n")
    report_json = tmp_path / "out" / "report.json"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    result = run_fks(
        "build",
        "--headless",
        "--force-all",
        "--config",
        str(config),
        "--report-json",
        str(report_json),
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    # logs folded per service, opened and closed once each, nothing interleaved inside a group
    lines = result.stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("::group::")]
    assert sorted(lines[i].split("::")[2].split(":")[0] for i in starts) == ["api", "nginx", "training"]
    for start in starts:
        end = lines.index("::endgroup::", start)
        assert not any(
            line.startswith(("::group::", "api ", "nginx ", "training ")) for line in lines[start + 1 : end]
        )
    assert "::error" not in result.stdout

    text = summary.read_text()
    assert text.startswith("## earlier step\n")  # appended, never overwritten
    assert "### CPU services: 2 built, 0 failed, 0 skipped" in text
    assert "### GPU services: 1 built, 0 failed, 0 skipped" in text
    assert "trigger ci" in text and "speedup **" in text
    for service in ("api", "nginx", "training"):
        row = next(line for line in text.splitlines() if line.startswith(f"| {service} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1] == "✅ built" and cells[2].endswith("s")
        assert cells[4].endswith(("MB", "kB")), cells  # image size from the daemon
        assert f"`{service}-latest`" in cells[5]
    assert registry.tags(unique_image)  # what the summary says was pushed is in the registry

    data = json.loads(report_json.read_text())
    assert data["version"] == 1 and data["trigger"] == "ci" and data["summary"]["outcome"] == "succeeded"
    assert all(s["image_size"] > 0 and s["push_status"] == "pushed" for s in data["services"].values())

    # `fks-tui report` re-renders the last run: the same Markdown the summary got
    again = run_fks("report", "--config", str(config), "--format", "markdown")
    assert again.returncode == 0, again.stderr
    assert again.stdout.rstrip("\n") in text
    assert render_markdown(RunReport.from_dict(data)).rstrip("\n") == again.stdout.rstrip("\n")
    as_json = run_fks("report", str(report_json), "--format", "json")
    assert json.loads(as_json.stdout) == data


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def test_killed_run_is_recorded_as_interrupted(tmp_path, docker_stack, unique_image):
    slow = (
        '\n[[service]]\nname = "slow"\nkind = "cpu"\ndockerfile = "slow.Dockerfile"\n'
        'tags = ["{service}-latest"]\n'
    )
    config = make_demo_repo(tmp_path, unique_image, services=["api"], extra_toml=slow, use_git=False)
    # A unique RUN line: never cached, so the build is still running when the process is killed.
    (tmp_path / "examples" / "fks" / "slow.Dockerfile").write_text(
        f"FROM fks/base:busybox AS final\nRUN --network=none echo {uuid.uuid4().hex} && sleep 20\n"
    )
    db_path = tmp_path / ".fks" / "history.sqlite3"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fks_tui",
            "build",
            "--headless",
            "--no-push",
            "--force-all",
            "--config",
            str(config),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    builders: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = {}
            if db_path.exists():
                try:
                    with sqlite3.connect(db_path, timeout=5) as db:
                        rows = dict(db.execute("SELECT service, status FROM builds").fetchall())
                except sqlite3.OperationalError:
                    pass  # the schema is still being created
            if rows.get("api") == "built" and rows.get("slow") == "building":
                break
            assert process.poll() is None, "the build ended before it could be killed"
            time.sleep(0.2)
        else:
            pytest.fail("the run never reached: api built, slow building")
        builders = _children(process.pid)  # buildx runs in its own process group
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        for pid in builders:  # the orphaned buildx of this test's run
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    with History(db_path) as history:  # the next start
        assert history.integrity_ok()
        [run] = history.runs(5)
        assert run.status == "interrupted" and run.finished is not None
        assert {
            b.service: b.status for b in history.service_trend("api") + history.service_trend("slow")
        } == {
            "api": "built",
            "slow": "interrupted",
        }
        assert history.durations("api") and history.last_status("slow") is None
    listing = run_fks("history", "--config", str(config))
    assert listing.returncode == 0 and "interrupted" in listing.stdout
