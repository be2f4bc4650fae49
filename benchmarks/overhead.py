"""What tracing costs: nginx under wrk on loopback, untraced, with the floor (empty programs on the agent's
hooks, of the agent's kinds), with the classic floor (the same with classic tracepoints on the sock length
hooks, the agent's hooks without BTF), with the agent counting connections and bytes only (`capture.l7:
false`), and with the agent parsing requests (the default).

    sudo .venv/bin/python -m benchmarks.overhead [--rounds 5] [--seconds 5] [--long-head] [--before GIT_REF]

--before adds the agent as of another commit (both settings), exported with git archive. Each round runs the
traced arms in turn with an untraced run before the first and after each (U A U B U ...), and a traced arm's
ratio is the median over rounds of its rate to the mean of the two untraced runs around it
(benchmarks/bracketing.py); the untraced row's ratio is each untraced run to the one before it, the noise the
others carry. Spreads are interquartile ranges of those per-round ratios, and the lowest and highest. nginx's
worker runs on CPU 0 and wrk on CPU 1: unpinned, untraced runs spread twice as wide (docs/performance.md).
Each traced arm starts its process, waits until it is ready, runs wrk for throughput, then runs wrk again
with the kernel's run-time accounting on (it costs every program run two clock reads, so throughput is
measured without it) for the BPF time per request, per program, which covers both ends of each request: wrk's
and nginx's. The throughput run also gives nginx's and wrk's CPU time per request (user and system): it holds
what the accounting misses, such as the event record a classic tracepoint fills before its program runs.
--long-head asks nginx's /long-head, whose response head is longer than /ok's by two headers: the HTTP parser's
cost grows with the head it scans.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

from benchmarks import bpf_programs, side_by_side
from benchmarks.bracketing import Round, bracketed_ratio, quartiles, untraced_drifts
from benchmarks.load import Load, wrk
from benchmarks.process_cpu import (children_cpu_seconds, cpu_seconds, machine_busy_seconds, nginx_cpu_seconds,
                                    nginx_workers)
from benchmarks.side_by_side import ROOT, agent
from tests.helpers.servers import Nginx, running_nginx, stop

WRK_CONNECTIONS = 8
NGINX_CPU, WRK_CPU = 0, 1
ARM_TITLES = {"untraced": "untraced", "floor": "floor (empty programs, same hooks)",
              "floor classic": "floor, classic sock length tracepoints",
              "l4": "agent, capture.l7: false", "l7": "agent, L7 on (default)",
              "l4 before": "previous design, capture.l7: false", "l7 before": "previous design, L7 on"}


@dataclass
class Run:
    requests: int
    seconds: float
    load_cpu_us: float = 0.0            # nginx's and wrk's CPU time per request, in µs
    server_cpu_us: float = 0.0          # nginx's alone: its worker, pinned to one CPU, sets the rate at saturation
    agent_cpu_seconds: float = 0.0
    others_cpu_seconds: float = 0.0     # other tasks' CPU meanwhile: a run on a shared machine shows whether
                                        # someone else's work landed in it
    start_seconds: float = 0.0          # from starting the process to its programs attached (agent: /healthz 200)
    rss_mb: float = 0.0                 # the process's resident memory after its runs
    bpf_ns_per_request: float = 0.0
    bpf_runs_per_request: float = 0.0
    programs: dict[str, tuple[float, float]] = field(default_factory=dict)   # name -> (ns, runs) per request

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def others_share(self) -> float:
        return self.others_cpu_seconds / self.seconds


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


@contextlib.contextmanager
def floor(classic: bool):
    """Empty programs on the agent's hooks (benchmarks/floor.py), until attached; `classic`: classic tracepoints
    on the sock length hooks."""
    command = [sys.executable, "-m", "benchmarks.floor"] + (["--classic-sock-length"] if classic else [])
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"benchmarks.floor exited with {process.wait()} before attaching")
        yield process
    finally:
        stop(process)


def load_run(nginx: Nginx, seconds: int, load: Load) -> Run:
    """A wrk run for throughput, with nginx's and wrk's CPU time per request. wrk is the only child this process
    waits for meanwhile."""
    machine, server, client = machine_busy_seconds(), nginx_cpu_seconds(nginx.pid), children_cpu_seconds()
    run = Run(*wrk(nginx.port, seconds, load, cpu=WRK_CPU))
    server = nginx_cpu_seconds(nginx.pid) - server
    load_cpu = server + children_cpu_seconds() - client
    run.load_cpu_us = load_cpu / run.requests * 1e6
    run.server_cpu_us = server / run.requests * 1e6
    run.others_cpu_seconds = machine_busy_seconds() - machine - load_cpu
    return run


def traced_run(process: subprocess.Popen, nginx: Nginx, seconds: int, attached: float, load: Load) -> Run:
    """A wrk run with `process`'s programs attached, then a second one with BPF accounting on. `attached`:
    seconds from starting the process to its programs attached."""
    cpu = cpu_seconds(process.pid)
    run = load_run(nginx, seconds, load)
    run.agent_cpu_seconds = cpu_seconds(process.pid) - cpu
    run.others_cpu_seconds -= run.agent_cpu_seconds
    (accounted, _), programs = bpf_programs.measured(process.pid, lambda: wrk(nginx.port, seconds, load, cpu=WRK_CPU))
    for program in programs:
        if program.run_cnt:
            run.programs[program.name] = (program.run_time_ns / accounted, program.run_cnt / accounted)
    run.start_seconds = attached
    run.rss_mb = rss_mb(process.pid)
    run.bpf_ns_per_request = sum(ns for ns, _ in run.programs.values())
    run.bpf_runs_per_request = sum(runs for _, runs in run.programs.values())
    return run


def arm_run(arm: str, nginx: Nginx, seconds: int, before: str | None, load: Load) -> Run:
    started = time.monotonic()
    if arm.startswith("floor"):
        with floor(classic=arm == "floor classic") as process:
            return traced_run(process, nginx, seconds, time.monotonic() - started, load)
    with agent(l7=arm.startswith("l7"), root=before if arm.endswith("before") else ROOT) as (process, url):
        attached = time.monotonic() - started
        side_by_side.wait_settled(url)
        return traced_run(process, nginx, seconds, attached, load)


def measure(rounds: int, seconds: int, before: str | None = None,
            load: Load = Load(WRK_CONNECTIONS)) -> list[Round[Run]]:
    """Rounds of every traced arm, each between two untraced runs; with `before` (a source tree), also the agent
    of that tree."""
    arms = ["floor", "floor classic", "l4", "l7"] + (["l4 before", "l7 before"] if before else [])
    with running_nginx() as nginx:
        for worker in nginx_workers(nginx.pid):
            os.sched_setaffinity(worker, {NGINX_CPU})
        results = []
        for n in range(rounds):
            round_ = Round(untraced=[load_run(nginx, seconds, load)], traced={})
            for arm in arms:
                round_.traced[arm] = arm_run(arm, nginx, seconds, before, load)
                round_.untraced.append(load_run(nginx, seconds, load))
            print(f"round {n + 1}: untraced " + " ".join(f"{run.rate:.0f}" for run in round_.untraced) + "/s, "
                  + ", ".join(f"{arm} {run.rate:.0f}/s" for arm, run in round_.traced.items())
                  + "; other tasks' CPU in these runs, % of a core: "
                  + " ".join(f"{run.others_share * 100:.0f}" for run in round_.untraced + list(round_.traced.values())),
                  flush=True)
            results.append(round_)
        return results


@dataclass
class Summary:
    """Medians over rounds, per arm; the untraced arm's over all its runs."""
    rate: dict[str, float]
    ratio: dict[str, float]                  # to the untraced runs around it (untraced: to the run before)
    quartiles: dict[str, tuple[float, float]]    # of the per-round ratios
    spread: dict[str, tuple[float, float]]   # lowest and highest per-round ratio
    load_cpu_us: dict[str, float]            # nginx's and wrk's CPU µs per request
    added_cpu_us: dict[str, float]           # ... minus the mean of the untraced runs around it
    server_cpu_us: dict[str, float]          # nginx's CPU µs per request alone
    server_added_us: dict[str, float]        # ... minus the mean of the untraced runs around it
    bpf_ns: dict[str, float]
    bpf_runs: dict[str, float]
    programs: dict[str, dict[str, tuple[float, float]]]   # arm -> program -> (ns, runs) per request
    cpu_per_100k: dict[str, float]
    start_seconds: dict[str, float]
    rss_mb: dict[str, float]


def summarise(results: list[Round[Run]]) -> Summary:
    arms = list(results[0].traced)

    def median(arm, value):
        return statistics.median(value(round_.traced[arm], *round_.bracket(arm)) for round_ in results)

    untraced = [run for round_ in results for run in round_.untraced]
    ratios = {"untraced": [drift for round_ in results for drift in untraced_drifts([r.rate for r in round_.untraced])]}
    ratios |= {arm: [bracketed_ratio(round_.traced[arm].rate, *(r.rate for r in round_.bracket(arm)))
                     for round_ in results] for arm in arms}
    programs: dict[str, dict[str, tuple[float, float]]] = {}
    for arm in arms:
        names = sorted({name for round_ in results for name in round_.traced[arm].programs})
        programs[arm] = {name: (median(arm, lambda r, *_: r.programs.get(name, (0.0, 0.0))[0]),
                                median(arm, lambda r, *_: r.programs.get(name, (0.0, 0.0))[1])) for name in names}

    def per_arm(value, untraced_value=0.0):
        return {"untraced": untraced_value} | {arm: median(arm, value) for arm in arms}

    return Summary(
        rate=per_arm(lambda r, *_: r.rate, statistics.median(r.rate for r in untraced)),
        ratio={arm: statistics.median(values) for arm, values in ratios.items()},
        quartiles={arm: quartiles(values) for arm, values in ratios.items()},
        spread={arm: (min(values), max(values)) for arm, values in ratios.items()},
        load_cpu_us=per_arm(lambda r, *_: r.load_cpu_us, statistics.median(r.load_cpu_us for r in untraced)),
        added_cpu_us=per_arm(lambda r, before, after: r.load_cpu_us - (before.load_cpu_us + after.load_cpu_us) / 2),
        server_cpu_us=per_arm(lambda r, *_: r.server_cpu_us, statistics.median(r.server_cpu_us for r in untraced)),
        server_added_us=per_arm(lambda r, before, after:
                                r.server_cpu_us - (before.server_cpu_us + after.server_cpu_us) / 2),
        bpf_ns=per_arm(lambda r, *_: r.bpf_ns_per_request),
        bpf_runs=per_arm(lambda r, *_: r.bpf_runs_per_request),
        programs=programs,
        cpu_per_100k=per_arm(lambda r, *_: r.agent_cpu_seconds / r.requests * 100_000),
        start_seconds=per_arm(lambda r, *_: r.start_seconds),
        rss_mb=per_arm(lambda r, *_: r.rss_mb),
    )


def report(summary: Summary) -> str:
    lines = [f"{'arm':38} {'req/s':>8} {'ratio':>6} {'quartiles':>13} {'lowest-highest':>14} {'BPF ns/req':>10} "
             f"{'runs/req':>8} {'CPU µs/req':>10} {'added':>6} {'nginx added':>11}"]
    for arm in summary.rate:
        (first, third), (low, high) = summary.quartiles[arm], summary.spread[arm]
        lines.append(f"{ARM_TITLES[arm]:38} {summary.rate[arm]:8.0f} {summary.ratio[arm]:6.3f} "
                     f"{first:6.3f}-{third:6.3f} {low:7.3f}-{high:6.3f} {summary.bpf_ns[arm]:10.0f} "
                     f"{summary.bpf_runs[arm]:8.2f} {summary.load_cpu_us[arm]:10.2f} {summary.added_cpu_us[arm]:6.2f} "
                     f"{summary.server_added_us[arm]:11.2f}")
    lines.append("ratio: median over rounds of the rate to the mean of the untraced runs just before and after; "
                 "CPU µs/req: nginx's and wrk's user and system time per request in the throughput run; added: "
                 "minus the mean of the untraced runs around it (median of rounds); nginx added: the same of nginx's "
                 "CPU alone, which sets the rate")
    for arm in summary.programs:
        lines.append(f"{ARM_TITLES[arm]}: per program, ns and runs per request")
        for name, (ns, runs) in sorted(summary.programs[arm].items(), key=lambda item: -item[1][0]):
            lines.append(f"  {name:24} {ns:8.0f} ns {runs:6.2f} runs ({ns / runs if runs else 0:6.0f} ns/run)")
    for arm in summary.programs:
        lines.append(f"{ARM_TITLES[arm]}: start to attached {summary.start_seconds[arm]:.1f} s, "
                     f"RSS {summary.rss_mb[arm]:.0f} MB, CPU per 100k requests {summary.cpu_per_100k[arm]:.4f} s")
    return "\n".join(lines)


def at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=at_least_one, default=5, help="rounds of all arms (default 5)")
    parser.add_argument("--seconds", type=at_least_one, default=5, help="wrk duration of each run (default 5)")
    parser.add_argument("--long-head", action="store_true", help="wrk asks /long-head, a longer response head")


def benchmark(args: argparse.Namespace, before: str | None) -> str:
    load = Load(WRK_CONNECTIONS, path="/long-head" if args.long_head else "/ok")
    print(f"nginx + wrk -t1 -c{WRK_CONNECTIONS} {load.path} on loopback, nginx's worker on CPU {NGINX_CPU}, wrk on "
          f"CPU {WRK_CPU}, {args.rounds} rounds of {args.seconds} s, {os.cpu_count()} CPUs, kernel "
          f"{os.uname().release}", flush=True)
    return report(summarise(measure(args.rounds, args.seconds, before, load)))


def main(argv: list[str] | None = None) -> int:
    return side_by_side.run(__doc__, argv, options, benchmark, needs_root="the agent loads BPF programs and the "
                            "benchmark turns on BPF run-time accounting")


if __name__ == "__main__":
    sys.exit(main())
