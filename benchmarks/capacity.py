"""How much traffic the probes count exactly: nginx on loopback under growing load, each step's requests and
connections as the probes counted them at nginx's end beside nginx's own access log.

    sudo .venv/bin/python -m benchmarks.capacity [--seconds 5]

The probes run in this process (tracer/capture/collector.py, as the kernel tests use it). A step with new
connections sends `Connection: close`, so each connection carries one request: nginx logs one line per
connection, except the few (at most wrk's connection count) cut before their request at the step's end,
which the probes count as opens and the log does not. A miss is a logged request or connection the probes
did not count.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass

from benchmarks.load import Load, wrk
from tests.helpers.capture import Capture
from tests.helpers.l7 import server_counts
from tests.helpers.servers import running_nginx
from tracer.capture.collector import Collector

STEPS: dict[str, Load] = {
    "keep-alive, about 1k/s": Load(connections=5, delay_ms=4),
    "keep-alive, about 10k/s": Load(connections=50, delay_ms=4),
    "keep-alive, saturation, 8 connections": Load(connections=8),
    "keep-alive, saturation, 64 connections": Load(connections=64),
    "new connections, about 1k/s": Load(connections=5, delay_ms=4, new_connections=True),
    "new connections, saturation": Load(connections=8, new_connections=True),
}
SETTLE_SECONDS = 15.0   # deadline for the counts to reach the log once wrk is done


@dataclass
class Step:
    rate: float            # requests/s (and connections/s with new connections) wrk made
    logged: int            # requests in nginx's access log
    requests: int          # requests the probes counted at nginx's end
    opens: int             # connections the probes saw nginx accept
    lost: int              # events the probes reported lost

    def misses(self, new_connections: bool) -> int:
        missed = max(0, self.logged - self.requests)
        return missed + (max(0, self.logged - self.opens) if new_connections else 0)


def logged_requests(nginx) -> int:
    return sum(nginx.logged_statuses().values())


def measure_step(capture: Capture, nginx, load: Load, seconds: int) -> Step:
    port = nginx.port
    capture.poll()
    logged0, requests0 = logged_requests(nginx), sum(server_counts(capture, port, "http").values())
    opens0, lost0 = capture.total(server_port=port, role="server").opens, sum(capture.lost.values())
    requests, wall = wrk(port, seconds, load)
    logged = logged_requests(nginx) - logged0

    def counted() -> tuple[int, int]:
        capture.poll()
        return (sum(server_counts(capture, port, "http").values()) - requests0,
                capture.total(server_port=port, role="server").opens - opens0)

    deadline = time.monotonic() + SETTLE_SECONDS
    seen, opens = counted()
    while (seen < logged or (load.new_connections and opens < logged)) and time.monotonic() < deadline:
        time.sleep(0.2)
        seen, opens = counted()
    return Step(requests / wall, logged, seen, opens, sum(capture.lost.values()) - lost0)


def measure(seconds: int) -> dict[str, Step]:
    collector = Collector()
    collector.start()
    try:
        capture = Capture(collector)
        with running_nginx() as nginx:
            results = {}
            for name, load in STEPS.items():
                results[name] = measure_step(capture, nginx, load, seconds)
                print(f"{name}: {results[name]}", flush=True)
            return results
    finally:
        collector.close()


def report(results: dict[str, Step]) -> str:
    lines = [f"{'step':40} {'req/s':>8} {'logged':>8} {'counted':>8} {'opens':>8} {'misses':>6} {'lost':>5}"]
    for name, step in results.items():
        lines.append(f"{name:40} {step.rate:8.0f} {step.logged:8} {step.requests:8} {step.opens:8} "
                     f"{step.misses(STEPS[name].new_connections):6} {step.lost:5}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of each step in whole seconds, as wrk takes them (default 5)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("needs root: loads BPF programs")
    print(report(measure(args.seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
