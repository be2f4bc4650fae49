"""Accumulates collector drains for a test and waits for conditions on them."""
from __future__ import annotations

import time
from collections import defaultdict

from tracer.records import FlowCounters, FlowKey


class Capture:
    def __init__(self, collector):
        self.collector = collector
        collector.drain()  # start from zero: what earlier tests left is not ours
        self.flows: dict[FlowKey, FlowCounters] = defaultdict(FlowCounters)
        self.events: list = []
        self.requests: dict = defaultdict(dict)

    def poll(self) -> None:
        drain = self.collector.drain()
        for delta in drain.flows:
            self.flows[delta.key].add(delta.counters)
            for status_key, counts in delta.requests.items():
                have = self.requests[delta.key].get(status_key)
                if have is None:
                    self.requests[delta.key][status_key] = counts
                else:
                    have.add(counts)
        self.events.extend(drain.events)

    def matching(self, **fields) -> dict[FlowKey, FlowCounters]:
        return {k: v for k, v in self.flows.items() if all(getattr(k, f) == want for f, want in fields.items())}

    def total(self, **fields) -> FlowCounters:
        out = FlowCounters()
        for counters in self.matching(**fields).values():
            out.add(counters)
        return out

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
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; flows seen:\n{seen}")
            time.sleep(0.2)
