"""Runs the overhead benchmark with the previous design beside the current one, and the profile, and writes
docs/performance.md: the machine, kernel and date, throughput against untraced and the floor, BPF time per
request per program, the agent's start time, memory and CPU, and where the BPF time of a request goes.

    sudo .venv/bin/python -m benchmarks.report --before GIT_REF [--rounds 5] [--seconds 5]
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys

from benchmarks import overhead, profile

OUTPUT = os.path.join(overhead.ROOT, "docs", "performance.md")


def machine() -> str:
    with open("/proc/cpuinfo") as f:
        model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), platform.machine())
    with open("/proc/meminfo") as f:
        mem_gib = int(f.readline().split()[1]) / 1024 / 1024
    return f"{os.cpu_count()} × {model}, {mem_gib:.0f} GiB, kernel {os.uname().release}"


def commit(ref: str) -> str:
    return subprocess.run(["git", "-C", overhead.ROOT, "rev-parse", "--short", ref], check=True,
                          capture_output=True, text=True).stdout.strip()


def markdown(summary: overhead.Summary, cuts: dict[str, list[float]], before: str, rounds: int, seconds: int) -> str:
    arms = list(summary.rate)
    lines = [
        "# Performance",
        "",
        f"Written by `benchmarks/report.py` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.",
        f"Machine: {machine()}. Current tree: {commit('HEAD')}; previous design: {commit(before)}.",
        "",
        f"nginx (one worker) under `wrk -t1 -c{overhead.WRK_CONNECTIONS}` on loopback; {rounds} rounds of "
        f"{seconds} s, each round running every arm in turn. Ratios are medians of per-round ratios to the same "
        "round's untraced run (lowest and highest in brackets). BPF time is the kernel's own accounting "
        "(`BPF_ENABLE_STATS`) in a second wrk run of each arm, per request, both ends (wrk's and nginx's).",
        "",
        "| arm | requests/s | of untraced | BPF ns per request | program runs per request |",
        "|---|---|---|---|---|",
    ]
    for arm in arms:
        low, high = summary.spread[arm]
        lines.append(f"| {overhead.ARM_TITLES[arm]} | {summary.rate[arm]:.0f} | {summary.ratio[arm]:.3f} "
                     f"({low:.2f} to {high:.2f}) | {summary.bpf_ns[arm]:.0f} | {summary.bpf_runs[arm]:.2f} |")
    lines += ["", "## BPF time per program", "",
              "| arm | program | ns per request | runs per request | ns per run |", "|---|---|---|---|---|"]
    for arm, programs in summary.programs.items():
        for name, (ns, runs) in sorted(programs.items(), key=lambda item: -item[1][0]):
            if runs >= 0.01:
                lines.append(f"| {overhead.ARM_TITLES[arm]} | `{name}` | {ns:.0f} | {runs:.2f} | {ns / runs:.0f} |")
    lines += ["", "## The agent", "",
              "| arm | start to attached (s) | RSS (MB) | CPU s per 100k requests |", "|---|---|---|---|"]
    for arm in summary.programs:
        lines.append(f"| {overhead.ARM_TITLES[arm]} | {summary.start_seconds[arm]:.1f} | {summary.rss_mb[arm]:.0f} | "
                     f"{summary.cpu_per_100k[arm]:.4f} |")
    lines += ["", "## Where the BPF time of a request goes", "",
              "`benchmarks/profile.py`: the current probes cut short at successive points, nginx under `wrk -t1 -c1` "
              "(one connection: no batching, so more per request than above). Each row adds the part it names.", "",
              "| probes up to | BPF ns per request (median) | rounds |", "|---|---|---|"]
    for name, values in cuts.items():
        lines.append(f"| {name} | {statistics.median(values):.0f} | {', '.join(f'{v:.0f}' for v in values)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, metavar="GIT_REF", help="the previous design's commit")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("needs root: the agent loads BPF programs")
    with overhead.source_tree(args.before) as before:
        summary = overhead.summarise(overhead.measure(args.rounds, args.seconds, before))
    print(overhead.report(summary))
    cuts = profile.profile(args.seconds, repeats=3)
    with open(OUTPUT, "w") as f:
        f.write(markdown(summary, cuts, args.before, args.rounds, args.seconds))
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
