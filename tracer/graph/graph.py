"""The service graph: every flow the collector drains, named by identity and folded into edges between
services. Thread-safe: one drain thread writes, HTTP threads read."""
from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from typing import Optional, Protocol

from ..capture.records import CLIENT, SERVER, Drain, FlowDelta, FlowKey, RequestSample
from ..config import Config
from ..identity import EXTERNAL_NAMESPACE, HOST, INTERNET, Endpoint
from ..protocols import ParseErrors
from .edge import OTHER, Edge, EdgeKey, EdgeReport, Traffic
from .external import ExternalNames
from .history import HistoryRing
from .samples import event_record, sample_record
from . import trends
from .origin import with_error_origins
from .view import GraphView, assemble_view, edge_view, ghost_view


# Drains that a record waits when its peer is on this host but its socket was not seen: an address of this host
# (the server's first counts can come a drain after its client's), or a server flow whose client process the
# kernel named (FlowKey.peer_tgid) from an address that names nothing yet: a container Docker has not described,
# whose requests or samples were drained before its client's flow (the collector reads the flows map, then the
# requests map and the samples, while the probes count). Naming the peer `host` or INTERNET meanwhile would put
# them on the wrong edge for good. One: counts a user waits for are late by a second at most.
HOLD_DRAINS = 1
# Drains that a record waits while an end is a container named by its id only: a container that makes its
# requests and exits at once can be drained before Docker's start event names it, and its counts would stay
# under the id for good. Docker's event comes within a second or two even on a busy host.
NAMING_DRAINS = 5


def _drains_to_wait(key: FlowKey, local: Endpoint, peer: Endpoint) -> int:
    """How many drains a record may wait for better names of its ends."""
    if local.provisional or peer.provisional:
        return NAMING_DRAINS
    unpaired_local_client = key.peer_tgid and (peer == INTERNET or peer.namespace == EXTERNAL_NAMESPACE)
    return HOLD_DRAINS if peer == HOST or unpaired_local_client else 0


class Identity(Protocol):
    """What the graph needs of tracer.identity.Identity."""

    def name_flows(self, keys: list[FlowKey]) -> list: ...  # (local, peer) Endpoints, or None for no edge
    def services(self) -> list: ...


class ContainerNotices(Protocol):
    """What the graph needs of tracer.container_health.ContainerHealth."""

    def annotate(self, view: GraphView, services: list) -> GraphView: ...


class Graph:
    def __init__(self, identity: Identity, config: Config, clock: Callable[[], float] = time.time,
                 containers: Optional[ContainerNotices] = None):
        self._identity = identity
        self._caps = config.caps
        self._window = config.window_seconds
        self._ghost_seconds = config.ghost_seconds
        self._retention = config.history.retention_seconds
        self._redact = config.redaction
        self._clock = clock
        self._containers = containers
        self._started = clock()
        self._history = HistoryRing(config.history.interval_seconds, config.history.retention_seconds)
        self._edges: dict[EdgeKey, Edge] = {}
        self._lock = threading.Lock()
        self.edges_dropped = 0  # flow updates folded into the `other` edge because the edge cap was reached
        self.events_lost: dict[str, int] = {}  # source -> events the kernel could not hand over
        self.parse_errors = ParseErrors()  # request samples whose bytes were not their protocol
        self._held: list[tuple[object, int]] = []  # (record, drains it waited) whose peer is an unseen local socket
        self._external = ExternalNames(config.external_names, config.history.retention_seconds)

    def _name(self, records: list) -> list[tuple[EdgeKey, object]]:
        """(edge, record) for flow deltas, events and samples; records whose flow carries no edge are left
        out, and records whose peer is an unseen socket of this host are held for the next drains. A peer
        named by DNS beyond the top names by traffic is INTERNET (external.py)."""
        waited = {id(record): n for record, n in self._held}
        named = self._identity.name_flows([r.key for r in records])
        self._external.rank(((ends[1].service, r.counters.bytes_sent + r.counters.bytes_received)
                             for r, ends in zip(records, named)
                             if ends and ends[1].namespace == EXTERNAL_NAMESPACE and isinstance(r, FlowDelta)),
                            self._clock())
        out, self._held = [], []
        for record, ends in zip(records, named):
            if ends is None:
                continue
            local, peer = ends[0], self._external.shown(ends[1])
            drains = waited.get(id(record), 0)
            if drains < _drains_to_wait(record.key, local, peer):
                self._held.append((record, drains + 1))
                continue
            client, server = (local, peer) if record.key.role == CLIENT else (peer, local)
            out.append((EdgeKey(client.service, client.namespace, server.service, server.namespace,
                                record.key.role), record))
        return out

    def ingest(self, drain: Drain) -> None:
        """Add one collector pass; every history interval also records a view of the graph."""
        # name both ends of everything before taking the lock: identity pairs the flows of one drain
        named = self._name([record for record, _ in self._held] + drain.flows + drain.events)
        # parse the samples before taking the lock too: the HTTP threads wait on it
        described = [sample_record(r, key.reporter, self._redact, self.parse_errors)
                     if isinstance(r, RequestSample) else None for key, r in named]
        # the services, for a history view when one is due (only this thread adds views)
        now = self._clock()
        services = self._identity.services() if self._history.due(now) else None
        with self._lock:
            for (key, record), sample in zip(named, described):
                edge = self._edge(key, drain.timestamp)
                if isinstance(record, FlowDelta):
                    edge.add(drain.timestamp, record.counters, record.requests)
                elif sample is not None:
                    edge.samples.append(sample)
                else:
                    edge.events.append(event_record(record, key.reporter))
            for source, lost in drain.lost.items():
                self.events_lost[source] = self.events_lost.get(source, 0) + lost
            if services is not None:
                self._history.add(self._view(now, services))

    def _edge(self, key: EdgeKey, now: float) -> Edge:
        edge = self._edges.get(key)
        if edge is not None:
            return edge
        if len(self._edges) >= self._caps.max_edges:
            self._evict_idle(now)
        if len(self._edges) >= self._caps.max_edges:
            self.edges_dropped += 1
            key = EdgeKey(OTHER, OTHER, OTHER, OTHER, key.reporter)
            edge = self._edges.get(key)
            if edge is not None:
                return edge
        edge = self._edges[key] = Edge(self._caps.max_statuses_per_edge, self._caps.samples_per_edge, self._window)
        return edge

    def _evict_idle(self, now: float) -> None:
        """Forget edges without open connections that have been idle for longer than history reaches back."""
        cutoff = now - self._retention
        for key in [k for k, e in self._edges.items() if e.last_active < cutoff and not e.active_connections]:
            del self._edges[key]

    def view(self) -> GraphView:
        """The graph now: rates over the sliding window."""
        services = self._identity.services()
        with self._lock:
            return self._view(self._clock(), services)

    def _view(self, now: float, services: list) -> GraphView:
        span = self._span(now)
        views = []
        since = now - self._window
        for key, edge in self._edges.items():
            recent = edge.recent(since)
            if edge.window:
                # the window's samples and events go with the view, for replaying the edge from history
                samples = tuple(r for r in edge.samples if r["time"] > since)
                events = tuple(r for r in edge.events if r["time"] > since)
                views.append(edge_view(key, recent, edge.active_connections, span, edge.last_active, samples, events))
            elif now - edge.last_active <= self._ghost_seconds:
                views.append(ghost_view(key, edge.active_connections, edge.last_active, edge.last_rps))
            elif edge.active_connections:  # idle, with connections open (a pool): on the map without rates
                views.append(edge_view(key, recent, edge.active_connections, span, edge.last_active))
        marked = trends.mark(assemble_view(now, span, views, services), self._history.recent(trends.BASELINE_VIEWS))
        view = with_error_origins(marked)
        return self._containers.annotate(view, services) if self._containers else view

    def view_at(self, timestamp: float) -> GraphView | None:
        with self._lock:
            return self._history.at(timestamp)

    def history_span(self) -> tuple[float, float] | None:
        with self._lock:
            return self._history.span()

    def history_views(self) -> list[GraphView]:
        """Every view the history ring holds, oldest first."""
        with self._lock:
            return self._history.views()

    @property
    def history_interval(self) -> float:
        return self._history.interval

    def pairs(self) -> set[tuple[str, str, str, str]]:
        """Every (client, client_namespace, server, server_namespace) the graph holds."""
        with self._lock:
            return {key.pair for key in self._edges}

    def edges(self) -> list[tuple[EdgeKey, Traffic, int]]:
        """Every edge's totals and open connections, copied: what /metrics exports."""
        with self._lock:
            return [(k, copy.deepcopy(e.totals), e.active_connections) for k, e in self._edges.items()]

    def edge_reports(self, pair: tuple[str, str, str, str]) -> list[EdgeReport]:
        """Each reporter's copy of one (client, client_namespace, server, server_namespace), the server's first."""
        now = self._clock()
        reports = []
        with self._lock:
            for reporter in (SERVER, CLIENT):
                key = EdgeKey(*pair, reporter)
                edge = self._edges.get(key)
                if edge is not None:
                    reports.append(EdgeReport(key, copy.deepcopy(edge.totals), edge.recent(now - self._window),
                                              self._span(now), edge.active_connections, list(edge.samples),
                                              list(edge.events)))
        return reports

    def _span(self, now: float) -> float:
        """Seconds the window rates average over: the window, or less while the agent is younger."""
        return float(min(self._window, max(1.0, now - self._started)))
