"""Build history: every run and service result in SQLite under the state directory, and queries on it."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .events import (
    BuildStatus,
    Event,
    PushFinished,
    RunFinished,
    RunStarted,
    ServiceFinished,
    ServiceStarted,
)

HISTORY_FILE = "history.sqlite3"
# A build slower than this many times its median is "slower than usual".
SLOW_FACTOR = 1.5
SPARK_BARS = "▁▂▃▄▅▆▇█"
_NO_SHA = "0" * 40  # what gitinfo substitutes outside a git checkout

# Schema migrations, applied in order; PRAGMA user_version is the number applied so far.
# Append only: never edit a migration that has shipped.
MIGRATIONS: tuple[str, ...] = (
    # 1: runs, the services built in them, their pushes
    """
    CREATE TABLE runs (
        id          TEXT PRIMARY KEY,
        started     REAL NOT NULL,
        finished    REAL,
        status      TEXT NOT NULL,       -- running | succeeded | failed | cancelled | interrupted
        git_sha     TEXT NOT NULL DEFAULT '',
        trigger     TEXT NOT NULL DEFAULT 'manual',
        push_mode   TEXT NOT NULL DEFAULT '',
        config_path TEXT NOT NULL DEFAULT '',
        host        TEXT NOT NULL DEFAULT '',
        pid         INTEGER,
        pid_start   TEXT NOT NULL DEFAULT '',
        wall_time   REAL
    );
    CREATE TABLE builds (
        run_id       TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        service      TEXT NOT NULL,
        kind         TEXT NOT NULL,
        status       TEXT NOT NULL,      -- building | built | failed | cancelled | interrupted
        git_sha      TEXT NOT NULL DEFAULT '',
        started      REAL NOT NULL,
        finished     REAL,
        duration     REAL,
        steps_total  INTEGER NOT NULL DEFAULT 0,
        cached_steps INTEGER NOT NULL DEFAULT 0,
        image_id     TEXT NOT NULL DEFAULT '',
        image_size   INTEGER NOT NULL DEFAULT 0,
        failed_step  TEXT NOT NULL DEFAULT '',
        error        TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (run_id, service)
    );
    CREATE TABLE pushes (
        run_id   TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        service  TEXT NOT NULL,
        tags     TEXT NOT NULL,          -- newline-separated
        ok       INTEGER NOT NULL,
        digest   TEXT NOT NULL DEFAULT '',
        error    TEXT NOT NULL DEFAULT '',
        attempts INTEGER NOT NULL DEFAULT 1,
        duration REAL NOT NULL DEFAULT 0,
        ts       REAL NOT NULL
    );
    """,
    # 2: the per-service queries (ETA, sparkline, last success) read newest builds first
    """
    CREATE INDEX builds_by_service ON builds (service, status, finished);
    CREATE INDEX runs_by_status ON runs (status);
    """,
)


class HistoryError(Exception):
    """The history database cannot be opened or is not ours (one line, names the file)."""


@dataclass(frozen=True, slots=True)
class RunRow:
    id: str
    started: float
    finished: float | None
    status: str
    git_sha: str
    trigger: str
    wall_time: float | None
    built: int
    failed: int


@dataclass(frozen=True, slots=True)
class BuildRow:
    run_id: str
    service: str
    kind: str
    status: str
    git_sha: str
    started: float
    duration: float | None
    cached_steps: int
    steps_total: int
    image_size: int


def _process_start(pid: int) -> str:
    """The kernel's start time of a process (so a reused pid is not taken for a live run); '' if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # Field 22; the command name (field 2) may contain spaces, so count from its closing paren.
    return stat.rsplit(")", 1)[-1].split()[19]


def _alive(pid: int | None, pid_start: str) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return not pid_start or _process_start(pid) in ("", pid_start)


def sparkline(values: list[float]) -> str:
    """Unicode bars for values (oldest first), from zero to their max so small jitter stays small."""
    if not values:
        return ""
    high = max(values)
    top = len(SPARK_BARS) - 1
    return "".join(SPARK_BARS[max(0, round(v / high * top)) if high > 0 else 0] for v in values)


class History:
    """The history database of one state directory; safe to open from several processes at once (WAL)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # autocommit (isolation_level=None): every statement outside `with self._tx()` commits at once.
            self.db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except (sqlite3.DatabaseError, OSError) as error:
            raise HistoryError(f"{path}: cannot open the build history: {error}") from None
        self.host = socket.gethostname()
        self.mark_interrupted()

    @classmethod
    def for_state_dir(cls, state_dir: Path) -> History:
        return cls(state_dir / HISTORY_FILE)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        with self._tx():
            version = self.schema_version
            if version > len(MIGRATIONS):
                raise HistoryError(
                    f"{self.path}: written by a newer fks-tui (schema {version}, "
                    f"this one knows {len(MIGRATIONS)})"
                )
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in script.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {number}")

    def mark_interrupted(self) -> int:
        """Close runs left "running" by a process of this host that is gone (crash, kill); returns how many."""
        stale = [
            run_id
            for run_id, host, pid, pid_start in self.db.execute(
                "SELECT id, host, pid, pid_start FROM runs WHERE status = 'running'"
            )
            if host == self.host and not _alive(pid, pid_start)
        ]
        for run_id in stale:
            with self._tx():
                last = self.db.execute(
                    "SELECT MAX(COALESCE(finished, started)) FROM builds WHERE run_id = ?", (run_id,)
                ).fetchone()[0]
                self.db.execute(
                    "UPDATE builds SET status = 'interrupted' WHERE run_id = ? AND status = 'building'",
                    (run_id,),
                )
                self.db.execute(
                    "UPDATE runs SET status = 'interrupted', finished = COALESCE(?, started) WHERE id = ?",
                    (last, run_id),
                )
        return len(stale)

    # -- recording
    def run_started(self, event: RunStarted, pid: int | None = None) -> None:
        pid = os.getpid() if pid is None else pid
        self.db.execute(
            "INSERT OR REPLACE INTO runs (id, started, status, git_sha, trigger, push_mode, config_path, host, "
            "pid, pid_start) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?)",
            (
                event.run_id,
                event.ts,
                event.git_sha,
                event.trigger,
                event.push_mode,
                event.config_path,
                self.host,
                pid,
                _process_start(pid),
            ),
        )

    def service_started(self, run_id: str, git_sha: str, event: ServiceStarted) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO builds (run_id, service, kind, status, git_sha, started) "
            "VALUES (?, ?, ?, 'building', ?, ?)",
            (run_id, event.service, event.kind, git_sha, event.ts),
        )

    def service_finished(self, run_id: str, git_sha: str, event: ServiceFinished) -> None:
        started = event.ts - event.duration
        self.db.execute(
            "INSERT INTO builds (run_id, service, kind, status, git_sha, started, finished, duration, "
            "steps_total, cached_steps, image_id, image_size, failed_step, error) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (run_id, service) DO UPDATE SET status = excluded.status, "
            "finished = excluded.finished, duration = excluded.duration, steps_total = excluded.steps_total, "
            "cached_steps = excluded.cached_steps, image_id = excluded.image_id, "
            "image_size = excluded.image_size, failed_step = excluded.failed_step, error = excluded.error",
            (
                run_id,
                event.service,
                event.kind,
                event.status.value,
                git_sha,
                started,
                event.ts,
                event.duration,
                event.steps_total,
                event.cached_steps,
                event.image_id,
                event.image_size,
                event.failed_step,
                event.error,
            ),
        )

    def push_finished(self, run_id: str, event: PushFinished) -> None:
        self.db.execute(
            "INSERT INTO pushes (run_id, service, tags, ok, digest, error, attempts, duration, ts) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                event.service,
                "\n".join(event.tags),
                int(event.ok),
                event.digest,
                event.error,
                event.attempts,
                event.duration,
                event.ts,
            ),
        )

    def run_finished(self, event: RunFinished) -> None:
        if event.cancelled:
            status = "cancelled"
        else:
            failed_builds = self.db.execute(
                "SELECT COUNT(*) FROM builds WHERE run_id = ? AND status IN ('failed', 'cancelled')",
                (event.run_id,),
            ).fetchone()[0]
            failed_pushes = self.db.execute(
                "SELECT COUNT(*) FROM pushes p WHERE run_id = ? AND ok = 0 AND NOT EXISTS "
                "(SELECT 1 FROM pushes q WHERE q.run_id = p.run_id AND q.service = p.service AND q.ok = 1)",
                (event.run_id,),
            ).fetchone()[0]
            status = "failed" if failed_builds or failed_pushes else "succeeded"
        self.db.execute(
            "UPDATE runs SET status = ?, finished = ?, wall_time = ? WHERE id = ?",
            (status, event.ts, event.wall_time, event.run_id),
        )

    # -- queries
    def last_success_sha(self, service: str) -> str | None:
        """The commit of the service's last successful build: the base for change detection."""
        row = self.db.execute(
            "SELECT git_sha FROM builds WHERE service = ? AND status = 'built' AND git_sha NOT IN ('', ?) "
            "ORDER BY finished DESC LIMIT 1",
            (service, _NO_SHA),
        ).fetchone()
        return row[0] if row else None

    def last_status(self, service: str) -> str | None:
        """ "built" or "failed": how the service's last completed build ended (cancelled ones do not count)."""
        row = self.db.execute(
            "SELECT status FROM builds WHERE service = ? AND status IN ('built', 'failed') "
            "ORDER BY finished DESC LIMIT 1",
            (service,),
        ).fetchone()
        return row[0] if row else None

    def durations(self, service: str, n: int = 20) -> list[float]:
        """Durations of the service's last n successful builds, oldest first (for a sparkline)."""
        rows = self.db.execute(
            "SELECT duration FROM builds WHERE service = ? AND status = 'built' AND duration IS NOT NULL "
            "ORDER BY finished DESC LIMIT ?",
            (service, n),
        ).fetchall()
        return [row[0] for row in reversed(rows)]

    def median_duration(self, service: str, n: int = 10) -> float | None:
        """Median of the last n successful builds; None without history."""
        values = self.durations(service, n)
        return statistics.median(values) if values else None

    def medians(self, services: list[str], n: int = 10) -> dict[str, float]:
        """median_duration for each service that has history."""
        found = {name: self.median_duration(name, n) for name in services}
        return {name: value for name, value in found.items() if value is not None}

    def eta(self, service: str, elapsed: float, n: int = 10) -> float | None:
        """Seconds a running build probably still needs (0 once past its median); None without history."""
        median = self.median_duration(service, n)
        return None if median is None else max(0.0, median - elapsed)

    def is_slow(self, service: str, duration: float, n: int = 10) -> bool:
        """True when duration exceeds SLOW_FACTOR times the service's median ("slower than usual")."""
        median = self.median_duration(service, n)
        return median is not None and duration > SLOW_FACTOR * median

    def runs(self, limit: int = 20) -> list[RunRow]:
        """Newest first, with per-run counts of built and failed services."""
        rows = self.db.execute(
            "SELECT r.id, r.started, r.finished, r.status, r.git_sha, r.trigger, r.wall_time, "
            "COALESCE(SUM(b.status = 'built'), 0), COALESCE(SUM(b.status = 'failed'), 0) "
            "FROM runs r LEFT JOIN builds b ON b.run_id = r.id GROUP BY r.id "
            "ORDER BY r.started DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [RunRow(*row) for row in rows]

    def service_trend(self, name: str, limit: int = 20) -> list[BuildRow]:
        """The service's last builds (any outcome), newest first."""
        rows = self.db.execute(
            "SELECT run_id, service, kind, status, git_sha, started, duration, cached_steps, steps_total, "
            "image_size FROM builds WHERE service = ? ORDER BY started DESC LIMIT ?",
            (name, limit),
        ).fetchall()
        return [BuildRow(*row) for row in rows]

    def services(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT DISTINCT service FROM builds ORDER BY service")]

    def integrity_ok(self) -> bool:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


class HistoryRecorder:
    """An event consumer that records a run as it happens; each write commits on its own, so a kill
    loses at most the event being written."""

    def __init__(self, history: History) -> None:
        self.history = history
        self.run_id = ""
        self.git_sha = ""
        self.failed = False  # set when a write failed: the build goes on, the history is best effort
        self.error = ""

    def handle(self, event: Event) -> None:
        try:
            self._record(event)
        except sqlite3.Error as error:
            self.failed, self.error = True, f"{self.history.path}: {error}"

    def _record(self, event: Event) -> None:
        match event:
            case RunStarted():
                self.run_id, self.git_sha = event.run_id, event.git_sha
                self.history.run_started(event)
            case ServiceStarted() if self.run_id:
                self.history.service_started(self.run_id, self.git_sha, event)
            case ServiceFinished() if self.run_id:
                if event.status is not BuildStatus.SKIPPED:
                    self.history.service_finished(self.run_id, self.git_sha, event)
            case PushFinished() if self.run_id:
                self.history.push_finished(self.run_id, event)
            case RunFinished() if self.run_id:
                self.history.run_finished(event)


def format_time(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"
