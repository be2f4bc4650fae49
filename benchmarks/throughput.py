"""Throughput ratios resolved finer than benchmarks/overhead.py's: every arm's programs loaded once in this process,
their sock length hooks attached and detached between slices of a tenth of a second of one wrk run, so that a traced
slice lies next to the untraced slices it is compared with, and a run can afford a hundred rounds and more.

    sudo .venv/bin/python -m benchmarks.throughput [--rounds 150] [--slice-seconds 0.1]

overhead.py starts a process per traced run (the agent takes seconds to attach), so its untraced runs lie ten or
more seconds from the traced one, and on this machine a run's rate can move by a fifth in that time
(docs/performance.md, "Throughput after both changes, a longer run"); 2-second runs still moved by several points
from one to the next ("Throughput in slices of one wrk run"). Here the arms are:
- floor: empty tp_btf programs on sock_send_length and sock_recv_length;
- l4, l7: the agent's own programs, loaded by the agent's own loader (tracer/capture/loader.py's load) with
  `capture.l7` false and true, without the program cache. Their connection hooks (inet_sock_set_state and the
  tcp ones) stay attached throughout, in every arm: they saw wrk's connections open, as the agent would.
The agent's user-space side does not run: its CPU is agent_cost.py's to measure (1% of a core at saturation).
Each round runs an untraced slice, then every arm with an untraced slice after it (U A U B U ...), the arms' order
rotating from round to round. A slice's requests are the lines nginx's access log gained (a line per request,
tests/helpers/servers.py), its CPU what the kernel's scheduler accounted to nginx's worker; the rounds are
summarised as benchmarks/overhead.py summarises its own: each arm's ratio to the untraced slices around it, and
nginx's own CPU per request and what the arm adds to it, which sets the rate (nginx's worker is pinned to CPU 0 and
wrk to CPU 1, as in overhead.py).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

from benchmarks import tracing_programs
from benchmarks.bracketing import Round
from benchmarks.overhead import NGINX_CPU, WRK_CONNECTIONS, WRK_CPU, Run, Summary, at_least_one, summarise
from benchmarks.process_cpu import nginx_workers, on_cpu_seconds
from tests.helpers.servers import Nginx, running_nginx

ROUNDS, SLICE_SECONDS = 150, 0.1   # the defaults: 150 rounds of 7 slices take about three minutes
LOG_LINE = len("200\n")            # nginx's status-only access log line for a request of /ok
WARM_UP_SECONDS = 1.0
ARM_TITLES = {"untraced": "untraced (each slice to the one before it)", "floor": "floor (empty programs, same hooks)",
              "l4": "the agent's programs, capture.l7: false", "l7": "the agent's programs, L7 on (default)"}


def detached_arms(stack: contextlib.ExitStack, modules: dict[str, tuple]) -> dict[str, list[int]]:
    """Arms for measure: the floor's empty programs, closed with the stack, then each module's sock length programs
    (arm -> BCC's module and its probe info, loaded and attached by the agent's loader, cleaned up by the caller's
    stack), detached again; their connection hooks stay attached."""
    from tracer.capture import btf_tracepoints, loader
    arms = {}
    for arm, (b, info) in modules.items():
        if not info.sock_length_btf:
            raise SystemExit("the sock length hooks are not BTF-typed raw tracepoints on this kernel: "
                             "benchmarks/overhead.py measures the agent on any hook")
        for event in info.sock_length_btf:
            os.close(b.raw_tracepoint_fds.pop(event.encode()))
        arms[arm] = [b.funcs[(loader.TP_BTF_PREFIX + event).encode()].fd for event in info.sock_length_btf]
    empty = [btf_tracepoints.load("empty", btf_tracepoints.RETURN_ZERO, b"GPL", attach_btf_id)
             for attach_btf_id in info.sock_length_btf.values()]
    stack.callback(lambda: [os.close(fd) for fd in empty])
    return {"floor": empty} | arms


def loaded_arms(stack: contextlib.ExitStack) -> dict[str, list[int]]:
    """The floor and the agent's programs with capture.l7 false and true, loaded and detached: arm -> descriptors."""
    from tracer.capture import loader
    modules = {}
    for arm, l7 in (("l4", False), ("l7", True)):
        modules[arm] = loader.load(loader.CaptureConfig(l7=l7, program_cache=""))
        stack.callback(modules[arm][0].cleanup)
    return detached_arms(stack, modules)


def logged_requests(nginx: Nginx) -> int:
    return os.stat(nginx.access_log).st_size // LOG_LINE


@contextlib.contextmanager
def wrk_running(nginx: Nginx, seconds: float) -> Iterator[None]:
    """wrk keeping nginx busy on /ok, pinned to WRK_CPU, stopped on exit (or after `seconds`, a bound it is not
    meant to reach); entered once nginx has logged its first requests and a warm-up has passed."""
    wrk = subprocess.Popen(["taskset", "-c", str(WRK_CPU), "wrk", "-t1", f"-c{WRK_CONNECTIONS}", f"-d{int(seconds)}s",
                            f"http://127.0.0.1:{nginx.port}/ok"], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not logged_requests(nginx):
            if wrk.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("wrk got no answer from nginx within 30 s")
            time.sleep(0.05)
        time.sleep(WARM_UP_SECONDS)
        yield
        if wrk.poll() is not None:
            raise SystemExit(f"wrk ended before the last slice (exit status {wrk.returncode})")
    finally:
        wrk.kill()
        wrk.wait()


def slice_run(nginx: Nginx, workers: list[int], seconds: float) -> Run:
    """The requests nginx answered in the next `seconds` of wrk's run, and its workers' CPU per request."""
    requests, cpu, start = logged_requests(nginx), sum(map(on_cpu_seconds, workers)), time.monotonic()
    time.sleep(seconds)
    requests = logged_requests(nginx) - requests
    cpu = sum(map(on_cpu_seconds, workers)) - cpu
    if not requests:
        raise SystemExit(f"nginx answered no request in a slice of {seconds} s")
    return Run(requests=requests, seconds=time.monotonic() - start, server_cpu_us=cpu / requests * 1e6)


def measure(rounds: int, slice_seconds: float,
            load_arms: Callable[[contextlib.ExitStack], dict[str, list[int]]] = loaded_arms) -> list[Round[Run]]:
    """Rounds of every arm of load_arms (arm -> sock length programs, loaded and detached), each slice between two
    untraced ones, the arms' order rotating from round to round."""
    with contextlib.ExitStack() as stack:
        arms = load_arms(stack)
        names = list(arms)
        nginx = stack.enter_context(running_nginx())
        workers = nginx_workers(nginx.pid)
        for worker in workers:
            os.sched_setaffinity(worker, {NGINX_CPU})
        slices = rounds * (2 * len(names) + 1)
        stack.enter_context(wrk_running(nginx, 60 + 3 * slices * slice_seconds))

        def run() -> Run:
            return slice_run(nginx, workers, slice_seconds)

        results = []
        for n in range(rounds):
            order = names[n % len(names):] + names[:n % len(names)]
            round_ = Round(untraced=[run()], traced={})
            for arm in order:
                with tracing_programs.attached(arms[arm]):
                    round_.traced[arm] = run()
                round_.untraced.append(run())
            results.append(round_)
            if (n + 1) % 10 == 0 or n + 1 == rounds:
                print(f"round {n + 1} of {rounds}: untraced {round_.untraced[0].rate:.0f}/s", flush=True)
        return results


def report(summary: Summary, rounds: int, titles: dict[str, str] = ARM_TITLES) -> str:
    width = max(42, *map(len, titles.values()))
    lines = [f"{'arm':{width}} {'ratio':>6} {'quartiles':>13} {'lowest-highest':>14} {'nginx µs/req':>12} {'added':>6}"]
    for arm, title in titles.items():
        (first, third), (low, high) = summary.quartiles[arm], summary.spread[arm]
        lines.append(f"{title:{width}} {summary.ratio[arm]:6.3f} {first:6.3f}-{third:6.3f} {low:7.3f}-{high:6.3f} "
                     f"{summary.server_cpu_us[arm]:12.3f} {summary.server_added_us[arm]:6.3f}")
    lines.append(f"ratio: median over {rounds} rounds of the rate to the mean of the untraced slices just before "
                 "and after; nginx µs/req: nginx's CPU per request (median); added: minus the mean of the untraced "
                 "slices around it (median)")
    return "\n".join(lines)


def measured_report(rounds: int, load_arms: Callable[[contextlib.ExitStack], dict[str, list[int]]],
                    names: list[str]) -> str:
    """measure()'s report for other arms than the agent's: the untraced slices, the floor, then the arms `names`
    (load_arms' besides the floor), each titled by its name."""
    titles = {arm: ARM_TITLES[arm] for arm in ("untraced", "floor")} | {name: name for name in names}
    return report(summarise(measure(rounds, SLICE_SECONDS, load_arms)), rounds, titles)


def positive_seconds(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds: {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=at_least_one, default=ROUNDS, help=f"rounds of all arms (default {ROUNDS})")
    parser.add_argument("--slice-seconds", type=positive_seconds, default=SLICE_SECONDS,
                        help=f"length of each slice of wrk's run (default {SLICE_SECONDS})")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("needs root: it loads BPF programs")
    print(f"nginx + wrk -t1 -c{WRK_CONNECTIONS} on loopback, nginx's worker on CPU {NGINX_CPU}, wrk on CPU {WRK_CPU}, "
          f"{args.rounds} rounds of slices of {args.slice_seconds} s, kernel {os.uname().release}", flush=True)
    print(report(summarise(measure(args.rounds, args.slice_seconds)), args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
