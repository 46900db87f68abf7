"""Benchmark: the demo built cold three ways in one run: one at a time, fks-tui's phases, and buildx bake.

Usage: python bench/concurrency.py [--config services.toml] [--rounds N]
Needs the real stack (scripts/stack up). Each way starts from an empty build cache and without the
demo images, so all three pay for the same work. Pushing is off: this measures builds only.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fks_tui.bake import bake_definition  # noqa: E402
from fks_tui.config import Config, load_config  # noqa: E402
from fks_tui.engine import Engine, EngineOptions  # noqa: E402
from fks_tui.gitinfo import template_values  # noqa: E402
from fks_tui.plan import make_plan  # noqa: E402


def cold(config: Config, values) -> None:
    """Empty the build cache and remove the demo's images so the next build starts cold."""
    for service in config.services:
        subprocess.run(["docker", "rmi", "-f", *service.tags(values)], capture_output=True, check=False)
    subprocess.run(["docker", "image", "prune", "-f"], capture_output=True, check=False)
    subprocess.run(["docker", "builder", "prune", "-af"], capture_output=True, check=True)


PHASE_WALLS: dict[str, float] = {}


def phase_wall(report, kind: str) -> float:
    ran = [s for s in report.of_kind(kind) if s.started and s.duration]
    if not ran:
        return 0.0
    return max(s.started + s.duration for s in ran) - min(s.started for s in ran)


async def run_engine(config: Config, values) -> tuple[float, int]:
    engine = Engine(config, EngineOptions(push_mode="off", values=values))
    started = time.monotonic()
    async for _ in engine.stream(make_plan(config, force_all=True, values=values)):
        pass
    wall = time.monotonic() - started
    failed = len(engine.report.failed)
    PHASE_WALLS.update(cpu=phase_wall(engine.report, "cpu"), gpu=phase_wall(engine.report, "gpu"))
    return wall, failed


def one_at_a_time(config: Config) -> Config:
    build = dataclasses.replace(config.build, cpu_parallelism=1, gpu_parallelism=1)
    return dataclasses.replace(config, build=build)


def run_bake(config: Config, values) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        bake_file = Path(tmp) / "bake.json"
        bake_file.write_text(json.dumps(bake_definition(config, values)))
        started = time.monotonic()
        result = subprocess.run(
            ["docker", "buildx", "bake", "--progress=quiet", "-f", str(bake_file)],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.monotonic() - started
    return wall, 0 if result.returncode == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "services.toml"))
    parser.add_argument("--rounds", type=int, default=1, help="repeat and report medians")
    args = parser.parse_args()
    config = load_config(args.config)
    values = template_values(config.root)
    services = [s for s in config.services if s.enabled]
    print(
        f"{len(services)} services ({sum(s.kind == 'cpu' for s in services)} cpu, "
        f"{sum(s.kind == 'gpu' for s in services)} gpu), cold cache before each way, push off"
    )
    ways = {
        "one at a time": lambda: asyncio.run(run_engine(one_at_a_time(config), values)),
        "fks-tui phases": lambda: asyncio.run(run_engine(config, values)),
        "buildx bake": lambda: run_bake(config, values),
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    for round_number in range(args.rounds):
        for name, way in ways.items():
            cold(config, values)
            wall, failed = way()
            times[name].append(wall)
            status = "ok" if not failed else f"{failed} failed"
            print(f"  round {round_number + 1}: {name:<15} {wall:6.1f}s  ({status})", flush=True)
    cold(config, values)
    median = {name: statistics.median(values) for name, values in times.items()}
    print()
    for name, wall in median.items():
        print(f"{name:<15} {wall:6.1f}s")
    print(
        f"speedup of fks-tui over one at a time: {median['one at a time'] / median['fks-tui phases']:.2f}x "
        "(target >= 3x)"
    )
    print(
        f"fks-tui phases (last round): CPU {PHASE_WALLS['cpu']:.1f}s then GPU {PHASE_WALLS['gpu']:.1f}s; "
        "bake builds both kinds in one graph, so it overlaps them"
    )
    print(
        f"fks-tui against buildx bake:           {median['fks-tui phases'] / median['buildx bake']:.2f}x "
        "(target <= 1.15x; bake stops every target at the first failure, fks-tui does not)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
