"""One edge of the service graph as one reporter saw it: cumulative totals, a sliding window of recent
changes, and the latest request samples and TCP events."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

from ..capture.records import SERVER, FlowCounters, RequestCounts
from .classes import CLASSES, request_class

OTHER = "other"  # the service, namespace or status that whatever is over a cap is folded into


class EdgeKey(NamedTuple):
    client: str
    client_namespace: str
    server: str
    server_namespace: str
    reporter: str  # records.CLIENT or records.SERVER: which end the agent saw

    @property
    def pair(self) -> tuple[str, str, str, str]:
        return self.client, self.client_namespace, self.server, self.server_namespace


@dataclass
class Traffic:
    """Counts on one edge: its totals, or what one drain added to them."""

    tcp: FlowCounters = field(default_factory=FlowCounters)
    requests: dict[tuple[str, str], RequestCounts] = field(default_factory=dict)  # (protocol, status)
    classes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASSES, 0))

    def add(self, other: "Traffic") -> None:
        self.tcp.add(other.tcp)
        for key, counts in other.requests.items():
            self.requests.setdefault(key, RequestCounts()).add(counts)
        for name, n in other.classes.items():
            self.classes[name] += n

    def set_latency(self, protocol: str, buckets: list, sum_us: float) -> None:
        """Latency kept per protocol only (history, Prometheus's histogram without a status label) goes
        onto the protocol's first status: latency_by_protocol merges it back."""
        statuses = sorted(status for p, status in self.requests if p == protocol)
        if statuses:
            first = self.requests[protocol, statuses[0]]
            first.latency_log2_us, first.latency_sum_us = list(buckets), sum_us

    def latency_by_protocol(self) -> dict[str, RequestCounts]:
        """Requests of each protocol, all statuses together."""
        merged: dict[str, RequestCounts] = {}
        for (protocol, _), counts in self.requests.items():
            merged.setdefault(protocol, RequestCounts()).add(counts)
        return merged


def bytes_by_direction(reporter: str, tcp: FlowCounters) -> tuple[int, int]:
    """(bytes client to server, bytes server to client) from the reporter's sent and received."""
    return (tcp.bytes_received, tcp.bytes_sent) if reporter == SERVER else (tcp.bytes_sent, tcp.bytes_received)


class Edge:
    def __init__(self, max_statuses: int, max_samples: int, window_seconds: float):
        self.totals = Traffic()
        self.window: deque[tuple[float, Traffic]] = deque()  # (drain timestamp, what it added), oldest first
        self.samples: deque[dict] = deque(maxlen=max_samples)
        self.events: deque[dict] = deque(maxlen=max_samples)
        self.last_active = 0.0
        self.last_rps = 0.0  # requests per second over the window that ended with the last activity
        self._max_statuses = max_statuses
        self._window_seconds = window_seconds

    def add(self, timestamp: float, tcp: FlowCounters, requests: dict[tuple[str, str], RequestCounts]) -> None:
        change = Traffic(tcp=tcp)
        for (protocol, status), counts in requests.items():
            # classify before folding: a status folded into "other" keeps its colour on the map
            change.classes[request_class(protocol, status)] += counts.count
            key = (protocol, status)
            if key not in self.totals.requests and len(self.totals.requests) >= self._max_statuses:
                key = (protocol, OTHER)
            change.requests.setdefault(key, RequestCounts()).add(counts)
        self.totals.add(change)
        if self.window and self.window[-1][0] == timestamp:
            self.window[-1][1].add(change)
        else:
            self.window.append((timestamp, change))
        if timestamp >= self.last_active:
            self.last_active = timestamp
            # what a ghost of this edge will say it carried: kept now, as the window forgets it later
            since = timestamp - self._window_seconds
            self.last_rps = sum(sum(t.classes.values()) for ts, t in self.window if ts > since) / self._window_seconds

    def recent(self, since: float) -> Traffic:
        """What changed after `since`; forgets older changes."""
        while self.window and self.window[0][0] <= since:
            self.window.popleft()
        out = Traffic()
        for _, change in self.window:
            out.add(change)
        return out

    @property
    def active_connections(self) -> int:
        # connections opened before the agent started close without having been counted open
        return max(0, self.totals.tcp.opens - self.totals.tcp.closes)


class EdgeReport(NamedTuple):
    """A copy of one reporter's edge for the edge details."""

    key: EdgeKey
    totals: Traffic
    recent: Traffic  # what changed during the window
    span: float  # seconds `recent` covers
    active: int  # connections open now
    samples: list[dict]
    events: list[dict]
