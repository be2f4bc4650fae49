"""What a sock length hook costs its caller beyond what the BPF accounting shows: the CPU time of one socket call,
untraced, under the floor's empty programs with the sock length hooks as raw tracepoints (the agent's), and
with them as classic tracepoints (the agent's without BTF).

    sudo .venv/bin/python -m benchmarks.hook_cost [--rounds 7] [--calls 200000]

The calls are 1-byte sends and receives on a Unix socket pair in this process: each fires one sock length hook,
for every socket family. Their CPU time (user and system, `time.process_time`) per call, minus the untraced
arm's in the same round, is what the hook costs: the program's run and the kernel's work around it, such as
the event record a classic tracepoint fills first, which no program's run time includes. The rounds alternate
the arms; medians of per-round differences are printed. At nginx's saturation the same costs hide in about 20
µs of CPU per request (benchmarks/overhead.py).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import sys
import time

from benchmarks.overhead import at_least_one, floor

ARMS = {"untraced": None, "floor, raw tracepoints": False, "floor, classic tracepoints": True}


def ns_per_call(calls: int) -> float:
    """CPU ns per socket call of `calls` sends and as many receives of one byte."""
    a, b = socket.socketpair()
    with a, b:
        start = time.process_time_ns()
        for _ in range(calls):
            a.send(b"x")
            b.recv(1)
        return (time.process_time_ns() - start) / (2 * calls)


def arm_run(classic: bool | None, calls: int) -> float:
    with floor(classic) if classic is not None else contextlib.nullcontext():
        return ns_per_call(calls)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=at_least_one, default=7)
    parser.add_argument("--calls", type=at_least_one, default=200_000, help="sends (and receives) per arm and round")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("needs root: loads BPF programs")
    rounds = []
    for n in range(args.rounds):
        rounds.append({arm: arm_run(classic, args.calls) for arm, classic in ARMS.items()})
        print(f"round {n + 1}: " + ", ".join(f"{arm} {ns:.0f} ns" for arm, ns in rounds[-1].items()), flush=True)
    print(f"{'arm':28} {'CPU ns per call':>15} {'added':>6}")
    for arm in ARMS:
        ns = statistics.median(r[arm] for r in rounds)
        added = statistics.median(r[arm] - r["untraced"] for r in rounds)
        print(f"{arm:28} {ns:15.0f} {added:6.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
