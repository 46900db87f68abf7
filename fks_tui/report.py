"""The run report: one model folded from engine events, saved as run.json, rendered as text/JSON/Markdown."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import humanize

from .events import (
    BuildStatus,
    CleanupFinished,
    Event,
    PushFinished,
    PushQueued,
    PushStatus,
    RunFinished,
    RunStarted,
    ServiceFinished,
    ServiceQueued,
    ServiceSkipped,
    ServiceStarted,
)

# The run.json / --report-json schema (docs/report-schema.md). Adding a field keeps the version;
# renaming, removing or changing the meaning of one bumps it.
REPORT_VERSION = 1
# How many lines of a failed step's output the Markdown summary shows.
MARKDOWN_TAIL_LINES = 30


@dataclass
class ServiceResult:
    name: str
    kind: str
    status: str = BuildStatus.QUEUED.value
    reason: str = ""
    started: float = 0.0
    duration: float = 0.0
    image_id: str = ""
    image_size: int = 0
    tags: list[str] = field(default_factory=list)
    steps_total: int = 0
    cached_steps: int = 0
    error: str = ""
    failed_step: str = ""
    error_tail: list[str] = field(default_factory=list)
    log_path: str = ""
    push_status: str = ""
    push_digest: str = ""
    push_error: str = ""
    push_attempts: int = 0
    pushed_tags: list[str] = field(default_factory=list)

    @property
    def needs_push(self) -> bool:
        """Built here but not (yet) in the registry."""
        return self.status == BuildStatus.BUILT and self.push_status != PushStatus.PUSHED


@dataclass
class RunReport:
    run_id: str = ""
    config_path: str = ""
    git_sha: str = ""
    push_mode: str = "batch"
    trigger: str = "manual"
    started: float = 0.0
    finished: float = 0.0
    wall_time: float = 0.0
    cancelled: bool = False
    disk_freed: int = 0  # bytes reclaimed by cleanups during the run
    cleanups: int = 0
    services: dict[str, ServiceResult] = field(default_factory=dict)

    # -- folding events
    def apply(self, event: Event) -> None:
        match event:
            case RunStarted():
                self.run_id, self.config_path, self.git_sha = event.run_id, event.config_path, event.git_sha
                self.push_mode, self.started = event.push_mode, event.ts
                self.trigger = event.trigger
                for planned in event.services:
                    self.services[planned.name] = ServiceResult(
                        planned.name,
                        planned.kind,
                        status=BuildStatus.QUEUED if planned.due else BuildStatus.SKIPPED,
                        reason=planned.reason,
                    )
            case ServiceQueued() | ServiceSkipped():
                result = self._result(event.service, event.kind)
                result.reason = event.reason
                result.status = (
                    BuildStatus.QUEUED if isinstance(event, ServiceQueued) else BuildStatus.SKIPPED
                )
            case ServiceStarted():
                result = self._result(event.service, event.kind)
                result.status, result.started, result.log_path = (
                    BuildStatus.BUILDING,
                    event.ts,
                    event.log_path,
                )
            case ServiceFinished():
                result = self._result(event.service, event.kind)
                result.status = event.status.value
                result.duration = event.duration
                result.image_id, result.tags = event.image_id, list(event.tags)
                result.steps_total, result.cached_steps = event.steps_total, event.cached_steps
                result.error, result.failed_step = event.error, event.failed_step
                result.error_tail, result.log_path = list(event.error_tail), event.log_path
                result.image_size = event.image_size
            case PushQueued():
                self._result(event.service).push_status = PushStatus.WAITING
            case PushFinished():
                result = self._result(event.service)
                result.push_status = PushStatus.PUSHED if event.ok else PushStatus.FAILED
                result.push_digest, result.push_error = event.digest, event.error
                result.push_attempts = event.attempts
                result.pushed_tags = list(event.tags) if event.ok else []
            case RunFinished():
                self.finished, self.wall_time, self.cancelled = event.ts, event.wall_time, event.cancelled
            case CleanupFinished():
                self.cleanups += 1
                # Free space can shrink meanwhile (concurrent builds): then count what the daemon reclaimed.
                self.disk_freed += event.freed if event.freed > 0 else max(0, event.reclaimed)

    def _result(self, name: str, kind: str = "cpu") -> ServiceResult:
        if name not in self.services:
            self.services[name] = ServiceResult(name, kind)
        return self.services[name]

    # -- derived figures
    def of_kind(self, kind: str) -> list[ServiceResult]:
        return [s for s in self.services.values() if s.kind == kind]

    def counts(self, kind: str) -> dict[str, int]:
        results = self.of_kind(kind)
        return {
            "built": sum(s.status == BuildStatus.BUILT for s in results),
            "failed": sum(s.status == BuildStatus.FAILED for s in results),
            "cancelled": sum(s.status == BuildStatus.CANCELLED for s in results),
            "skipped": sum(s.status == BuildStatus.SKIPPED for s in results),
        }

    @property
    def built(self) -> list[ServiceResult]:
        return [s for s in self.services.values() if s.status == BuildStatus.BUILT]

    @property
    def failed(self) -> list[ServiceResult]:
        return [s for s in self.services.values() if s.status == BuildStatus.FAILED]

    @property
    def push_failed(self) -> list[ServiceResult]:
        return [s for s in self.services.values() if s.push_status == PushStatus.FAILED]

    @property
    def sum_build_time(self) -> float:
        """What building one after another would have taken (the sum of build durations)."""
        return sum(s.duration for s in self.services.values() if s.status != BuildStatus.SKIPPED)

    @property
    def build_wall_time(self) -> float:
        """From the first build's start to the last build's end."""
        ran = [s for s in self.services.values() if s.started and s.duration]
        if not ran:
            return 0.0
        return max(s.started + s.duration for s in ran) - min(s.started for s in ran)

    @property
    def speedup(self) -> float:
        wall = self.build_wall_time
        return self.sum_build_time / wall if wall > 0 else 0.0

    def ok(self, push_required: bool) -> bool:
        if self.cancelled or self.failed:
            return False
        if any(s.status == BuildStatus.CANCELLED for s in self.services.values()):
            return False
        return not (push_required and any(s.needs_push for s in self.built))

    # -- persistence (run.json)
    @property
    def outcome(self) -> str:
        """succeeded | failed | cancelled: the run's one-word result."""
        if self.cancelled:
            return "cancelled"
        return "succeeded" if self.ok(push_required=self.push_mode != "off") else "failed"

    def to_dict(self) -> dict:
        """The documented JSON form (docs/report-schema.md): `version` first, then the run, then derived figures."""
        data = {"version": REPORT_VERSION, **asdict(self)}
        data["summary"] = {
            "outcome": self.outcome,
            "sum_build_time": round(self.sum_build_time, 3),
            "build_wall_time": round(self.build_wall_time, 3),
            "speedup": round(self.speedup, 3),
            "counts": {kind: self.counts(kind) for kind in ("cpu", "gpu")},
        }
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict) -> RunReport:
        known = {f.name for f in fields(ServiceResult)}
        services = {
            name: ServiceResult(**{k: v for k, v in raw.items() if k in known})
            for name, raw in data.get("services", {}).items()
        }
        scalars = {f.name for f in fields(cls)} - {"services"}
        return cls(services=services, **{k: v for k, v in data.items() if k in scalars})

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        tmp.replace(path)  # atomic: a crash never leaves half a report

    @classmethod
    def load(cls, path: Path) -> RunReport:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    return humanize.precisedelta(seconds, minimum_unit="seconds", format="%0.0f")


def render_text(report: RunReport) -> str:
    """The plain-text summary printed at the end of a headless run."""
    lines = [f"Run {report.run_id}  ({report.git_sha[:7] or 'no git'})"]
    for kind in ("cpu", "gpu"):
        results = report.of_kind(kind)
        if not results:
            continue
        lines.append(f"{kind.upper()}: {_counts_text(report.counts(kind))}")
        for s in sorted(results, key=lambda r: r.name):
            if s.status == BuildStatus.SKIPPED:
                lines.append(f"  {s.name:<14} skipped   {s.reason}")
                continue
            steps = f"{s.cached_steps}/{s.steps_total} cached"
            line = f"  {s.name:<14} {s.status:<9} {_duration(s.duration):>7}  {steps:<12}"
            if s.image_id:
                line += f" {s.image_id.removeprefix('sha256:')[:12]}"
            if s.push_status == PushStatus.PUSHED:
                line += "  pushed " + ", ".join(t.rsplit(":", 1)[-1] for t in s.pushed_tags)
            elif s.push_status == PushStatus.FAILED:
                line += f"  push failed after {s.push_attempts} attempts: {s.push_error}"
            elif s.needs_push and report.push_mode != "off":
                line += "  not pushed"
            lines.append(line)
            if s.status == BuildStatus.FAILED:
                lines.append(f"      failed at: {s.failed_step or '(before any step)'}")
                lines.append(f"      error: {s.error}")
                lines.append(f"      log: {s.log_path}")
    lines.append(
        f"Wall time {_duration(report.wall_time)}; builds {_duration(report.build_wall_time)} "
        f"against {_duration(report.sum_build_time)} one after another: speedup {report.speedup:.2f}x"
    )
    if report.cleanups:
        lines.append(f"Disk freed by cleanup: {_size(report.disk_freed)} ({_cleanups(report.cleanups)})")
    return "\n".join(line.rstrip() for line in lines)


def _counts_text(c: dict[str, int]) -> str:
    """One kind's counts ("2 built, 1 failed, 0 skipped"; cancelled only when there are some)."""
    cancelled = f", {c['cancelled']} cancelled" if c["cancelled"] else ""
    return f"{c['built']} built, {c['failed']} failed, {c['skipped']} skipped{cancelled}"


def _cleanups(count: int) -> str:
    return f"{count} cleanup{'s' if count != 1 else ''}"


def _size(size: int) -> str:
    return humanize.naturalsize(size) if size else "-"


_RESULT_MARKS = {
    BuildStatus.BUILT: "✅ built",
    BuildStatus.FAILED: "❌ failed",
    BuildStatus.CANCELLED: "⚪ cancelled",
    BuildStatus.SKIPPED: "⏭️ skipped",
}
_OUTCOME_MARKS = {"succeeded": "✅ succeeded", "failed": "❌ failed", "cancelled": "⚪ cancelled"}


def _cell(text: str) -> str:
    """Text safe inside one Markdown table cell (no pipes or line breaks)."""
    return " ".join(text.split()).replace("|", "\\|")


def _code(text: str) -> str:
    """Inline code whose delimiters survive backticks inside the text."""
    text = " ".join(text.split())
    fence = "`" * (_longest_backtick_run(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _longest_backtick_run(text: str) -> int:
    longest = current = 0
    for char in text:
        current = current + 1 if char == "`" else 0
        longest = max(longest, current)
    return longest


def _push_cell(result: ServiceResult, push_mode: str) -> str:
    if result.push_status == PushStatus.PUSHED:
        return ", ".join(_code(tag.rsplit(":", 1)[-1]) for tag in result.pushed_tags)
    if result.push_status == PushStatus.FAILED:
        return f"❌ push failed: {_cell(result.push_error)}"
    if result.needs_push and push_mode != "off":
        return "not pushed"
    return "-"


def render_markdown(report: RunReport, tail_lines: int = MARKDOWN_TAIL_LINES) -> str:
    """The GitHub step summary: a table per kind, timings, failures with their output, disk freed."""
    sha = report.git_sha[:7] if report.git_sha and report.git_sha.strip("0") else "no git"
    out = [
        f"## fks-tui build {_OUTCOME_MARKS[report.outcome]}",
        "",
        f"Run `{report.run_id}` · commit `{sha}` · trigger {report.trigger} · push {report.push_mode}",
        "",
    ]
    for kind in ("cpu", "gpu"):
        results = sorted(report.of_kind(kind), key=lambda r: r.name)
        if not results:
            continue
        out += [f"### {kind.upper()} services: {_counts_text(report.counts(kind))}", ""]
        out += [
            "| Service | Result | Duration | Cached steps | Image size | Pushed tags |",
            "|---|---|--:|--:|--:|---|",
        ]
        for s in results:
            mark = _RESULT_MARKS.get(s.status, s.status)
            if s.status == BuildStatus.SKIPPED:
                out.append(f"| {_cell(s.name)} | {mark} ({_cell(s.reason)}) | - | - | - | - |")
                continue
            cached = f"{s.cached_steps}/{s.steps_total}" if s.steps_total else "-"
            out.append(
                f"| {_cell(s.name)} | {mark} | {_duration(s.duration)} | {cached} | "
                f"{_size(s.image_size)} | {_push_cell(s, report.push_mode)} |"
            )
        out.append("")
    out += [
        "### Timing",
        "",
        f"- Wall time: **{_duration(report.wall_time)}**",
        f"- Builds: {_duration(report.build_wall_time)} concurrently against "
        f"{_duration(report.sum_build_time)} one after another (sum of build times): "
        f"speedup **{report.speedup:.2f}x**",
    ]
    if report.cleanups:
        out.append(f"- Disk freed by cleanup: **{_size(report.disk_freed)}** ({_cleanups(report.cleanups)})")
    out.append("")
    problems = [
        s
        for s in sorted(report.services.values(), key=lambda r: (r.kind, r.name))
        if s.status == BuildStatus.FAILED or s.push_status == PushStatus.FAILED
    ]
    if problems:
        out += ["### Failures", ""]
        for s in problems:
            if s.status == BuildStatus.FAILED:
                out.append(
                    f"#### ❌ {_cell(s.name)} ({s.kind}): failed at "
                    f"{_code(s.failed_step) if s.failed_step else '(before any step)'}"
                )
                out += ["", _code(s.error) if s.error.strip() else "(no error message)", ""]
                tail = s.error_tail[-tail_lines:]
                if tail:
                    fence = "`" * max(3, _longest_backtick_run("\n".join(tail)) + 1)
                    out += [
                        f"<details><summary>Last {len(tail)} lines of output</summary>",
                        "",
                        fence + "text",
                        *tail,
                        fence,
                        "",
                        "</details>",
                        "",
                    ]
                if s.log_path:
                    out += [f"Full log: `{s.log_path}`", ""]
            else:
                out += [
                    f"#### ❌ {_cell(s.name)} ({s.kind}): push failed after {s.push_attempts} attempts",
                    "",
                    _code(s.push_error) if s.push_error.strip() else "(no error message)",
                    "",
                ]
    return "\n".join(out)
