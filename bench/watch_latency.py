"""Watcher latency: time from a saved file to its service being marked due, p50/p95 over 50 edits (goal 300 ms)."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fks_tui.config import load_config  # noqa: E402
from fks_tui.watcher import ServicesChanged, ServiceWatcher  # noqa: E402
from tests.conftest import make_demo_repo  # noqa: E402

GOAL_MS = 300
SERVICES = ("api", "worker", "data", "web", "ninja-api", "training", "transformer")


async def build_log_noise(repo: Path) -> None:
    """Append to a run log every 10 ms, as running builds do (it must not hold saves back)."""
    log = repo / ".fks/runs/bench/api.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        while True:
            out.write("#5 [stage 2/4] RUN step\n")
            out.flush()
            await asyncio.sleep(0.01)


async def measure(repo: Path, config_path: Path, edits: int, pause: float, noise: bool) -> list[float]:
    watcher = ServiceWatcher(load_config(config_path))
    events: asyncio.Queue[ServicesChanged] = asyncio.Queue()

    async def consume() -> None:
        async for event in watcher.watch():
            if isinstance(event, ServicesChanged):
                events.put_nowait(event)

    task = asyncio.create_task(consume())
    noise_task = asyncio.create_task(build_log_noise(repo)) if noise else None
    await asyncio.wait_for(watcher.ready.wait(), 10)
    latencies = []
    for n in range(edits):
        service = SERVICES[n % len(SERVICES)]
        started = time.perf_counter()
        (repo / "examples/fks/src/python/services" / service / "main.py").write_text(f"EDIT = {n}\n")
        event = await asyncio.wait_for(events.get(), 10)
        latencies.append((time.perf_counter() - started) * 1000)
        if service not in event.services:
            raise SystemExit(f"edit {n}: expected {service}, got {event.services}")
        watcher.clear()
        await asyncio.sleep(pause)  # separate edits, as a person saving files would
    if noise_task is not None:
        noise_task.cancel()
    watcher.stop()
    await task
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--edits", type=int, default=50)
    parser.add_argument("--pause", type=float, default=0.1, help="seconds between edits")
    parser.add_argument("--noise", action="store_true", help="while builds write their logs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fks-watch-bench-") as tmp:
        repo = Path(tmp) / "repo"
        config_path = make_demo_repo(repo, "fks-bench-watch")
        latencies = asyncio.run(measure(repo, config_path, args.edits, args.pause, args.noise))
    quantiles = statistics.quantiles(latencies, n=20)
    p50, p95 = statistics.median(latencies), quantiles[18]
    print(
        f"watch latency over {len(latencies)} edits{' with build-log noise' if args.noise else ''}: p50 {p50:.0f} ms, p95 {p95:.0f} ms, "
        f"max {max(latencies):.0f} ms (goal: p95 under {GOAL_MS} ms)"
    )
    return 0 if p95 <= GOAL_MS else 1


if __name__ == "__main__":
    sys.exit(main())
