"""BPF time per HTTP/2 request: h2load against nginx over h2c on loopback, with the agent (L7 on) of this tree
and, with --before, of another commit, the two in turn in each round (A B A B ...).

    sudo .venv/bin/python -m benchmarks.http2_cost [--rounds 3] [--requests 20000] [--before GIT_REF]

Each run starts the agent, waits until it has verified all its programs, and runs h2load (4 connections, 10
streams at once on each) with the kernel's run-time accounting on: the run time of every program the agent
holds, per request, covers both ends of each request, h2load's and nginx's. The HTTP/2 parser runs as a tail
call of the sock length hooks, in their run time (the accounting counts a program entered from a hook, not
one entered by a tail call). benchmarks/overhead.py measures the same for HTTP/1 under wrk.
"""
from __future__ import annotations

import argparse
import re
import statistics
import subprocess

from benchmarks import bpf_programs, side_by_side
from tests.helpers.servers import running_nginx

H2LOAD = "/usr/bin/h2load"
CONNECTIONS, STREAMS = 4, 10


def h2load(port: int, requests: int) -> int:
    """Requests h2load completed against nginx's /ok."""
    out = subprocess.run([H2LOAD, "-n", str(requests), "-c", str(CONNECTIONS), "-m", str(STREAMS),
                          f"http://127.0.0.1:{port}/ok"], check=True, capture_output=True, text=True,
                         timeout=300).stdout
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done", out)
    if not done:
        raise RuntimeError(f"cannot read h2load's output:\n{out}")
    return int(done[1])


def run(root: str, port: int, requests: int) -> float:
    """BPF ns per request of all the agent's programs, the agent of the tree at root."""
    with side_by_side.agent(l7=True, root=root) as (process, url):
        side_by_side.wait_settled(url)
        done, programs = bpf_programs.measured(process.pid, lambda: h2load(port, requests))
    return sum(p.run_time_ns for p in programs) / done


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=20000, help="requests per run")


def benchmark(args: argparse.Namespace, before: str | None) -> str:
    results: dict[str, list[float]] = {title: [] for title in side_by_side.trees(before)}
    with running_nginx(" http2", prefix="http2-cost-") as nginx:
        for n in range(args.rounds):
            for title, root in side_by_side.trees(before).items():
                results[title].append(run(root, nginx.port, args.requests))
            print(f"round {n + 1}: " + ", ".join(f"{title} {runs[-1]:.0f} ns" for title, runs in results.items()),
                  flush=True)
    lines = ["| agent | BPF ns per request, median | runs |", "|---|---|---|"]
    lines += [f"| {title} | {statistics.median(runs):.0f} | {', '.join(f'{ns:.0f}' for ns in runs)} |"
              for title, runs in results.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return side_by_side.run(__doc__, argv, options, benchmark)


if __name__ == "__main__":
    raise SystemExit(main())
