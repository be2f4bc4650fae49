"""What the agent itself costs: its CPU (share of one core) and resident memory while idle, with nginx on
loopback answering about 1k and 10k requests/s, and at saturation; with --before, the agent of another
commit measured the same way in the same run.

    sudo .venv/bin/python -m benchmarks.agent_cost [--seconds 5] [--before GIT_REF]

The rates are wrk's real ones (benchmarks/load.py paces it). RSS is read at the end of each level.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

from benchmarks import overhead, side_by_side
from benchmarks.process_cpu import cpu_seconds
from benchmarks.load import Load, wrk
from tests.helpers.servers import running_nginx

# level -> wrk setting; None: no load. Paced connections wait 4 ms between requests (about 200/s each here).
LEVELS: dict[str, Load | None] = {
    "idle": None,
    "about 1k requests/s": Load(connections=5, delay_ms=4),
    "about 10k requests/s": Load(connections=50, delay_ms=4),
    "saturation": Load(connections=8),
}


@dataclass
class Cost:
    rate: float          # requests/s wrk made (0 idle)
    cpu_share: float     # the agent's user + system time over the wall time, in cores
    rss_mb: float


def measure_level(process, port: int, load: Load | None, seconds: float) -> Cost:
    cpu, started = cpu_seconds(process.pid), time.monotonic()
    if load is None:
        time.sleep(seconds)   # idle: the agent's own drains, nothing else
        requests = 0
    else:
        requests, _ = wrk(port, seconds, load)
    wall = time.monotonic() - started
    return Cost(requests / wall, (cpu_seconds(process.pid) - cpu) / wall, overhead.rss_mb(process.pid))


def measure(seconds: float, before: str | None) -> dict[str, dict[str, Cost]]:
    """tree -> level -> cost. One agent at a time: a second process mapping the compiler's libraries would
    keep their pages resident in both (tracer/capture/compiler_memory.py)."""
    trees = side_by_side.trees(before)
    results: dict[str, dict[str, Cost]] = {tree: {} for tree in trees}
    with running_nginx() as nginx:
        for tree, root in trees.items():
            with side_by_side.agent(l7=True, root=root) as (process, _):
                time.sleep(seconds)   # past the start: the first drains settle the graph
                for level, load in LEVELS.items():
                    results[tree][level] = measure_level(process, nginx.port, load, seconds)
                    print(f"{tree}, {level}: {results[tree][level]}", flush=True)
    return results


def report(results: dict[str, dict[str, Cost]]) -> str:
    lines = [f"{'agent':18} {'level':22} {'req/s':>8} {'CPU % of a core':>16} {'RSS MB':>7}"]
    for tree, levels in results.items():
        for level, cost in levels.items():
            lines.append(f"{tree:18} {level:22} {cost.rate:8.0f} {cost.cpu_share * 100:16.1f} {cost.rss_mb:7.0f}")
    return "\n".join(lines)


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=int, default=5, help="length of each level (default 5)")


def main(argv: list[str] | None = None) -> int:
    return side_by_side.run(__doc__, argv, options, lambda args, before: report(measure(args.seconds, before)))


if __name__ == "__main__":
    sys.exit(main())

