"""The run report from a recorded event stream: golden JSON and Markdown, text, GitHub output, disk freed.

The stream in tests/data/report-events.jsonl was recorded from a real headless run of the demo
(api, nginx, a failing `broken` service, training; pushed to a registry) with
`python -m tests.test_report record DEST` and normalised: times relative to the run start,
paths under /RUN, image repository `registry.test/fks`. One CleanupFinished line was added
by hand (the disk guard was off) so the disk-freed figure is covered.
Regenerate the golden files with FKS_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import dataclasses
import enum
import io
import json
import os
import typing
from pathlib import Path

import pytest

from fks_tui import events as ev
from fks_tui import github
from fks_tui.headless import HeadlessPrinter
from fks_tui.report import REPORT_VERSION, RunReport, render_markdown, render_text

DATA = Path(__file__).parent / "data"
STREAM = DATA / "report-events.jsonl"
GOLDEN = DATA / "golden"
UPDATE = os.environ.get("FKS_UPDATE_GOLDEN") == "1"


# -- (de)serialising events as JSON lines
def event_to_dict(event: ev.Event) -> dict:
    def plain(value):
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, enum.Enum):
            return value.value
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        return value

    return {"type": type(event).__name__, **plain(event)}


def _build(cls: type, data: dict):
    hints = typing.get_type_hints(cls, vars(ev))
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value, hint = data[f.name], hints[f.name]
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            value = hint(value)
        elif typing.get_origin(hint) is tuple:
            (item, *_rest) = typing.get_args(hint)
            value = tuple(_build(item, v) if dataclasses.is_dataclass(item) else v for v in value)
        kwargs[f.name] = value
    return cls(**kwargs)


def event_from_dict(data: dict) -> ev.Event:
    data = dict(data)
    cls = getattr(ev, data.pop("type"))
    return _build(cls, data)


def load_stream(path: Path = STREAM) -> list[ev.Event]:
    return [event_from_dict(json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def fold(events: list[ev.Event]) -> RunReport:
    report = RunReport()
    for event in events:
        report.apply(event)
    return report


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"missing golden {path}; run with FKS_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def stream() -> list[ev.Event]:
    return load_stream()


@pytest.fixture
def report(stream) -> RunReport:
    return fold(stream)


# -- golden outputs
def test_stream_roundtrips_through_json(stream):
    for event in stream:
        assert event_from_dict(json.loads(json.dumps(event_to_dict(event)))) == event


def test_golden_json(report):
    check_golden("report.json", report.to_json())


def test_golden_markdown(report):
    check_golden("report.md", render_markdown(report) + "\n")


def test_golden_text(report):
    check_golden("report.txt", render_text(report) + "\n")


# -- what the report says
def test_report_figures_from_the_recorded_run(report):
    data = report.to_dict()
    assert data["version"] == REPORT_VERSION == 1
    assert list(data)[0] == "version"
    assert data["summary"]["outcome"] == "failed"
    assert data["summary"]["counts"]["cpu"] == {"built": 2, "failed": 1, "cancelled": 0, "skipped": 0}
    assert data["summary"]["counts"]["gpu"]["built"] == 1
    api = report.services["api"]
    assert api.image_size > 1_000_000 and api.push_status == "pushed" and len(api.pushed_tags) == 2
    broken = report.services["broken"]
    assert broken.status == "failed" and "exit code: 3" in broken.error and broken.failed_step
    assert report.disk_freed == 3_500_000_000 and report.cleanups == 1
    assert report.speedup > 1.0


def test_json_reloads_to_the_same_report(report, tmp_path):
    path = tmp_path / "run.json"
    report.save(path)
    again = RunReport.load(path)
    assert again.to_dict() == report.to_dict()
    assert render_markdown(again) == render_markdown(report)


def test_markdown_has_a_table_per_kind_and_a_collapsed_failure(report):
    md = render_markdown(report)
    assert md.count("| Service | Result | Duration | Cached steps | Image size | Pushed tags |") == 2
    assert "### CPU services: 2 built, 1 failed, 0 skipped" in md
    assert "### GPU services: 1 built, 0 failed, 0 skipped" in md
    failure = md[md.index("### Failures") :]
    assert "#### ❌ broken (cpu): failed at" in failure
    assert "<details><summary>Last" in failure and "</details>" in failure
    assert "oops" in failure  # the failing step's stderr
    assert "Disk freed by cleanup: **3.5 GB**" in md
    assert "speedup **" in md


def test_markdown_cells_escape_pipes_and_fences_survive_backticks():
    report = RunReport(run_id="r", git_sha="a" * 40, push_mode="off")
    report.services["x"] = result = RunReport()._result("x")
    result.status, result.duration = "failed", 1.0
    result.error = "bad | value\nsecond line"
    result.failed_step = "RUN echo `id`"
    result.error_tail = ["```", "boom"]
    md = render_markdown(report)
    assert "`bad | value second line`" in md
    # a longer delimiter, padded because the text ends with a backtick (CommonMark code spans)
    assert "failed at `` RUN echo `id` ``" in md
    fence_line = next(line for line in md.splitlines() if line.startswith("````"))
    assert fence_line == "````text"  # longer than the ``` inside the output


def test_cleanup_finished_is_folded_when_the_disk_guard_reports():
    report = RunReport()
    step = ev.CleanupStep(name="build-cache", freed=-5, reclaimed=700)
    report.apply(
        ev.CleanupFinished(reason="low", free_before=1, free_after=0, target=2, steps=(step,), reached=False)
    )
    assert report.disk_freed == 700  # free space shrank meanwhile: what the daemon reclaimed counts
    grown = ev.CleanupStep(name="dangling-images", freed=300, reclaimed=250)
    report.apply(
        ev.CleanupFinished(
            reason="low", free_before=1, free_after=301, target=2, steps=(grown,), reached=True
        )
    )
    assert report.disk_freed == 1000 and report.cleanups == 2


def test_report_without_cleanup_events_says_nothing_about_disk():
    report = RunReport(run_id="r")
    assert "Disk freed" not in render_markdown(report)
    assert "Disk freed" not in render_text(report)


# -- GitHub Actions
def test_workflow_command_escaping():
    assert github.escape_data("50%\r\nnext") == "50%25%0D%0Anext"
    assert github.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    assert github.error("x\ny", title="api: build, failed") == "::error title=api%3A build%2C failed::x%0Ay"
    assert github.group("api") == "::group::api" and github.endgroup() == "::endgroup::"
    guard = github.StopCommands()
    assert guard.start() == f"::stop-commands::{guard.token}" and guard.stop() == f"::{guard.token}::"


def test_trigger_and_step_summary(tmp_path):
    assert github.trigger_from_env({"GITHUB_ACTIONS": "true"}) == "ci"
    assert github.trigger_from_env({"CI": "true"}) == "ci"
    assert github.trigger_from_env({}) == "manual"
    assert github.append_step_summary("# x", {}) is None
    target = tmp_path / "summary.md"
    target.write_text("earlier step\n")
    github.append_step_summary("# one", {"GITHUB_STEP_SUMMARY": str(target)})
    github.append_step_summary("# two\n", {"GITHUB_STEP_SUMMARY": str(target)})
    assert target.read_text() == "earlier step\n# one\n\n# two\n\n"


def test_headless_in_github_groups_each_log_after_the_service_finishes(stream):
    out = io.StringIO()
    printer = HeadlessPrinter(out=out, github_actions=True)
    for event in stream:
        printer.handle(event)
    lines = out.getvalue().splitlines()
    groups = [i for i, line in enumerate(lines) if line.startswith("::group::")]
    assert len(groups) == 4  # api, nginx, broken, training
    for start in groups:
        end = lines.index("::endgroup::", start)
        body = lines[start + 1 : end]
        assert body[0].startswith("::stop-commands::") and body[-1] == f"::{body[0].split('::')[2]}::"
        assert not any("::group::" in line for line in body)  # nothing interleaved into a group
        assert not any("|" in line[:14] and line[:12].strip() in ("api", "nginx") for line in body[1:-1])
    errors = [line for line in lines if line.startswith("::error ")]
    assert len(errors) == 1 and errors[0].startswith("::error title=broken%3A build failed::failed at ")
    # status lines stay live and prefixed, logs are not printed line by line
    assert any(line.startswith("api ") and "built in" in line for line in lines)
    assert not any(line.startswith("api ") and "#1 [internal]" in line for line in lines)


def test_headless_outside_github_prints_logs_live_without_commands(stream):
    out = io.StringIO()
    printer = HeadlessPrinter(out=out, medians={"api": 0.1})
    for event in stream:
        printer.handle(event)
    text = out.getvalue()
    assert "::group::" not in text and "::error" not in text
    assert "building (usually 0.1s)" in text and "slower than usual (median 0.1s)" in text


# -- recording a stream (python -m tests.test_report record DEST)
def _record(dest: Path) -> None:  # pragma: no cover - run by hand to refresh the stream
    import asyncio
    import shutil
    import sys
    import uuid

    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import init_git, make_demo_repo

    from fks_tui.config import load_config
    from fks_tui.engine import Engine, EngineOptions
    from fks_tui.gitinfo import template_values
    from fks_tui.plan import make_plan

    repo = os.environ.get("FKS_REGISTRY", "127.0.0.1:5000") + f"/fks-golden-{uuid.uuid4().hex[:8]}"
    extra = '\n[[service]]\nname = "broken"\nkind = "cpu"\ndockerfile = "broken.Dockerfile"\n'
    dest.mkdir(parents=True)
    config_path = make_demo_repo(
        dest, repo, services=["api", "nginx", "training"], extra_toml=extra, use_git=False
    )
    shutil.copy(DATA / "Dockerfile.failure", dest / "examples" / "fks" / "broken.Dockerfile")
    init_git(dest)
    config = load_config(config_path)
    values = template_values(config.root)
    engine = Engine(config, EngineOptions(values=values, push_mode="batch"))
    events: list[ev.Event] = []

    async def run() -> None:
        async for event in engine.stream(make_plan(config, values=values)):
            if not isinstance(event, ev.BuildProgress | ev.PushProgress):
                events.append(event)

    asyncio.run(run())
    start = events[0].ts
    run_dir = str(engine.run_dir)
    with STREAM.open("w") as out:
        for event in events:
            text = json.dumps(event_to_dict(event))
            text = (
                text.replace(run_dir, "/RUN").replace(str(dest), "/REPO").replace(repo, "registry.test/fks")
            )
            data = json.loads(text)
            data["ts"] = round(event.ts - start, 3)
            out.write(json.dumps(data) + "\n")


if __name__ == "__main__":  # pragma: no cover
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "record":
        _record(Path(sys.argv[2]))
    else:
        print("usage: python -m tests.test_report record DEST", file=sys.stderr)
