"""Throughput ratios resolved finer than benchmarks/overhead.py's: every arm's programs loaded once in this process,
their sock length hooks attached and detached between short wrk runs, so that a traced run lies a second or two
from the untraced runs it is compared with, and a run can afford many rounds.

    sudo .venv/bin/python -m benchmarks.throughput [--rounds 20] [--seconds 2]

overhead.py starts a process per traced run (the agent takes seconds to attach), so its untraced runs lie ten or
more seconds from the traced one, and on this machine a run's rate can move by a fifth in that time
(docs/performance.md, "Throughput after both changes, a longer run"). Here the arms are:
- floor: empty tp_btf programs on sock_send_length and sock_recv_length;
- l4, l7: the agent's own programs, loaded by the agent's own loader (tracer/capture/loader.py's load) with
  `capture.l7` false and true, without the program cache. Their connection hooks (inet_sock_set_state and the
  tcp ones) stay attached throughout, in every arm: they run when a connection opens or closes, eight times per
  wrk run, not per request.
The agent's user-space side does not run: its CPU is agent_cost.py's to measure (1% of a core at saturation).
Each round runs untraced, then every arm with an untraced run after it (U A U B U ...), the arms' order rotating
from round to round; the rounds are summarised as benchmarks/overhead.py summarises its own: each arm's ratio to
the untraced runs around it, and nginx's own CPU per request and what the arm adds to it, which sets the rate
(nginx's worker is pinned to CPU 0 and wrk to CPU 1, as in overhead.py).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable

from benchmarks.bracketing import Round
from benchmarks.load import Load
from benchmarks.overhead import (NGINX_CPU, WRK_CONNECTIONS, WRK_CPU, Run, Summary, at_least_one, load_run,
                                 summarise)
from benchmarks.process_cpu import nginx_workers
from tests.helpers.servers import running_nginx

ROUNDS, SECONDS = 20, 2   # the defaults: 20 rounds of 2-second runs take about five minutes
ARM_TITLES = {"untraced": "untraced (each run to the one before it)", "floor": "floor (empty programs, same hooks)",
              "l4": "the agent's programs, capture.l7: false", "l7": "the agent's programs, L7 on (default)"}


def loaded_arms(stack: contextlib.ExitStack) -> dict[str, list[int]]:
    """Each arm's sock length programs, loaded and detached: arm -> program descriptors."""
    from tracer.capture import btf_tracepoints, loader
    arms = {}
    for arm, l7 in (("l4", False), ("l7", True)):
        b, info = loader.load(loader.CaptureConfig(l7=l7, program_cache=""))
        stack.callback(b.cleanup)
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


def attached_run(programs: list[int], run: Callable[[], Run]) -> Run:
    """run() with `programs` attached to their tracepoints, detached after it."""
    from tracer.capture import btf_tracepoints
    links = [btf_tracepoints.attach(fd) for fd in programs]
    try:
        return run()
    finally:
        for link in links:
            os.close(link)


def measure(rounds: int, seconds: int, load: Load = Load(WRK_CONNECTIONS)) -> list[Round[Run]]:
    """Rounds of every arm, each between two untraced runs, the arms' order rotating from round to round."""
    with contextlib.ExitStack() as stack:
        arms = loaded_arms(stack)
        names = list(arms)
        nginx = stack.enter_context(running_nginx())
        for worker in nginx_workers(nginx.pid):
            os.sched_setaffinity(worker, {NGINX_CPU})

        def run() -> Run:
            return load_run(nginx, seconds, load)

        results = []
        for n in range(rounds):
            order = names[n % len(names):] + names[:n % len(names)]
            round_ = Round(untraced=[run()], traced={})
            for arm in order:
                round_.traced[arm] = attached_run(arms[arm], run)
                round_.untraced.append(run())
            print(f"round {n + 1}: untraced " + " ".join(f"{r.rate:.0f}" for r in round_.untraced) + "/s, "
                  + ", ".join(f"{arm} {r.rate:.0f}/s" for arm, r in round_.traced.items()), flush=True)
            results.append(round_)
        return results


def report(summary: Summary, rounds: int) -> str:
    lines = [f"{'arm':42} {'ratio':>6} {'quartiles':>13} {'lowest-highest':>14} {'nginx µs/req':>12} {'added':>6}"]
    for arm, title in ARM_TITLES.items():
        (first, third), (low, high) = summary.quartiles[arm], summary.spread[arm]
        lines.append(f"{title:42} {summary.ratio[arm]:6.3f} {first:6.3f}-{third:6.3f} {low:7.3f}-{high:6.3f} "
                     f"{summary.server_cpu_us[arm]:12.3f} {summary.server_added_us[arm]:6.3f}")
    lines.append(f"ratio: median over {rounds} rounds of the rate to the mean of the untraced runs just before "
                 "and after; nginx µs/req: nginx's CPU per request (median); added: minus the mean of the untraced "
                 "runs around it (median)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=at_least_one, default=ROUNDS, help=f"rounds of all arms (default {ROUNDS})")
    parser.add_argument("--seconds", type=at_least_one, default=SECONDS,
                        help=f"wrk duration of each run (default {SECONDS})")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("needs root: it loads BPF programs")
    print(f"nginx + wrk -t1 -c{WRK_CONNECTIONS} on loopback, nginx's worker on CPU {NGINX_CPU}, wrk on CPU {WRK_CPU}, "
          f"{args.rounds} rounds of {args.seconds} s, kernel {os.uname().release}", flush=True)
    print(report(summarise(measure(args.rounds, args.seconds)), args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
