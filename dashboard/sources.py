"""Where the dashboard's data comes from. The agent's in-process service graph (one host) here;
prometheus_source.py reads a cluster's from Prometheus.

A source answers the JSON API in the shapes the README promises; the Flask app never looks behind it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import time

from tracer.graph import EdgeView, Graph, GraphView, NodeView, Notice
from tracer.graph.changes import changes
from tracer.graph.details import edge_details, replayed_edge_details, view_latency_ms
from tracer.graph.view import summarize
from tracer.graph.origin import role_json
from tracer.graph.vizceral import render

BASELINE_SECONDS = 3600  # /api/changes compares with this long ago unless told otherwise


class NotFound(LookupError):
    """What the request names does not exist (or no longer does)."""


class Ambiguous(ValueError):
    """A name matches in several namespaces; the message says which parameter tells them apart."""


class Unavailable(RuntimeError):
    """The data behind the source cannot be read right now (e.g. its Prometheus server does not answer)."""


class Source(Protocol):
    def graph(self, at: float | None = None) -> dict: ...
    def services(self) -> list[dict]: ...
    def service(self, name: str, namespace: str | None = None, at: float | None = None) -> dict: ...
    def edge(self, client: str, server: str, client_namespace: str | None = None,
             server_namespace: str | None = None, at: float | None = None) -> dict: ...
    def changes(self, baseline: float | None = None) -> dict: ...
    def timeline(self) -> dict: ...
    def health(self) -> tuple[bool, str]: ...
    def collectors(self) -> list: ...  # prometheus_client collectors behind /metrics


def _notices(notices: tuple[Notice, ...]) -> list[dict]:
    return [{"title": n.title, "severity": n.severity} for n in notices]


def _edge_summary(edge: EdgeView) -> dict:
    return {
        "client": edge.client,
        "client_namespace": edge.client_namespace,
        "server": edge.server,
        "server_namespace": edge.server_namespace,
        "reporter": edge.reporter,
        "class": edge.klass,
        "requests_per_second": edge.requests,
        "errors_per_second": edge.danger,
        "refused_per_second": edge.warning,  # HTTP 4xx
        "error_ratio": edge.danger / edge.requests if edge.requests else 0.0,
        "bytes_to_server_per_second": edge.bytes_to_server,
        "bytes_to_client_per_second": edge.bytes_to_client,
        "connections_opened_per_second": edge.opened,
        "active_connections": edge.active,
        "connect_failures_per_second": edge.connect_failures,
        "resets_per_second": edge.resets,
        "notices": _notices(edge.notices),
    }


def _pick(candidates: set[tuple], what: str, hint: str) -> tuple:
    if not candidates:
        raise NotFound(f"no {what}")
    if len(candidates) > 1:
        raise Ambiguous(f"{what} matches several: {', '.join(sorted('/'.join(c) for c in candidates))}; {hint}")
    return next(iter(candidates))


def _matches(wanted: tuple, pair: tuple) -> bool:
    """Whether a (client, client_namespace, server, server_namespace) fits the given parts (None: any)."""
    return all(w is None or w == v for w, v in zip(wanted, pair))


class GraphSource:
    """The in-process graph of `intuition run` and `intuition agent`."""

    def __init__(self, graph: Graph, identity, health: Callable[[], tuple[bool, str]], collectors: list,
                 containers=None):
        self._graph = graph
        self._identity = identity
        self._health = health
        self._collectors = collectors
        self._containers = containers  # tracer.container_health.ContainerHealth, when the agent follows them

    def _view(self, at: float | None) -> GraphView:
        """The graph now, or the moment of history at `at`; NotFound saying what history covers."""
        if at is None:
            return self._graph.view()
        view = self._graph.view_at(at)
        if view is None:
            history = self._graph.history_span()
            covered = f"history covers {history[0]:.0f} to {history[1]:.0f}" if history else "no history yet"
            raise NotFound(f"no graph at {at:.0f}: {covered}")
        return view

    def graph(self, at: float | None = None) -> dict:
        view = self._view(at)
        oldest, newest = self._graph.history_span() or (None, None)
        return render(view, {
            "live": at is None,
            "window_seconds": view.window_seconds,
            "history": {"oldest": oldest, "newest": newest, "interval_seconds": self._graph.history_interval},
        })

    def services(self) -> list[dict]:
        return self._services(self._graph.view())

    def _services(self, view: GraphView) -> list[dict]:
        return [self._service(node, view) for node in view.nodes]

    def _container(self, container) -> dict:
        found = container._asdict()
        if self._containers is not None:
            found["health"] = self._containers.container_json(container.id)
        return found

    def _service(self, node: NodeView, view: GraphView) -> dict:
        me = (node.service, node.namespace)
        return {
            "name": node.service,
            "namespace": node.namespace,
            "class": node.klass,
            "notices": _notices(node.notices),
            "errors": role_json(node.errors),
            "containers": [self._container(c) for c in node.containers],
            "incoming": [_edge_summary(e) for e in view.edges if (e.server, e.server_namespace) == me],
            "outgoing": [_edge_summary(e) for e in view.edges if (e.client, e.client_namespace) == me],
        }

    def service(self, name: str, namespace: str | None = None, at: float | None = None) -> dict:
        """One service now or at `at`, with its containers as they were then."""
        view = self._view(at)
        services = {(s["name"], s["namespace"]): s for s in self._services(view)}
        picked = _pick({k for k in services if k[0] == name and namespace in (None, k[1])},
                       f"service {name!r}" + (f" in namespace {namespace!r}" if namespace is not None else "")
                       + (f" at {at:.0f}" if at is not None else ""),
                       "add ?namespace=")
        found = services[picked]
        edges = {e.pair: e for e in view.edges}
        for summary in found["incoming"] + found["outgoing"]:
            pair = (summary["client"], summary["client_namespace"], summary["server"], summary["server_namespace"])
            summary["latency_ms"] = view_latency_ms(edges[pair])
        return found

    def edge(self, client: str, server: str, client_namespace: str | None = None,
             server_namespace: str | None = None, at: float | None = None) -> dict:
        wanted = (client, client_namespace, server, server_namespace)
        what = f"edge from {client!r} to {server!r}"
        hint = "add ?client_namespace= and ?server_namespace="
        if at is None:
            pair = _pick({p for p in self._graph.pairs() if _matches(wanted, p)}, what, hint)
            return edge_details(self._graph.edge_reports(pair))
        view = self._view(at)
        edges = {e.pair: e for e in view.edges}
        pair = _pick({p for p in edges if _matches(wanted, p)}, f"{what} at {at:.0f}", hint)
        return replayed_edge_details(edges[pair], view.window_seconds)

    def changes(self, baseline: float | None = None) -> dict:
        """Edges new, vanished and changed since `baseline` (default an hour ago, or the oldest moment
        history holds when it reaches less far back)."""
        now = self._graph.view()
        then = self._graph.view_at(now.timestamp - BASELINE_SECONDS if baseline is None else baseline)
        if then is None:
            history = self._graph.history_span()
            if history is None:
                raise NotFound("no history yet to compare with")
            then = self._graph.view_at(history[0])
        return changes(then, now)

    def timeline(self) -> dict:
        """Throughput and error rate of every moment in history, and the container events since the oldest."""
        views = self._graph.history_views()
        points = []
        for view in views:
            summary = summarize(list(view.edges))
            points.append({"t": view.timestamp, "rps": round(summary.rps, 3),
                           "error_rate": round(summary.error_rate, 4)})
        since = views[0].timestamp if views else time.time()
        return {
            "interval_seconds": self._graph.history_interval,
            "points": points,
            "events": [e._asdict() for e in self._identity.container_events(since)],
        }

    def health(self) -> tuple[bool, str]:
        return self._health()

    def collectors(self) -> list:
        return self._collectors
