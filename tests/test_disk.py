"""Unit tests: sizes and thresholds, [disk] config errors, usage figures, cleanup choices, widgets."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Sparkline, Static

from fks_tui.config import ConfigError, DiskSettings, load_config
from fks_tui.disk import (
    CRITICAL,
    Cleaner,
    CleanupPreview,
    Limits,
    PreviewItem,
    Protection,
    disk_lines,
    protection_for,
    usage_from_df,
)
from fks_tui.events import CleanupFinished, CleanupStep, DiskSample, DockerUsage
from fks_tui.headless import HeadlessPrinter
from fks_tui.report import RunReport, ServiceResult
from fks_tui.runner import LABEL_PROJECT, LABEL_RUN, LABEL_SERVICE
from fks_tui.sizes import parse_size, parse_threshold
from fks_tui.widgets.cleanup_confirm import CleanupConfirm
from fks_tui.widgets.disk_panel import DiskPanel, free_bar

from .conftest import make_demo_repo

GiB = 1024**3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20GiB", 20 * GiB),
        ("20 GiB", 20 * GiB),
        ("1.5GB", 1_500_000_000),
        ("300M", 300_000_000),
        ("512mib", 512 * 1024**2),
        ("2TiB", 2 * 1024**4),
        ("4096", 4096),
        ("10b", 10),
        (" 7 kb ", 7000),
        (0, 0),
        (123, 123),
    ],
)
def test_parse_size(text, expected) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "GiB", "lots", "10XB", "-5GiB", "1.2.3GB", "10 G i B", "5%", -1, True])
def test_parse_size_refuses(text) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_parse_threshold_sizes_and_percentages() -> None:
    assert parse_threshold("10%").percent == 10.0 and parse_threshold("10%").bytes is None
    assert parse_threshold("0.5 %").resolve(1000) == 5
    assert parse_threshold("100%").resolve(300) == 300
    assert parse_threshold("20GiB").resolve(1) == 20 * GiB  # a size does not depend on the disk
    assert parse_threshold(1024).bytes == 1024
    for bad in ("101%", "ten%", "%", "-5%", "5%%", "abc"):
        with pytest.raises(ValueError):
            parse_threshold(bad)


def test_limits_state() -> None:
    limits = Limits(warn=300, cleanup=200, critical=100)
    assert [limits.state(f) for f in (301, 300, 250, 150, 99, 0, -1)] == [
        "ok",
        "ok",
        "warn",
        "cleanup",
        "critical",
        "critical",
        "unknown",
    ]


def _config_with(tmp_path: Path, disk_toml: str) -> Path:
    return make_demo_repo(
        tmp_path / "repo", "fks-unit", services=["api"], use_git=False, extra_toml="\n[disk]\n" + disk_toml
    )


def _error(tmp_path: Path, disk_toml: str) -> str:
    path = _config_with(tmp_path, disk_toml)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}:")
    return message


def _line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if line.startswith(needle))


def test_config_refuses_a_threshold_that_is_not_a_size(tmp_path: Path) -> None:
    message = _error(tmp_path, 'warn_free = "lots"\n')
    line = _line_of(tmp_path / "repo" / "services.toml", "warn_free")
    assert message.endswith(
        f":{line}: [disk]: key 'warn_free': not a size or percentage: 'lots' (expected e.g. \"20GiB\" or \"10%\")"
    )


def test_config_refuses_percent_above_100_and_bad_keep(tmp_path: Path) -> None:
    assert "key 'critical_free': percentage above 100: '150%'" in _error(tmp_path, 'critical_free = "150%"\n')
    (tmp_path / "repo").rename(tmp_path / "old1")
    assert "key 'keep_build_cache': not a size: '5 gigs'" in _error(tmp_path, 'keep_build_cache = "5 gigs"\n')
    (tmp_path / "repo").rename(tmp_path / "old2")
    assert "key 'cleanup_free' must be a size or percentage string, got bool" in _error(
        tmp_path, "cleanup_free = true\n"
    )


def test_config_refuses_thresholds_out_of_order(tmp_path: Path) -> None:
    message = _error(tmp_path, 'warn_free = "10GiB"\ncleanup_free = "20GiB"\ncritical_free = "5GiB"\n')
    assert "[disk]: thresholds out of order: need critical_free <= cleanup_free <= warn_free" in message
    assert "cleanup_free=20GiB, warn_free=10GiB" in message
    (tmp_path / "repo").rename(tmp_path / "old")
    message = _error(tmp_path, 'warn_free = "10%"\ncleanup_free = "5%"\ncritical_free = "8%"\n')
    assert "thresholds out of order" in message and "critical_free=8%" in message


def test_config_refuses_a_missing_path(tmp_path: Path) -> None:
    message = _error(tmp_path, 'path = "no/such/dir"\n')
    line = _line_of(tmp_path / "repo" / "services.toml", "path =")
    assert message.endswith(f":{line}: [disk]: key 'path': 'no/such/dir' does not exist")


def test_config_accepts_disk_table(tmp_path: Path) -> None:
    path = _config_with(
        tmp_path,
        'path = "examples"\nwarn_free = "30%"\ncleanup_free = "20%"\ncritical_free = "10%"\n'
        'keep_build_cache = "2GiB"\ncleanup_after_build = false\ninterval = 2\n',
    )
    disk = load_config(path).disk
    assert disk.path == (tmp_path / "repo" / "examples").resolve()
    assert Limits.of(disk, 1000).state(150) == "cleanup"
    assert (disk.keep_build_cache, disk.cleanup_after_build, disk.interval) == (2 * GiB, False, 2.0)


def test_usage_from_df_counts_reclaimable() -> None:
    df = {
        "LayersSize": 1000,
        "Images": [
            {"Id": "a", "Size": 600, "SharedSize": 100, "Containers": 1},
            {"Id": "b", "Size": 400, "SharedSize": 100, "Containers": 0},
        ],
        "BuildCache": [
            {"Size": 50, "InUse": False, "Shared": False},
            {"Size": 30, "InUse": True, "Shared": False},
            {"Size": 999, "InUse": False, "Shared": True},
        ],
        "Containers": [{"SizeRw": 7, "State": "running"}, {"SizeRw": 5, "State": "exited"}],
        "Volumes": [{"UsageData": {"Size": 20, "RefCount": 0}}, {"UsageData": {"Size": -1, "RefCount": 1}}],
    }
    usage = {u.category: (u.size, u.reclaimable, u.count) for u in usage_from_df(df)}
    assert usage == {
        "images": (1000, 500, 2),
        "build cache": (80, 50, 2),
        "containers": (12, 5, 2),
        "volumes": (20, 20, 2),
    }


def _image(
    id_: str, run: str, service: str = "api", pushed: bool = False, repo: str = "reg/app", project: str = "p"
) -> dict:
    return {
        "Id": id_,
        "RepoTags": [f"{repo}:{service}-{id_}"],
        "RepoDigests": [f"{repo}@sha256:1"] if pushed else [],
        "Created": 0,
        "Size": 10,
        "SharedSize": 4,
        "Labels": {LABEL_PROJECT: project, LABEL_SERVICE: service, LABEL_RUN: run},
    }


def test_old_project_images_keeps_newest_pushed_unpushed_run_images_and_running() -> None:
    cleaner = Cleaner(DiskSettings(), "p", monitor=None, repository="reg/app")  # type: ignore[arg-type]
    images = [
        _image("old", "20260101-000000-aaaa"),
        _image("older-pushed", "20260102-000000-aaaa", pushed=True),
        _image("running", "20260103-000000-aaaa"),
        _image("this-run", "20260104-000000-cafe"),
        _image("newest-pushed", "20260105-000000-aaaa", pushed=True),
        _image("after", "20260106-000000-aaaa"),
        _image("other-service", "20260101-000000-aaaa", service="web"),  # web has nothing pushed
        _image("other-repo", "20260101-000000-aaaa", repo="reg/else"),
        _image("other-project", "20260101-000000-aaaa", project="q"),
    ]
    removable, kept = cleaner.old_project_images(
        images, Protection(frozenset(), "20260104-000000-cafe"), running={"running"}
    )
    assert sorted(i["Id"] for i in removable) == ["old", "older-pushed"]
    assert kept == [
        "reg/app:api-running (api: a running container uses it)",
        "reg/app:api-this-run (api: built in this run, not pushed)",
    ]
    # Protection by image id alone (no run id) works too.
    removable, _ = cleaner.old_project_images(images, Protection(frozenset({"old"})), running=set())
    assert sorted(i["Id"] for i in removable) == ["older-pushed", "running", "this-run"]


def _sample(free: int, state: str, reason: str = "start") -> DiskSample:
    return DiskSample(
        path="/data",
        source="config path",
        free=free,
        total=100 * GiB,
        state=state,
        warn_free=20 * GiB,
        cleanup_free=10 * GiB,
        critical_free=5 * GiB,
        reason=reason,
        usage=(DockerUsage(category="images", size=3 * GiB, reclaimable=GiB),),
    )


def _cleanup() -> CleanupFinished:
    return CleanupFinished(
        reason="before the cpu phase",
        free_before=4 * GiB,
        free_after=12 * GiB,
        target=10 * GiB,
        reached=True,
        steps=(
            CleanupStep(name="build-cache", freed=6 * GiB, reclaimed=6 * GiB, removed=40),
            CleanupStep(name="dangling-images", freed=2 * GiB, reclaimed=2 * GiB, removed=3, kept=1),
        ),
    )


def test_headless_prints_figures_at_start_end_and_each_cleanup() -> None:
    out = io.StringIO()
    printer = HeadlessPrinter(out=out)
    printer.handle(_sample(50 * GiB, "ok"))
    printer.handle(_sample(49 * GiB, "ok", reason="periodic"))  # not printed: the sparkline's
    printer.handle(_cleanup())
    printer.handle(_sample(12 * GiB, "warn", reason="end"))
    text = out.getvalue()
    assert "at start: free 50.0 GiB of 100.0 GiB (50%) at /data (config path): ok" in text
    assert "49.0 GiB" not in text
    assert "docker: images 3.0 GiB (1.0 GiB reclaimable)" in text
    assert "build-cache         freed 6.0 GiB on disk, daemon reclaimed 6.0 GiB, removed 40" in text
    assert "kept 1" in text and "free 4.0 GiB -> 12.0 GiB, back above 10.0 GiB after 2 step(s)" in text
    assert "at end: free 12.0 GiB" in text and ": warn;" in text
    assert disk_lines(object()) == []


def test_free_bar() -> None:
    assert free_bar(25, 100, 8) == "██████░░"
    assert free_bar(-1, 100, 4) == "????"


class _PanelApp(App):
    def compose(self) -> ComposeResult:
        yield DiskPanel()


async def test_disk_panel_shows_sample_state_and_cleanup() -> None:
    app = _PanelApp()
    async with app.run_test(size=(120, 10)) as pilot:
        panel = app.query_one(DiskPanel)
        panel.handle(_sample(50 * GiB, "ok", "periodic"))
        panel.handle(_sample(4 * GiB, CRITICAL, "periodic"))
        await pilot.pause()
        assert panel.has_class("-critical") and not panel.has_class("-ok")
        assert app.query_one("#disk-spark", Sparkline).data == [50.0 * GiB, 4.0 * GiB]
        top = str(app.query_one("#disk-free", Static).render())
        assert "4.0 GiB free of 100.0 GiB" in top and "CRITICAL" in top
        assert "images 3.0 GiB (1.0 GiB reclaimable)" in str(app.query_one("#disk-usage", Static).render())
        assert panel.handle(_cleanup()) and not panel.handle(object())
        await pilot.pause()
        bottom = str(app.query_one("#disk-cleanup", Static).render())
        assert "freed 8.0 GiB on disk" in bottom and "build-cache 6.0 GiB/6.0 GiB" in bottom
        assert "cleanup freed 8.0 GiB" in str(app.query_one("#disk-free", Static).render())


async def test_cleanup_confirm_answers() -> None:
    preview = CleanupPreview(
        [PreviewItem("dangling-images", "2 dangling images, 1.0 KiB", ["abc", "def"])],
        ["x (api: built in this run, not pushed)"],
        free=GiB,
        target=2 * GiB,
    )
    answers = []

    class ConfirmApp(App):
        def on_mount(self) -> None:
            self.push_screen(CleanupConfirm(preview), answers.append)

    app = ConfirmApp()
    async with app.run_test() as pilot:
        await pilot.pause()
        text = str(app.screen.query_one("#cleanup-text", Static).render())
        assert "1. dangling-images: 2 dangling images" in text and "Kept: x (api: built" in text
        await pilot.press("enter")  # the focused button is Cancel
        await pilot.pause()
        app.push_screen(CleanupConfirm("plain text"), answers.append)
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
    assert answers == [False, True]


def test_protection_between_runs_comes_from_the_last_run(tmp_path: Path) -> None:
    config = load_config(_config_with(tmp_path, ""))
    assert protection_for(None, config) == Protection()
    report = RunReport(run_id="20260101-000000-beef")
    report.services["api"] = ServiceResult("api", "cpu", status="built", image_id="sha256:unpushed")
    report.services["web"] = ServiceResult(
        "web", "cpu", status="built", image_id="sha256:pushed", push_status="pushed"
    )
    run_dir = config.state_dir / "runs" / report.run_id
    run_dir.mkdir(parents=True)
    report.save(run_dir / "run.json")
    protection = protection_for(None, config)
    assert protection == Protection(frozenset({"sha256:unpushed"}), "20260101-000000-beef")
    assert protection.protects({"Id": "x", "Labels": {LABEL_RUN: "20260101-000000-beef"}})
    assert not protection.protects({"Id": "sha256:pushed", "Labels": {LABEL_RUN: "other"}})
