"""What the TLS uprobes cost per OpenSSL call: nginx serving HTTPS to `wrk -t1 -c8` on loopback (both linked to
OpenSSL 3), with the agent's probes loaded and `capture.tls` off, then on, in turn.

    sudo .venv/bin/python -m benchmarks.tls [--rounds 5] [--seconds 5]

A call costs two uprobe hits (entry and return: a trap into the kernel each) and the programs they run. The
CPU time of nginx and wrk per request, on minus off, divided by the OpenSSL calls per request (runs of the
return program, from the kernel's accounting), is the cost of one call; the accounting also gives the
programs' own share. The rounds alternate the arms; medians are printed.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass

from benchmarks import bpf_programs
from benchmarks.load import wrk
from benchmarks.process_cpu import children_cpu_seconds, nginx_cpu_seconds
from tests.helpers.servers import running_nginx, self_signed_certificate
from tracer.capture.collector import Collector
from tracer.capture.loader import CaptureConfig, TLS_RETURN

TLS_PROGRAMS = ("tls_", "l7_tls_")   # kernel program names: the uprobe programs and their parsers
TLS_ATTACH_TIMEOUT = 120.0  # seconds for the TLS programs' verification after the start, on a busy host


@dataclass
class Arm:
    cpu_us_per_request: float
    calls_per_request: float = 0.0
    bpf_ns_per_call: float = 0.0


def wait_tls_attached(collector: Collector) -> None:
    """Drains until nginx's libssl has the uprobes: the start does not wait for the TLS programs."""
    deadline = time.monotonic() + TLS_ATTACH_TIMEOUT
    while collector.tls_pending or not collector.tls_libraries:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no uprobes on a libssl {TLS_ATTACH_TIMEOUT:.0f} s after the start")
        time.sleep(0.1)
        collector.drain()


def measure(tls: bool, nginx, seconds: int) -> Arm:
    collector = Collector(CaptureConfig(tls=tls))
    collector.start()
    try:
        if tls:
            wait_tls_attached(collector)
        cpu = nginx_cpu_seconds(nginx.pid) + children_cpu_seconds()
        requests, _ = wrk(nginx.port, seconds, scheme="https")
        arm = Arm((nginx_cpu_seconds(nginx.pid) + children_cpu_seconds() - cpu) / requests * 1e6)
        collector.drain()
        if not tls:
            return arm
        (accounted, _), programs = bpf_programs.measured(os.getpid(), lambda: wrk(nginx.port, seconds, scheme="https"))
        calls = sum(p.run_cnt for p in programs if p.name == TLS_RETURN[:15])
        arm.calls_per_request = calls / accounted
        arm.bpf_ns_per_call = sum(p.run_time_ns for p in programs if p.name.startswith(TLS_PROGRAMS)) / max(calls, 1)
        return arm
    finally:
        collector.close()


@dataclass
class Summary:
    """Medians over rounds."""
    cpu_us_off: float
    cpu_us_on: float
    added_us: float
    calls_per_request: float
    bpf_ns_per_call: float

    @property
    def us_per_call(self) -> float:
        return self.added_us / self.calls_per_request


def run(rounds: int, seconds: int) -> Summary:
    off, on = [], []
    with self_signed_certificate(prefix="tls-bench-") as certificate, \
            running_nginx(prefix="tls-bench-nginx-", certificate=certificate) as nginx:
        for n in range(rounds):
            off.append(measure(False, nginx, seconds))
            on.append(measure(True, nginx, seconds))
            print(f"round {n + 1}: CPU per request {off[-1].cpu_us_per_request:.1f} us off, "
                  f"{on[-1].cpu_us_per_request:.1f} us on, {on[-1].calls_per_request:.2f} OpenSSL calls per request",
                  flush=True)
    return Summary(
        cpu_us_off=statistics.median(a.cpu_us_per_request for a in off),
        cpu_us_on=statistics.median(a.cpu_us_per_request for a in on),
        added_us=statistics.median(b.cpu_us_per_request - a.cpu_us_per_request for a, b in zip(off, on)),
        calls_per_request=statistics.median(a.calls_per_request for a in on),
        bpf_ns_per_call=statistics.median(a.bpf_ns_per_call for a in on),
    )


def markdown(summary: Summary, rounds: int, seconds: int) -> str:
    return "\n".join([
        "## TLS: the uprobes' cost per OpenSSL call", "",
        f"`benchmarks/tls.py`: nginx serving HTTPS to `wrk -t1 -c8` on loopback, both linked to OpenSSL 3; the "
        f"agent's probes with `capture.tls` false, then true; {rounds} rounds of {seconds} s, medians. CPU time "
        "is nginx's and wrk's, per request. A call costs its uprobe and uretprobe hits (traps into the kernel, the "
        "bulk of it) and the programs they run (the kernel's accounting); calls that return no data (a read that "
        "would block) cost the same. Traffic that is not TLS pays nothing of this.", "",
        "| capture.tls | CPU µs per request | OpenSSL calls per request | µs per call | of which BPF programs |",
        "|---|---|---|---|---|",
        f"| false | {summary.cpu_us_off:.1f} | | | |",
        f"| true | {summary.cpu_us_on:.1f} | {summary.calls_per_request:.2f} | {summary.us_per_call:.2f} | "
        f"{summary.bpf_ns_per_call / 1000:.2f} |",
    ]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("needs root: loads BPF programs")
    print(markdown(run(args.rounds, args.seconds), args.rounds, args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
