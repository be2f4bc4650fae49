"""What the map shows at one moment: rates over the sliding window, one view per edge (the server's when
both ends were seen), and each node's health as Vizceral notices. Views are immutable, so the history
ring keeps them as they are."""
from __future__ import annotations

import copy
import dataclasses
import time
from typing import NamedTuple, Optional

from ..capture.records import LATENCY_BUCKETS, SERVER, FlowCounters
from .classes import DANGER, NORMAL, WARNING
from .edge import EdgeKey, Traffic, bytes_by_direction
from .latency import percentile_us

INTERNET = "INTERNET"
LIVE, GHOST = "live", "ghost"  # a ghost had traffic and went silent: kept on the map, with its last rate

# Notice severities as Vizceral draws them, and the node or edge class each one gives.
INFO, WARN, ERROR = 0, 1, 2
SEVERITY_CLASS = {INFO: NORMAL, WARN: WARNING, ERROR: DANGER}
FAILING_SHARE_FOR_ERROR = 0.05  # below this share of failing requests a notice is only a warning
CONNECT_FAILURES = ("connect_refused", "connect_timeout", "connect_other")  # FlowCounters fields


class Notice(NamedTuple):
    title: str  # plain text; whoever renders it as HTML escapes it
    severity: int


class EdgeView(NamedTuple):
    client: str
    client_namespace: str
    server: str
    server_namespace: str
    reporter: str
    normal: float  # requests per second by class
    warning: float
    danger: float
    bytes_to_server: float  # bytes per second
    bytes_to_client: float
    opened: float  # connections per second
    active: int  # connections open now
    connect_failures: float  # per second
    resets: float
    retransmits: float
    notices: tuple[Notice, ...] = ()
    # what the window held, for replaying the edge's details from history:
    latency: tuple[tuple[str, tuple[int, ...], float], ...] = ()  # (protocol, log2 buckets, sum in us)
    statuses: tuple[tuple[str, str, int], ...] = ()  # (protocol, status, requests)
    tcp: FlowCounters = FlowCounters()  # never mutated: views are shared with the history ring
    samples: tuple[dict, ...] = ()
    events: tuple[dict, ...] = ()
    state: str = LIVE
    last_seen: Optional[float] = None  # unix seconds of the last traffic
    last_rps: Optional[float] = None  # a ghost's request rate before it went silent
    latency_warning: bool = False
    p95_seconds: Optional[float] = None  # of the window's requests

    @property
    def pair(self) -> tuple[str, str, str, str]:
        return self.client, self.client_namespace, self.server, self.server_namespace

    @property
    def requests(self) -> float:
        return self.normal + self.warning + self.danger

    @property
    def failures(self) -> float:
        """Failed requests, failed connects and resets per second: what the error rate counts."""
        return self.danger + self.connect_failures + self.resets

    @property
    def klass(self) -> str:
        return _worst_class(self.notices)


class Summary(NamedTuple):
    """What the map shows of a node, an edge or a group of edges (a namespace, the whole host)."""

    rps: float
    error_rate: float  # failed requests, failed connects and resets over requests, at most 1
    p95_seconds: Optional[float]
    p99_seconds: Optional[float]
    state: str
    last_seen: Optional[float]
    last_rps: Optional[float]  # only for ghosts
    events_lost: int = 0  # request samples and TCP events that the ring buffer dropped in the window

    def as_json(self, latency_warning: bool) -> dict:
        return {
            "rps": round(self.rps, 3),
            "error_rate": round(self.error_rate, 4),
            "p99_seconds": None if self.p99_seconds is None else round(self.p99_seconds, 6),
            "state": self.state,
            "last_seen": self.last_seen,
            "last_rps": None if self.last_rps is None else round(self.last_rps, 3),
            "latency_warning": latency_warning,
            "incomplete": self.events_lost > 0,
            "incomplete_reason": incomplete_reason(self.events_lost),
        }


def incomplete_reason(events_lost: int) -> Optional[str]:
    """Why the samples and events shown are not all there were; the request counts are whole (in-kernel)."""
    if not events_lost:
        return None
    return (f"{events_lost} request samples or TCP events lost in the window: the kernel's ring buffer was full "
            "(request counts are complete)")


def summarize(views: list[EdgeView]) -> Summary:
    """Rates, error rate and latency of several edges together; a ghost when every one of them is."""
    requests = sum(v.requests for v in views)
    failures = sum(v.failures for v in views)
    error_rate = min(1.0, failures / requests) if requests else (1.0 if failures else 0.0)
    latency, latency_sum = merged_latency(views)
    ghost = bool(views) and all(v.state == GHOST for v in views)
    seen = [v.last_seen for v in views if v.last_seen is not None]
    return Summary(
        rps=requests,
        error_rate=error_rate,
        p95_seconds=_seconds(percentile_us(latency, latency_sum, 0.95)),
        p99_seconds=_seconds(percentile_us(latency, latency_sum, 0.99)),
        state=GHOST if ghost else LIVE,
        last_seen=max(seen, default=None),
        last_rps=sum(v.last_rps or 0.0 for v in views) if ghost else None,
        events_lost=sum(v.tcp.events_lost for v in views),
    )


def merged_latency(views: list[EdgeView]) -> tuple[list[int], float]:
    """The log2 latency buckets and latency sum of every protocol on `views`."""
    buckets = [0] * LATENCY_BUCKETS
    total = 0.0
    for view in views:
        for _, counts, sum_us in view.latency:
            total += sum_us
            for i, n in enumerate(counts):
                buckets[i] += n
    return buckets, total


def served(node: tuple[str, str], edges: tuple[EdgeView, ...] | list[EdgeView]) -> list[EdgeView]:
    """The edges a node serves, or those it calls when it serves none (a client such as a load generator):
    the requests that make its rate, as Vizceral counts a node's incoming volume."""
    incoming = [e for e in edges if (e.server, e.server_namespace) == node]
    return incoming or [e for e in edges if (e.client, e.client_namespace) == node]


class NodeView(NamedTuple):
    service: str
    namespace: str
    notices: tuple[Notice, ...] = ()
    summary: Optional[Summary] = None  # None for a service without traffic
    latency_warning: bool = False
    containers: tuple = ()  # identity's ContainerInfo at the time of the view, kept for replay
    errors: object = None  # origin.ErrorRole: where its errors start, set by origin.with_error_origins

    @property
    def klass(self) -> str:
        return _worst_class(self.notices)


class GraphView(NamedTuple):
    timestamp: float
    window_seconds: float  # the span the rates are averaged over
    nodes: tuple[NodeView, ...]
    edges: tuple[EdgeView, ...]


def _worst_class(notices: tuple[Notice, ...]) -> str:
    return SEVERITY_CLASS[max((n.severity for n in notices), default=INFO)]


def edge_view(key: EdgeKey, recent: Traffic, active: int, span: float, last_seen: Optional[float] = None,
              samples: tuple[dict, ...] = (), events: tuple[dict, ...] = ()) -> EdgeView:
    """Rates of one reporter's edge from what changed during the last `span` seconds."""
    tcp = recent.tcp
    to_server, to_client = bytes_by_direction(key.reporter, tcp)
    latency = tuple((protocol, tuple(counts.latency_log2_us), float(counts.latency_sum_us))
                    for protocol, counts in sorted(recent.latency_by_protocol().items()))
    view = EdgeView(
        *key,
        normal=recent.classes[NORMAL] / span,
        warning=recent.classes[WARNING] / span,
        danger=recent.classes[DANGER] / span,
        bytes_to_server=to_server / span,
        bytes_to_client=to_client / span,
        opened=tcp.opens / span,
        active=active,
        connect_failures=sum(getattr(tcp, name) for name in CONNECT_FAILURES) / span,
        resets=(tcp.resets_sent + tcp.resets_received) / span,
        retransmits=tcp.retransmits / span,
        latency=latency,
        statuses=tuple((protocol, status, counts.count)
                       for (protocol, status), counts in sorted(recent.requests.items()) if counts.count),
        tcp=copy.copy(tcp),
        samples=samples,
        events=events,
        last_seen=last_seen,
    )
    buckets, total = merged_latency([view])
    return view._replace(p95_seconds=_seconds(percentile_us(buckets, total, 0.95)))


def _seconds(us: Optional[float]) -> Optional[float]:
    return None if us is None else us / 1e6


def ghost_view(key: EdgeKey, active: int, last_seen: float, last_rps: float) -> EdgeView:
    """An edge that had traffic and went silent: no rates, and a notice with the rate it had until when."""
    return EdgeView(*key, normal=0.0, warning=0.0, danger=0.0, bytes_to_server=0.0, bytes_to_client=0.0,
                    opened=0.0, active=active, connect_failures=0.0, resets=0.0, retransmits=0.0, state=GHOST,
                    last_seen=last_seen, last_rps=last_rps)


def ghost_notice(last_seen: float, last_rps: float) -> Notice:
    until = time.strftime("%H:%M:%S UTC", time.gmtime(last_seen))
    rate = f"{last_rps:.3g} req/s" if last_rps else "connections"
    return Notice(f"{rate} until {until}, silent since", WARN)


def prefer_server(views: list[EdgeView]) -> list[EdgeView]:
    """One view per (client, server): the server's when both ends reported it. Only a client sees its
    connects fail (the server never accepted them), so those come from the client's view."""
    by_pair: dict[tuple, EdgeView] = {}
    # live views first (a ghost of one end is no news while the other end still sees traffic), then the server's
    for view in sorted(views, key=lambda v: (v.state != LIVE, v.reporter != SERVER)):
        kept = by_pair.get(view.pair)
        if kept is None:
            by_pair[view.pair] = view
        else:
            failed = {name: getattr(kept.tcp, name) + getattr(view.tcp, name) for name in CONNECT_FAILURES}
            by_pair[view.pair] = kept._replace(connect_failures=kept.connect_failures + view.connect_failures,
                                               tcp=dataclasses.replace(kept.tcp, **failed))
    return list(by_pair.values())


def _share(part: float, whole: float) -> str:
    share = 100 * part / whole
    return "<1%" if share < 1 else f"{share:.0f}%"


def health_notices(target: str, views: list[EdgeView], span: float) -> tuple[Notice, ...]:
    """Notices about requests and connections in `views`; `target` names what they go to in the text,
    for example "to db" for a node or "" for an edge."""
    requests = sum(v.requests for v in views)
    danger = sum(v.danger for v in views)
    warning = sum(v.warning for v in views)
    failures = round(sum(v.connect_failures for v in views) * span)
    resets = round(sum(v.resets for v in views) * span)
    suffix = f" {target}" if target else ""
    notices = []
    if danger:
        severity = ERROR if danger / requests >= FAILING_SHARE_FOR_ERROR else WARN
        notices.append(Notice(f"{_share(danger, requests)} of requests{suffix} fail", severity))
    if warning:
        notices.append(Notice(f"{_share(warning, requests)} of requests{suffix} are refused (4xx)", WARN))
    if failures:
        notices.append(Notice(f"{failures} failed connects{suffix} in the last {span:g} s", ERROR))
    if resets:
        notices.append(Notice(f"{resets} connection resets{suffix} in the last {span:g} s", ERROR))
    return tuple(notices)


def with_edge_notices(view: EdgeView, span: float) -> EdgeView:
    if view.state == GHOST:
        return view._replace(notices=(ghost_notice(view.last_seen, view.last_rps),))
    return view._replace(notices=health_notices("", [view], span))


def node_view(service: str, namespace: str, edges: list[EdgeView], containers: tuple, span: float) -> NodeView:
    """A service's health from the edges it serves (or calls, when it serves none) and its containers
    (identity's ContainerInfo: one that keeps restarting is news)."""
    mine = served((service, namespace), edges)
    incoming = [e for e in mine if (e.server, e.server_namespace) == (service, namespace)]
    summary = summarize(mine) if mine else None
    notices = []
    if summary is not None and summary.state == GHOST:
        notices.append(ghost_notice(summary.last_seen, summary.last_rps))
    notices += health_notices(f"to {service}", incoming, span)
    notices += [Notice(f"container {c.name} is restarting", ERROR) for c in containers if c.state == "restarting"]
    return NodeView(service, namespace, tuple(notices), summary, containers=containers)


def assemble_view(now: float, span: float, views: list[EdgeView], services: list) -> GraphView:
    """The graph from every reporter's edge views and the known services (identity's ServiceInfo): one
    edge per pair, and a node for every service that is known or on an edge."""
    edges = [with_edge_notices(v, span) for v in prefer_server(views)]
    known = {(s.service, s.namespace): s.containers for s in services}
    touching: dict[tuple[str, str], list] = {}
    for view in edges:
        for end in ((view.client, view.client_namespace), (view.server, view.server_namespace)):
            known.setdefault(end, [])
            touching.setdefault(end, []).append(view)
    nodes = [
        node_view(
            service,
            namespace,
            touching.get((service, namespace), []),
            tuple(containers),
            span,
        )
        for (service, namespace), containers in sorted(known.items())
    ]
    return GraphView(now, span, tuple(nodes), tuple(sorted(edges)))
