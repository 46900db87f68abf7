"""Dashboard load test: a recorded build stream scaled to 1,000,000 log lines across 8 services, fed headless.

Usage: python bench/dashboard.py [--lines 1000000] [--batch 20] [--size 120x36]
Prints lines/s ingested by the app, its peak RSS and the worst keypress latency during the flood
(targets: >= 50,000 lines/s, < 250 MB, < 100 ms). Needs no Docker: the engine is a replaying fake.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual import events as textual_events  # noqa: E402

from fks_tui import events as ev  # noqa: E402
from fks_tui.app import FksApp  # noqa: E402
from fks_tui.testing import FakeEngine, load_events  # noqa: E402
from tests.conftest import make_demo_repo  # noqa: E402

RECORDING = ROOT / "tests" / "data" / "demo_run.jsonl.gz"
KEY_INTERVAL = 0.05  # seconds between simulated keypresses during the flood


def scaled_stream(
    recorded: list[ev.Event], services: list[tuple[str, str]], total_lines: int, batch: int
) -> Iterator[ev.Event]:
    """The recorded run's shape with every service building at once and total_lines of real log text.

    Lines are generated lazily (the same recorded strings reused), so the feeder holds no big list.
    """
    text = [line for e in recorded if isinstance(e, ev.LogLines) for line in e.lines] or ["#1 DONE 0.0s"]
    start = recorded[0]
    assert isinstance(start, ev.RunStarted)
    plan = tuple(ev.PlannedService(name=n, kind=k, due=True, reason="forced") for n, k in services)
    yield ev.RunStarted(
        run_id="bench", run_dir="", config_path="", git_sha="", services=plan, push_mode="off"
    )
    yield ev.PhaseStarted(phase=ev.Phase.CPU, services=tuple(n for n, _ in services))
    for name, kind in services:
        yield ev.ServiceStarted(service=name, kind=kind, argv=(), log_path="")
    lines = itertools.cycle(text)
    batches = total_lines // batch
    steps = 20
    for i in range(batches):
        name = services[i % len(services)][0]
        yield ev.LogLines(service=name, lines=tuple(itertools.islice(lines, batch)))
        if i % 16 == 0:
            done = min(steps, i * steps // batches)
            yield ev.BuildProgress(
                service=name,
                steps_done=done,
                steps_total=steps,
                cached_steps=0,
                current_step=f"[final {done}/{steps}] RUN compile",
            )
    for name, kind in services:
        yield ev.ServiceFinished(
            service=name, kind=kind, status=ev.BuildStatus.BUILT, duration=1.0, steps_total=steps
        )
    yield ev.PhaseFinished(phase=ev.Phase.CPU)
    yield ev.RunFinished(run_id="bench", wall_time=1.0)


class BenchApp(FksApp):
    """The dashboard, noting when each simulated keypress is answered."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.key_sent: list[float] = []
        self.latencies: list[float] = []

    def action_move(self, delta: int) -> None:
        if self.key_sent:
            self.latencies.append(time.perf_counter() - self.key_sent.pop(0))
        super().action_move(delta)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(
    total_lines: int, batch: int, size: tuple[int, int], all_logs: bool, rate: float = 0.0
) -> dict[str, float]:
    recorded = load_events(RECORDING)
    with tempfile.TemporaryDirectory() as work:
        config = make_demo_repo(Path(work) / "repo", "127.0.0.1:5000/fks-bench", use_git=False)
        from fks_tui.config import load_config

        services = [(s.name, s.kind) for s in load_config(config).services]
        stream = scaled_stream(recorded, services, total_lines, batch)
        # rate 0: as fast as the app takes them; else sleep between batches to deliver `rate` lines/s.
        delay = batch / rate if rate else 0.0
        app = BenchApp(
            config, engine_factory=FakeEngine.factory(stream, delay=delay), docker_check=lambda: None
        )
        async with app.run_test(headless=True, size=size) as pilot:
            if all_logs:
                app.action_all_logs()
            await pilot.pause(0.2)
            rss_before = peak_rss_mb()
            started = time.perf_counter()
            app.action_build()
            next_key = started
            while app.running:
                now = time.perf_counter()
                if now >= next_key and not app.key_sent:
                    app.key_sent.append(now)
                    app.post_message(textual_events.Key("j", "j"))
                    next_key = now + KEY_INTERVAL
                await asyncio.sleep(0.005)
            elapsed = time.perf_counter() - started
            ingested = app.live_log.lines_seen
            await pilot.pause(0.2)
    return {
        "lines": ingested,
        "seconds": elapsed,
        "lines_per_s": ingested / elapsed,
        "rss_mb": peak_rss_mb(),
        "rss_before_mb": rss_before,
        "keys": len(app.latencies),
        "key_worst_ms": max(app.latencies, default=float("nan")) * 1000,
        "key_p50_ms": statistics.median(app.latencies) * 1000 if app.latencies else float("nan"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=20, help="lines per engine LogLines event")
    parser.add_argument("--size", default="120x36", help="terminal size, WxH")
    parser.add_argument("--all-logs", action="store_true", help="show every service's log (the 'a' view)")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="lines/s to deliver (default: as fast as taken)"
    )
    args = parser.parse_args()
    width, height = (int(x) for x in args.size.split("x"))
    result = asyncio.run(run(args.lines, args.batch, (width, height), args.all_logs, args.rate))
    print(
        f"ingested {result['lines']:,} lines in {result['seconds']:.1f}s: "
        f"{result['lines_per_s']:,.0f} lines/s (target >= 50,000)"
    )
    print(
        f"peak RSS {result['rss_mb']:.0f} MB (before the flood {result['rss_before_mb']:.0f} MB; target < 250)"
    )
    print(
        f"keypresses during the flood: {result['keys']}, worst {result['key_worst_ms']:.0f} ms, "
        f"median {result['key_p50_ms']:.0f} ms (target < 100 ms)"
    )
    if args.rate:
        ok = result["rss_mb"] < 250 and result["key_worst_ms"] < 100 and result["lines"] >= args.lines
        return 0 if ok else 1
    ok = (
        result["lines_per_s"] >= 50_000
        and result["rss_mb"] < 250
        and result["key_worst_ms"] < 100
        and result["lines"] >= args.lines
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
