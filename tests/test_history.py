"""The build history: schema migrations, recording, interrupted runs, queries; then several real runs."""

from __future__ import annotations

import sqlite3
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from fks_tui import cli
from fks_tui.config import load_config
from fks_tui.events import (
    BuildStatus,
    PlannedService,
    PushFinished,
    RunFinished,
    RunStarted,
    ServiceFinished,
    ServiceStarted,
)
from fks_tui.history import MIGRATIONS, History, HistoryError, HistoryRecorder, sparkline
from fks_tui.plan import make_plan
from fks_tui.report import RunReport

from .conftest import git, make_demo_repo

SHA_A, SHA_B = "a" * 40, "b" * 40


def record_run(
    history: History,
    run_id: str,
    sha: str,
    results: dict[str, tuple[str, float]],
    t0: float,
    finish: bool = True,
) -> None:
    """Feed the recorder the events of one run: results maps service -> (status, duration)."""
    recorder = HistoryRecorder(history)
    plan = tuple(PlannedService(name=n, kind="cpu", due=True, reason="test") for n in results)
    recorder.handle(
        RunStarted(
            ts=t0,
            run_id=run_id,
            run_dir="/r",
            config_path="/c",
            git_sha=sha,
            services=plan,
            push_mode="batch",
        )
    )
    for name, (status, duration) in results.items():
        recorder.handle(ServiceStarted(ts=t0 + 1, service=name, kind="cpu", argv=(), log_path=""))
        if status == "building":
            continue
        recorder.handle(
            ServiceFinished(
                ts=t0 + 1 + duration,
                service=name,
                kind="cpu",
                status=BuildStatus(status),
                duration=duration,
                image_size=1000,
                cached_steps=2,
                steps_total=5,
            )
        )
        if status == "built":
            recorder.handle(
                PushFinished(ts=t0 + 50, service=name, tags=(f"r:{name}",), ok=True, digest="sha256:x")
            )
    if finish:
        recorder.handle(RunFinished(ts=t0 + 60, run_id=run_id, wall_time=60.0))
    assert not recorder.failed, recorder.error


@pytest.fixture
def history(tmp_path: Path):
    with History(tmp_path / "state" / "history.sqlite3") as opened:
        yield opened


def test_schema_is_migrated_to_the_latest_version_and_reopens(tmp_path):
    path = tmp_path / "h.sqlite3"
    with History(path) as history:
        assert history.schema_version == len(MIGRATIONS) == 2
        assert history.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with History(path) as again:  # no migration runs twice
        assert again.schema_version == len(MIGRATIONS)


def test_an_old_schema_is_upgraded_in_place(tmp_path):
    path = tmp_path / "h.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0] + "PRAGMA user_version = 1;")
    db.execute("INSERT INTO runs (id, started, status) VALUES ('old', 1.0, 'succeeded')")
    db.commit()
    db.close()
    with History(path) as history:
        assert history.schema_version == 2
        assert [r.id for r in history.runs(5)] == ["old"]
        indexes = {row[0] for row in history.db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert "builds_by_service" in indexes


def test_newer_or_foreign_database_is_a_one_line_error(tmp_path):
    newer = tmp_path / "newer.sqlite3"
    db = sqlite3.connect(newer)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(HistoryError, match=r"newer\.sqlite3: .*newer fks-tui"):
        History(newer)
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(HistoryError, match=r"garbage\.sqlite3: cannot open the build history"):
        History(garbage)


def test_queries_over_recorded_runs(history):
    record_run(history, "r1", SHA_A, {"api": ("built", 10.0), "web": ("failed", 3.0)}, t0=1000)
    record_run(history, "r2", SHA_B, {"api": ("built", 12.0), "web": ("built", 5.0)}, t0=2000)
    record_run(history, "r3", SHA_B, {"api": ("built", 30.0), "web": ("failed", 4.0)}, t0=3000)
    record_run(history, "r4", "c" * 40, {"api": ("cancelled", 1.0)}, t0=4000)
    assert history.last_success_sha("api") == SHA_B
    assert history.last_success_sha("web") == SHA_B
    assert history.last_success_sha("nope") is None
    assert history.last_status("web") == "failed"
    assert history.last_status("api") == "built"  # a cancelled build does not count
    assert history.last_status("nope") is None
    assert history.durations("api") == [10.0, 12.0, 30.0]
    assert history.durations("api", n=2) == [12.0, 30.0]
    assert history.median_duration("api") == 12.0
    assert history.median_duration("nope") is None
    assert history.eta("api", elapsed=5.0) == 7.0 and history.eta("api", elapsed=99) == 0.0
    assert history.is_slow("api", 18.5) and not history.is_slow("api", 18.0)
    assert not history.is_slow("nope", 1e9)
    assert [(r.id, r.status, r.built, r.failed) for r in history.runs(10)] == [
        ("r4", "failed", 0, 0),  # a cancelled service fails the run, as in the report
        ("r3", "failed", 1, 1),
        ("r2", "succeeded", 2, 0),
        ("r1", "failed", 1, 1),
    ]
    trend = history.service_trend("api", 2)
    assert [(b.run_id, b.status, b.duration, b.image_size) for b in trend] == [
        ("r4", "cancelled", 1.0, 1000),
        ("r3", "built", 30.0, 1000),
    ]
    pushes = history.db.execute("SELECT COUNT(*) FROM pushes WHERE ok = 1").fetchone()[0]
    assert pushes == 4


def test_no_git_placeholder_is_not_a_change_detection_base(history):
    record_run(history, "r1", "0" * 40, {"api": ("built", 1.0)}, t0=1)
    assert history.last_success_sha("api") is None
    assert history.last_status("api") == "built"


def test_a_run_of_a_dead_process_is_marked_interrupted_at_the_next_open(tmp_path):
    path = tmp_path / "h.sqlite3"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with History(path) as history:
        recorder = HistoryRecorder(history)
        plan = (PlannedService(name="api", kind="cpu", due=True, reason="t"),)
        event = RunStarted(
            ts=1.0,
            run_id="crashed",
            run_dir="/r",
            config_path="/c",
            git_sha=SHA_A,
            services=plan,
            push_mode="off",
        )
        history.run_started(event, pid=dead.pid)
        recorder.run_id, recorder.git_sha = "crashed", SHA_A
        recorder.handle(ServiceStarted(ts=2.0, service="api", kind="cpu", argv=(), log_path=""))
        record_run(history, "alive", SHA_B, {"web": ("building", 0)}, t0=10, finish=False)  # this process
    with History(path) as history:
        statuses = {r.id: r.status for r in history.runs(10)}
        assert statuses == {"crashed": "interrupted", "alive": "running"}
        assert [b.status for b in history.service_trend("api")] == ["interrupted"]
        assert [b.status for b in history.service_trend("web")] == ["building"]
        assert history.last_status("api") is None
        assert history.integrity_ok()


def test_sparkline_scales_from_zero():
    assert sparkline([]) == ""
    assert sparkline([1.0, 1.0]) == "██"
    assert sparkline([0.0, 4.0, 8.0]) == "▁▅█"


def test_history_command_lists_runs_and_trends(tmp_path, capsys):
    config = make_demo_repo(tmp_path, "fks-history-cmd", services=["api", "web"], use_git=False)
    with History.for_state_dir(tmp_path / ".fks") as history:
        record_run(history, "r1", SHA_A, {"api": ("built", 10.0), "web": ("failed", 3.0)}, t0=1000)
        record_run(history, "r2", SHA_B, {"api": ("built", 20.0)}, t0=2000)
    assert cli.main(["history", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "r2" in out and "succeeded" in out and "r1" in out and "failed" in out
    assert "api                 15.0s    20.0s  ▅█" in out
    assert "web" in out and "no successful build yet" in out
    assert cli.main(["history", "--config", str(config), "--service", "api", "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert (
        "api: median 15.0s of the last 2 successful builds, trend ▅█" in out
        and "bbbbbbbbbbbb" in out
        and "r1" not in out
    )
    assert cli.main(["history", "--config", str(config), "--service", "nope"]) == 2
    assert "no builds of 'nope'" in capsys.readouterr().err


# -- several real runs: the change-detection base and the ETA
def _commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.mark.slow
@pytest.mark.docker
def test_history_across_real_runs(tmp_path, docker_stack, unique_image, capsys):
    broken_extra = '\n[[service]]\nname = "broken"\nkind = "cpu"\ndockerfile = "broken.Dockerfile"\n'
    config = make_demo_repo(tmp_path, unique_image, services=["api"], extra_toml=broken_extra, use_git=False)
    context = tmp_path / "examples" / "fks"
    dockerfile = context / "broken.Dockerfile"
    dockerfile.write_text((Path(__file__).parent / "data" / "Dockerfile.failure").read_text())
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.email", "dev@example.invalid")
    git(tmp_path, "config", "user.name", "dev")
    sha1 = _commit(tmp_path, "one")
    build = ["build", "--headless", "--no-push", "--force-all", "--quiet-logs", "--config", str(config)]

    assert cli.main(build) == 1  # broken fails
    sha2_marker = context / "src" / "python" / "services" / "api" / "CHANGE"
    sha2_marker.write_text("2\n")
    sha2 = _commit(tmp_path, "two")
    assert cli.main(build) == 1
    capsys.readouterr()
    dockerfile.write_text("FROM fks/base:busybox AS final\nRUN --network=none echo fixed\n")
    sha3 = _commit(tmp_path, "fix broken")
    assert cli.main(build) == 0
    third_output = capsys.readouterr().out

    with History.for_state_dir(tmp_path / ".fks") as history:
        runs = history.runs(10)
        assert [r.status for r in runs] == ["succeeded", "failed", "failed"]
        assert [r.git_sha for r in runs] == [sha3, sha2, sha1]
        assert all(r.trigger in ("manual", "ci") for r in runs)
        # the base of change detection: each service's last successful build
        assert history.last_success_sha("api") == sha3
        assert history.last_success_sha("broken") == sha3
        assert history.last_status("broken") == "built"
        # change detection takes that base: nothing changed since, so nothing is due
        plan = make_plan(load_config(config), history=history)
        assert [(p.name, p.due) for p in plan] == [("api", False), ("broken", False)]
        assert all(sha3[:7] in p.reason for p in plan)
        api = history.service_trend("api")
        assert [b.git_sha for b in api] == [sha3, sha2, sha1] and all(b.status == "built" for b in api)
        assert all(b.image_size > 0 for b in api)  # from the daemon after --load
        durations = history.durations("api")
        assert len(durations) == 3 and all(d > 0 for d in durations)
        assert history.median_duration("api") == pytest.approx(statistics.median(durations))
        # what run.json says agrees with the database
        reports = sorted(
            (RunReport.load(d / "run.json") for d in (tmp_path / ".fks" / "runs").iterdir()),
            key=lambda r: r.started,
        )  # run ids of one second do not sort by time
        reported = [r.services["api"].duration for r in reports]
        assert durations == pytest.approx(reported)
    # the third run announced the ETA from the first two runs' median
    eta = statistics.median(durations[:2])
    assert f"building (usually {eta:.1f}s)" in third_output
