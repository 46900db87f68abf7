"""Command line: the dashboard, headless builds for CI, push, check, bake-file."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from . import __version__
from .bake import bake_definition
from .config import Config, ConfigError, load_config
from .engine import Engine, EngineOptions, latest_run_dir, push_pending, runs_dir
from .gitinfo import template_values
from .headless import HeadlessPrinter
from .plan import PlanError, make_plan
from .preflight import check_docker
from .report import render_text

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad command-line input; printed as one line, exit 2."""


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", default=os.environ.get("FKS_CONFIG", "services.toml"),
                        help="path to services.toml (default: ./services.toml, or $FKS_CONFIG)")


def _kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    bad = [k for k in kinds if k not in ("cpu", "gpu")]
    if bad or not kinds:
        raise argparse.ArgumentTypeError(f"--kinds takes cpu, gpu or cpu,gpu (got {text!r})")
    return kinds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fks-tui", description=__doc__)
    parser.add_argument("--version", action="version", version=f"fks-tui {__version__}")
    sub = parser.add_subparsers(dest="command")

    build = sub.add_parser("build", help="build due services (CPU phase, GPU phase), then push")
    _config_arg(build)
    build.add_argument("--headless", action="store_true", help="no dashboard: line-oriented output for CI")
    build.add_argument("--force", nargs="+", default=[], metavar="SERVICE", help="force-rebuild these services")
    build.add_argument("--force-all", action="store_true", help="force-rebuild every enabled service")
    build.add_argument("--kinds", type=_kinds, default=("cpu", "gpu"), help="cpu, gpu or cpu,gpu (default)")
    build.add_argument("--no-push", action="store_true", help="build only; push later with 'fks-tui push'")
    build.add_argument("--push-mode", choices=("batch", "eager", "off"), help="override [build] push")
    build.add_argument("--report-json", type=Path, metavar="FILE", help="write the run report as JSON")
    build.add_argument("--quiet-logs", action="store_true", help="headless: print step results, not logs")

    push = sub.add_parser("push", help="push what the last run built but could not push")
    _config_arg(push)
    push.add_argument("--run", help="run id (default: the last run)")

    check = sub.add_parser("check", help="validate services.toml and check the Docker daemon and buildx")
    _config_arg(check)
    check.add_argument("--no-docker", action="store_true", help="validate the file only")

    bake = sub.add_parser("bake-file", help="print a docker buildx bake JSON file for services.toml")
    _config_arg(bake)
    bake.add_argument("--kinds", type=_kinds, default=("cpu", "gpu"))
    return parser


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


async def _run_engine(engine: Engine, plan, printer: HeadlessPrinter) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, engine.cancel)
    try:
        async for event in engine.stream(plan):
            printer.handle(event)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def cmd_build(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if not args.headless:
        raise UsageError("the dashboard is not available in this build; use 'fks-tui build --headless'")
    values = template_values(config.root)
    try:
        plan = make_plan(config, force=args.force, force_all=args.force_all, kinds=args.kinds, values=values)
    except PlanError as error:
        raise UsageError(str(error)) from None
    problem = check_docker()
    if problem:
        raise UsageError(problem)
    push_mode = "off" if args.no_push else args.push_mode
    engine = Engine(config, EngineOptions(push_mode=push_mode, values=values))
    printer = HeadlessPrinter(show_logs=not args.quiet_logs)
    asyncio.run(_run_engine(engine, plan, printer))
    report = engine.report
    print()
    print(render_text(report))
    if args.report_json:
        args.report_json.parent.mkdir(parents=True, exist_ok=True)
        args.report_json.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    if report.cancelled:
        return EXIT_CANCELLED
    return EXIT_OK if report.ok(push_required=engine.push_mode != "off") else EXIT_FAILED


def cmd_push(args: argparse.Namespace) -> int:
    config = _load(args.config)
    run_dir = runs_dir(config) / args.run if args.run else latest_run_dir(config)
    if run_dir is None or not (run_dir / "run.json").is_file():
        raise UsageError(f"no recorded run {'named ' + repr(args.run) + ' ' if args.run else ''}"
                         f"in {runs_dir(config)}: run 'fks-tui build' first")
    problem = check_docker()
    if problem:
        raise UsageError(problem)
    printer = HeadlessPrinter()
    report = asyncio.run(push_pending(config, run_dir, emit=printer.handle))
    failed = [s for s in report.built if s.needs_push]
    pushed = [s for s in report.built if not s.needs_push]
    print(f"run {report.run_id}: {len(pushed)} pushed, {len(failed)} not pushed")
    return EXIT_FAILED if failed else EXIT_OK


COMMANDS = {"build": cmd_build, "push": cmd_push, "check": cmd_check, "bake-file": cmd_bake_file}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return COMMANDS[args.command](args)
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
