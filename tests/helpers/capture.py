"""Accumulates collector drains for a test and waits for conditions on them."""
from __future__ import annotations

import time
from collections import defaultdict

from tracer.capture.records import ConnectFailure, FlowCounters, FlowKey, RequestCounts, Reset


class Capture:
    def __init__(self, collector):
        self.collector = collector
        collector.drain()  # start from zero: what earlier tests left is not ours
        self.flows: dict[FlowKey, FlowCounters] = defaultdict(FlowCounters)
        self.events: list = []
        self.dns: list = []  # tracer.capture.records.DnsAnswer
        self.requests: dict = defaultdict(dict)
        self.lost: dict[str, int] = defaultdict(int)

    def poll(self) -> None:
        drain = self.collector.drain()
        for delta in drain.flows:
            self.flows[delta.key].add(delta.counters)
            for status_key, counts in delta.requests.items():
                self.requests[delta.key].setdefault(status_key, RequestCounts()).add(counts)
        self.events.extend(drain.events)
        self.dns.extend(drain.dns)
        for source, n in drain.lost.items():
            self.lost[source] += n

    def matching(self, **fields) -> dict[FlowKey, FlowCounters]:
        return {k: v for k, v in self.flows.items() if all(getattr(k, f) == want for f, want in fields.items())}

    def total(self, **fields) -> FlowCounters:
        out = FlowCounters()
        for counters in self.matching(**fields).values():
            out.add(counters)
        return out

    def failure_reasons(self, tgid: int) -> list[str]:
        """Reasons of the connect failure events of one process, in order."""
        return [e.reason for e in self.events if isinstance(e, ConnectFailure) and e.key.tgid == tgid]

    def reset_directions(self, server_port: int) -> list[str]:
        """Directions of the reset events on one server port, sorted."""
        return sorted(e.direction for e in self.events if isinstance(e, Reset) and e.key.server_port == server_port)

    def wait_for(self, condition, timeout: float = 30.0, what: str = "condition"):
        """Poll until condition(self) is truthy; fail with what was seen after a generous deadline."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            result = condition(self)
            if result:
                return result
            if time.monotonic() > deadline:
                seen = "\n".join(f"  {k}: {v}" for k, v in self.flows.items())
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; lost: {dict(self.lost)}; "
                                     f"flows seen:\n{seen}")
            time.sleep(0.2)
