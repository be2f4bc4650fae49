"""What tracing costs: nginx under wrk on loopback, with the agent running (traced) and without (untraced).

    sudo .venv/bin/python -m benchmarks.overhead [--pairs 5] [--seconds 5]

Runs alternate untraced, traced, untraced, traced, ... Each traced run starts the real agent
(`intuition agent`), waits for /healthz, runs wrk, and stops the agent. Prints the median ratio of
requests/s (traced / untraced, per pair), the agent's CPU seconds per 100k requests (from /proc/<pid>/stat)
and the BPF run time per request from the kernel's own accounting (kernel.bpf_stats_enabled, run_time_ns of
the agent's programs), which covers both ends of each request: wrk's and nginx's. The accounting costs
every program run two clock reads, so it is on only for a second wrk run of each traced run, not for the
one whose throughput is compared.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass

from tests.helpers.servers import free_port, running_nginx, stop

AGENT = os.path.join(os.path.dirname(sys.executable), "intuition")
BPF_STATS = "/proc/sys/kernel/bpf_stats_enabled"
WRK_CONNECTIONS = 8
WRK_TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}   # wrk prints 5.00s, 1.00m


@dataclass
class Run:
    requests: int
    seconds: float
    agent_cpu_seconds: float = 0.0
    bpf_ns_per_request: float = 0.0
    bpf_runs_per_request: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def wrk(port: int, seconds: int) -> tuple[int, float]:
    """Requests wrk completed against nginx's /ok, and in how many seconds."""
    out = subprocess.run(["wrk", "-t1", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", f"http://127.0.0.1:{port}/ok"],
                         check=True, capture_output=True, text=True, timeout=seconds + 60).stdout
    match = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", out)
    if not match:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    duration = float(match[2]) * WRK_TIME_UNITS[match[3]]
    return int(match[1]), duration


def cpu_seconds(pid: int) -> float:
    """User and system time of a process, all threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")   # utime, stime


def bpf_accounting(pid: int) -> tuple[int, int]:
    """(run_time_ns, run_cnt) summed over the BPF programs the process holds open (each program once)."""
    per_program = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:bpf-prog":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                info = dict(line.split(":", 1) for line in f if ":" in line)
        except FileNotFoundError:
            continue   # closed meanwhile
        per_program[int(info["prog_id"])] = (int(info.get("run_time_ns", 0)), int(info.get("run_cnt", 0)))
    return sum(ns for ns, _ in per_program.values()), sum(runs for _, runs in per_program.values())


def wait_healthy(url: str, agent: subprocess.Popen, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if agent.poll() is not None:
            raise RuntimeError(f"the agent exited with {agent.returncode} before /healthz answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} not 200 after {timeout}s")
        time.sleep(0.5)


def untraced_run(nginx_port: int, seconds: int) -> Run:
    return Run(*wrk(nginx_port, seconds))


@contextlib.contextmanager
def bpf_stats():
    """kernel.bpf_stats_enabled on for the block. It costs every program run two clock reads, which users do
    not pay: throughput is measured with it off."""
    with open(BPF_STATS) as f:
        before = f.read().strip()
    with open(BPF_STATS, "w") as f:
        f.write("1")
    try:
        yield
    finally:
        with open(BPF_STATS, "w") as f:
            f.write(before)


def traced_run(nginx_port: int, seconds: int) -> Run:
    """A wrk run with the agent attached, then a second one with BPF accounting on for its run time."""
    port = free_port()
    agent = subprocess.Popen([AGENT, "agent", "--listen", f"127.0.0.1:{port}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", agent)
        cpu = cpu_seconds(agent.pid)
        run = Run(*wrk(nginx_port, seconds))
        run.agent_cpu_seconds = cpu_seconds(agent.pid) - cpu
        with bpf_stats():
            ns, runs = bpf_accounting(agent.pid)
            accounted, _ = wrk(nginx_port, seconds)
            ns_after, runs_after = bpf_accounting(agent.pid)
        run.bpf_ns_per_request = (ns_after - ns) / accounted
        run.bpf_runs_per_request = (runs_after - runs) / accounted
        return run
    finally:
        stop(agent)


def measure(pairs: int, seconds: int) -> list[tuple[Run, Run]]:
    with running_nginx() as nginx:
        results = []
        for pair in range(pairs):
            untraced = untraced_run(nginx.port, seconds)
            traced = traced_run(nginx.port, seconds)
            print(f"pair {pair + 1}: untraced {untraced.rate:8.0f} req/s, traced {traced.rate:8.0f} req/s",
                  flush=True)
            results.append((untraced, traced))
        return results


def report(results: list[tuple[Run, Run]]) -> str:
    ratio = statistics.median(traced.rate / untraced.rate for untraced, traced in results)
    cpu = statistics.median(traced.agent_cpu_seconds / traced.requests * 100_000 for _, traced in results)
    bpf = statistics.median(traced.bpf_ns_per_request for _, traced in results)
    runs = statistics.median(traced.bpf_runs_per_request for _, traced in results)
    untraced_rate = statistics.median(untraced.rate for untraced, _ in results)
    traced_rate = statistics.median(traced.rate for _, traced in results)
    return "\n".join([
        f"untraced: median {untraced_rate:.0f} requests/s; traced: median {traced_rate:.0f} requests/s",
        f"throughput traced/untraced (median of pairs): {ratio:.3f}",
        f"agent CPU per 100k requests: {cpu:.4f} s",
        f"BPF run time per request (both ends): {bpf:.0f} ns in {runs:.1f} program runs",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=5, help="untraced/traced pairs (default 5)")
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration of each run (default 5)")
    args = parser.parse_args(argv)
    if args.pairs < 1 or args.seconds < 1:
        parser.error("--pairs and --seconds must be at least 1")
    if os.geteuid() != 0:
        parser.error("needs root: the agent loads BPF programs and the benchmark sets kernel.bpf_stats_enabled")
    print(f"nginx + wrk -t1 -c{WRK_CONNECTIONS} on loopback, {args.pairs} pairs of {args.seconds} s, "
          f"{os.cpu_count()} CPUs, kernel {os.uname().release}", flush=True)
    print(report(measure(args.pairs, args.seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
