"""What the map shows at one moment: rates over the sliding window, one view per edge (the server's when
both ends were seen), and each node's health as Vizceral notices. Views are immutable, so the history
ring keeps them as they are."""
from __future__ import annotations

from typing import NamedTuple

from ..records import SERVER
from .classes import DANGER, NORMAL, WARNING
from .edge import EdgeKey, Traffic, bytes_by_direction

INTERNET = "INTERNET"

# Notice severities as Vizceral draws them, and the node or edge class each one gives.
INFO, WARN, ERROR = 0, 1, 2
SEVERITY_CLASS = {INFO: NORMAL, WARN: WARNING, ERROR: DANGER}
FAILING_SHARE_FOR_ERROR = 0.05  # below this share of failing requests a notice is only a warning


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

    @property
    def pair(self) -> tuple[str, str, str, str]:
        return self.client, self.client_namespace, self.server, self.server_namespace

    @property
    def requests(self) -> float:
        return self.normal + self.warning + self.danger

    @property
    def klass(self) -> str:
        return _worst_class(self.notices)


class NodeView(NamedTuple):
    service: str
    namespace: str
    notices: tuple[Notice, ...] = ()

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


def edge_view(key: EdgeKey, recent: Traffic, active: int, span: float) -> EdgeView:
    """Rates of one reporter's edge from what changed during the last `span` seconds."""
    tcp = recent.tcp
    to_server, to_client = bytes_by_direction(key.reporter, tcp)
    return EdgeView(
        *key,
        normal=recent.classes[NORMAL] / span,
        warning=recent.classes[WARNING] / span,
        danger=recent.classes[DANGER] / span,
        bytes_to_server=to_server / span,
        bytes_to_client=to_client / span,
        opened=tcp.opens / span,
        active=active,
        connect_failures=(tcp.connect_refused + tcp.connect_timeout + tcp.connect_other) / span,
        resets=(tcp.resets_sent + tcp.resets_received) / span,
        retransmits=tcp.retransmits / span,
    )


def prefer_server(views: list[EdgeView]) -> list[EdgeView]:
    """One view per (client, server): the server's when both ends reported it. Only a client sees its
    connects fail (the server never accepted them), so those come from the client's view."""
    by_pair: dict[tuple, EdgeView] = {}
    for view in sorted(views, key=lambda v: v.reporter != SERVER):  # server views first
        kept = by_pair.get(view.pair)
        if kept is None:
            by_pair[view.pair] = view
        else:
            by_pair[view.pair] = kept._replace(connect_failures=kept.connect_failures + view.connect_failures)
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
    return view._replace(notices=health_notices("", [view], span))


def node_view(service: str, namespace: str, incoming: list[EdgeView], restarting: list[str], span: float) -> NodeView:
    """A service's health from the edges into it and the names of its containers that keep restarting."""
    notices = list(health_notices(f"to {service}", incoming, span))
    notices += [Notice(f"container {name} is restarting", ERROR) for name in restarting]
    return NodeView(service, namespace, tuple(notices))


def assemble_view(now: float, span: float, views: list[EdgeView], services: list) -> GraphView:
    """The graph from every reporter's edge views and the known services (identity's ServiceInfo): one
    edge per pair, and a node for every service that is known or on an edge."""
    edges = [with_edge_notices(v, span) for v in prefer_server(views)]
    known = {(s.service, s.namespace): s.containers for s in services}
    incoming: dict[tuple[str, str], list] = {}
    for view in edges:
        known.setdefault((view.client, view.client_namespace), [])
        known.setdefault((view.server, view.server_namespace), [])
        incoming.setdefault((view.server, view.server_namespace), []).append(view)
    nodes = [
        node_view(
            service,
            namespace,
            incoming.get((service, namespace), []),
            [c.name for c in containers if c.state == "restarting"],
            span,
        )
        for (service, namespace), containers in sorted(known.items())
    ]
    return GraphView(now, span, tuple(nodes), tuple(sorted(edges)))
