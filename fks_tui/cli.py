"""Command line: the dashboard, headless builds for CI, push, check, bake-file, report, history."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import humanize

from . import __version__, github
from .bake import bake_definition
from .config import Config, ConfigError, load_config
from .disk import DiskGuard
from .engine import Engine, EngineOptions, latest_run_dir, push_pending, runs_dir
from .gitinfo import template_values
from .headless import HeadlessPrinter
from .history import SLOW_FACTOR, History, HistoryError, HistoryRecorder, format_time, sparkline
from .plan import PlanError, compute_plan, make_plan
from .preflight import check_docker
from .report import RunReport, render_markdown, render_text

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad command-line input; printed as one line, exit 2."""


def _config_arg(parser: argparse.ArgumentParser, top_level: bool = False) -> None:
    # Subcommands must not overwrite a --config given before them (`fks-tui -c X dashboard`).
    default = os.environ.get("FKS_CONFIG", "services.toml") if top_level else argparse.SUPPRESS
    parser.add_argument(
        "--config",
        "-c",
        default=default,
        help="path to services.toml (default: ./services.toml, or $FKS_CONFIG)",
    )


def _auto_build_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--auto-build",
        action="store_true",
        default=argparse.SUPPRESS,
        help="dashboard: start with auto-build on (the w key)",
    )


def _kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    bad = [k for k in kinds if k not in ("cpu", "gpu")]
    if bad or not kinds:
        raise argparse.ArgumentTypeError(f"--kinds takes cpu, gpu or cpu,gpu (got {text!r})")
    return kinds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fks-tui", description=__doc__)
    parser.add_argument("--version", action="version", version=f"fks-tui {__version__}")
    _config_arg(parser, top_level=True)  # for the dashboard, which `fks-tui` alone opens
    _auto_build_arg(parser)
    sub = parser.add_subparsers(dest="command")

    dashboard = sub.add_parser("dashboard", help="open the dashboard (the default without a command)")
    _config_arg(dashboard)
    _auto_build_arg(dashboard)

    build = sub.add_parser("build", help="build due services (CPU phase, GPU phase), then push")
    _config_arg(build)
    build.add_argument("--headless", action="store_true", help="no dashboard: line-oriented output for CI")
    _auto_build_arg(build)
    build.add_argument(
        "--force", nargs="+", default=[], metavar="SERVICE", help="force-rebuild these services"
    )
    build.add_argument("--force-all", action="store_true", help="force-rebuild every enabled service")
    build.add_argument("--kinds", type=_kinds, default=("cpu", "gpu"), help="cpu, gpu or cpu,gpu (default)")
    build.add_argument("--no-push", action="store_true", help="build only; push later with 'fks-tui push'")
    build.add_argument("--push-mode", choices=("batch", "eager", "off"), help="override [build] push")
    build.add_argument("--report-json", type=Path, metavar="FILE", help="write the run report as JSON")
    build.add_argument("--quiet-logs", action="store_true", help="headless: print step results, not logs")
    build.add_argument(
        "--base",
        metavar="REF",
        help="build services changed since REF (default: [build] base_ref, "
        "else each service's last successful build)",
    )

    push = sub.add_parser("push", help="push what the last run built but could not push")
    _config_arg(push)
    push.add_argument("--run", help="run id (default: the last run)")

    check = sub.add_parser("check", help="validate services.toml and check the Docker daemon and buildx")
    _config_arg(check)
    check.add_argument("--no-docker", action="store_true", help="validate the file only")

    bake = sub.add_parser("bake-file", help="print a docker buildx bake JSON file for services.toml")
    _config_arg(bake)
    bake.add_argument("--kinds", type=_kinds, default=("cpu", "gpu"))

    plan = sub.add_parser("plan", help="show which services are due and why, without building")
    _config_arg(plan)
    plan.add_argument(
        "--base",
        metavar="REF",
        help="compare with REF (default: [build] base_ref, else each service's last successful build)",
    )
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")

    report = sub.add_parser("report", help="print the report of a past run (default: the last)")
    _config_arg(report)
    report.add_argument(
        "run", nargs="?", help="run id, or a run.json / --report-json file (default: last run)"
    )
    report.add_argument("--format", choices=("text", "json", "markdown"), default="text")

    history = sub.add_parser("history", help="list recorded runs, or one service's build trend")
    _config_arg(history)
    history.add_argument("--service", metavar="NAME", help="the trend of one service's builds")
    history.add_argument(
        "--limit", type=_positive, default=20, metavar="N", help="how many rows (default 20)"
    )
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"--limit takes a positive integer (got {text!r})")
    return value


def _load(path: str) -> Config:
    return load_config(Path(path))


def cmd_check(args: argparse.Namespace) -> int:
    config = _load(args.config)
    kinds = {k: sum(s.kind == k for s in config.services) for k in ("cpu", "gpu")}
    print(f"{config.path}: ok, {len(config.services)} services ({kinds['cpu']} cpu, {kinds['gpu']} gpu)")
    if not args.no_docker:
        problem = check_docker()
        if problem:
            print(f"fks-tui: error: {problem}", file=sys.stderr)
            return EXIT_USAGE
        print("docker daemon and buildx: ok")
    return EXIT_OK


def cmd_bake_file(args: argparse.Namespace) -> int:
    config = _load(args.config)
    json.dump(bake_definition(config, template_values(config.root), args.kinds), sys.stdout, indent=2)
    print()
    return EXIT_OK


async def _run_engine(engine: Engine, plan, printer: HeadlessPrinter, *others) -> None:
    """Run the plan, handing every event to the printer and to other consumers (the history)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, engine.cancel)
    try:
        async for event in engine.stream(plan):
            for consumer in others:
                consumer.handle(event)
            printer.handle(event)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _warn(message: str) -> None:
    print(f"fks-tui: warning: {message}", file=sys.stderr)


def cmd_plan(args: argparse.Namespace) -> int:
    config = _load(args.config)
    history = _open_history(config)  # each service's last successful build is its default base
    try:
        plan = compute_plan(config, values=template_values(config.root), base=args.base, history=history)
    except PlanError as error:
        raise UsageError(str(error)) from None
    finally:
        if history:
            history.close()
    if args.json:
        json.dump(plan.to_dict(), sys.stdout, indent=2)
        print()
        return EXIT_OK
    for message in plan.warnings:
        _warn(message)
    width = max(len(s.name) for s in plan.services)
    for entry in plan.services:
        print(f"{entry.name:<{width}}  {entry.kind}  {'due ' if entry.due else 'skip'}  {entry.reason}")
    print(f"{len(plan.due)} of {len(plan.services)} services due")
    return EXIT_OK


def cmd_dashboard(args: argparse.Namespace) -> int:
    """The dashboard opens even with a broken config or no daemon: it shows a banner with the fix."""
    from .app import FksApp

    app = FksApp(
        args.config,
        force=getattr(args, "force", ()),
        force_all=getattr(args, "force_all", False),
        kinds=getattr(args, "kinds", ("cpu", "gpu")),
        auto_build=getattr(args, "auto_build", False),
    )
    result = app.run()
    return result if isinstance(result, int) else EXIT_OK


def cmd_build(args: argparse.Namespace) -> int:
    if not args.headless:
        return cmd_dashboard(args)
    config = _load(args.config)
    history = _open_history(config)  # also the change-detection base: each service's last success
    try:
        return _build_headless(args, config, history)
    finally:
        if history:
            history.close()


def _build_headless(args: argparse.Namespace, config: Config, history: History | None) -> int:
    values = template_values(config.root)
    try:
        plan = make_plan(
            config,
            force=args.force,
            force_all=args.force_all,
            kinds=args.kinds,
            values=values,
            base=args.base,
            warn=_warn,
            history=history,
        )
    except PlanError as error:
        raise UsageError(str(error)) from None
    problem = check_docker()
    if problem:
        raise UsageError(problem)
    push_mode = "off" if args.no_push else args.push_mode
    trigger = github.trigger_from_env()
    engine = Engine(
        config, EngineOptions(push_mode=push_mode, values=values, trigger=trigger), hooks=DiskGuard(config)
    )
    medians = history.medians([p.name for p in plan if p.due]) if history else {}
    printer = HeadlessPrinter(
        show_logs=not args.quiet_logs, github_actions=github.in_actions(), medians=medians
    )
    recorder = HistoryRecorder(history) if history else None
    asyncio.run(_run_engine(engine, plan, printer, *([recorder] if recorder else [])))
    if recorder and recorder.failed:
        print(f"fks-tui: warning: build history not fully recorded: {recorder.error}", file=sys.stderr)
    report = engine.report
    print()
    print(render_text(report))
    if args.report_json:
        args.report_json.parent.mkdir(parents=True, exist_ok=True)
        args.report_json.write_text(report.to_json(), encoding="utf-8")
    try:
        github.append_step_summary(render_markdown(report))
    except OSError as error:
        print(f"fks-tui: warning: cannot write GITHUB_STEP_SUMMARY: {error}", file=sys.stderr)
    if report.cancelled:
        return EXIT_CANCELLED
    return EXIT_OK if report.ok(push_required=engine.push_mode != "off") else EXIT_FAILED


def cmd_push(args: argparse.Namespace) -> int:
    config = _load(args.config)
    run_dir = _recorded_run(config, args.run)
    problem = check_docker()
    if problem:
        raise UsageError(problem)
    printer = HeadlessPrinter()
    report = asyncio.run(push_pending(config, run_dir, emit=printer.handle))
    failed = [s for s in report.built if s.needs_push]
    pushed = [s for s in report.built if not s.needs_push]
    print(f"run {report.run_id}: {len(pushed)} pushed, {len(failed)} not pushed")
    return EXIT_FAILED if failed else EXIT_OK


def _open_history(config: Config) -> History | None:
    """The build history; a build still runs (with a warning) when the database cannot be opened."""
    try:
        return History.for_state_dir(config.state_dir)
    except HistoryError as error:
        print(f"fks-tui: warning: {error}; this run is not recorded", file=sys.stderr)
        return None


def _recorded_run(config: Config, run: str | None) -> Path:
    """The directory of run `run` (None: the last run); UsageError when it has no run.json."""
    run_dir = runs_dir(config) / run if run else latest_run_dir(config)
    if run_dir is None or not (run_dir / "run.json").is_file():
        raise UsageError(
            f"no recorded run {'named ' + repr(run) + ' ' if run else ''}"
            f"in {runs_dir(config)}: run 'fks-tui build' first"
        )
    return run_dir


def _report_source(config_path: str, run: str | None) -> Path:
    """The run.json a `report` argument names: a file, a run id, or (None) the last run."""
    if run and Path(run).is_file():
        return Path(run)
    return _recorded_run(_load(config_path), run) / "run.json"


def cmd_report(args: argparse.Namespace) -> int:
    source = _report_source(args.config, args.run)
    try:
        report = RunReport.load(source)
    except (OSError, ValueError, TypeError, AttributeError) as error:
        raise UsageError(f"{source}: not a run report: {error}") from None
    if args.format == "json":
        sys.stdout.write(report.to_json())
    elif args.format == "markdown":
        print(render_markdown(report))
    else:
        print(render_text(report))
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    config = _load(args.config)
    try:
        history = History.for_state_dir(config.state_dir)
    except HistoryError as error:
        raise UsageError(str(error)) from None
    with history:
        if args.service:
            _print_service_trend(history, args.service, args.limit)
        else:
            _print_runs(history, config, args.limit)
    return EXIT_OK


def _print_runs(history: History, config: Config, limit: int) -> None:
    runs = history.runs(limit)
    if not runs:
        print(f"no runs recorded in {history.path}")
        return
    print(
        f"{'run':<24} {'started':<19} {'status':<11} {'trigger':<7} {'commit':<7} {'built':>5} "
        f"{'failed':>6} {'wall':>8}"
    )
    for run in runs:
        wall = f"{run.wall_time:.1f}s" if run.wall_time is not None else "-"
        print(
            f"{run.id:<24} {format_time(run.started):<19} {run.status:<11} {run.trigger:<7} "
            f"{run.git_sha[:7]:<7} {run.built:>5} {run.failed:>6} {wall:>8}"
        )
    print()
    names = [s.name for s in config.services] + [
        n for n in history.services() if config.unknown_services([n])
    ]
    print(f"{'service':<16} {'median':>8} {'last':>8}  trend (last 20 successful builds)")
    for name in names:
        values = history.durations(name, 20)
        median = history.median_duration(name)
        if not values or median is None:
            print(f"{name:<16} {'-':>8} {'-':>8}  no successful build yet")
            continue
        slow = "  slower than usual" if values[-1] > SLOW_FACTOR * median else ""
        print(f"{name:<16} {median:>7.1f}s {values[-1]:>7.1f}s  {sparkline(values)}{slow}")


def _print_service_trend(history: History, name: str, limit: int) -> None:
    rows = history.service_trend(name, limit)
    if not rows:
        raise UsageError(f"no builds of {name!r} recorded in {history.path}")
    values = history.durations(name, 20)
    median = history.median_duration(name, 10)
    print(
        f"{name}: median {median:.1f}s of the last {min(len(values), 10)} successful builds, "
        f"trend {sparkline(values)}"
        if median is not None
        else f"{name}: no successful build yet"
    )
    print(
        f"last success at commit {(history.last_success_sha(name) or '-')[:12]}, "
        f"last result {history.last_status(name) or '-'}"
    )
    print(
        f"{'run':<24} {'started':<19} {'status':<11} {'commit':<7} {'duration':>9} {'cached':>7} {'size':>9}"
    )
    for row in rows:
        duration = f"{row.duration:.1f}s" if row.duration is not None else "-"
        if row.status == "built" and median and row.duration and row.duration > SLOW_FACTOR * median:
            duration += "!"
        cached = f"{row.cached_steps}/{row.steps_total}" if row.steps_total else "-"
        size = humanize.naturalsize(row.image_size) if row.image_size else "-"
        print(
            f"{row.run_id:<24} {format_time(row.started):<19} {row.status:<11} {row.git_sha[:7]:<7} "
            f"{duration:>9} {cached:>7} {size:>9}"
        )


COMMANDS = {
    "dashboard": cmd_dashboard,
    "build": cmd_build,
    "plan": cmd_plan,
    "push": cmd_push,
    "check": cmd_check,
    "bake-file": cmd_bake_file,
    "report": cmd_report,
    "history": cmd_history,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command or "dashboard"](args)
    except ConfigError as error:
        print(f"fks-tui: config error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as error:
        print(f"fks-tui: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_CANCELLED
    except BrokenPipeError:  # e.g. `fks-tui bake-file | head`
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
