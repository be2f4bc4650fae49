"""Where errors start: which failing services are the cause, and which only pass on a dependency's failures.

A service fails when a share of the requests to it fail: 5xx, Redis and PostgreSQL errors, and also failed
connects and resets on the edges into it (a stopped container fails its callers' connects, so it is the one
failing). HTTP 4xx are the client's mistake and never make a service fail. A failing service whose own
calls succeed is an origin. A service whose calls fail is a victim of the origins it reaches by following
failing calls; an origin's blast radius is every victim that reaches it, with the share of that victim's
calls that fail.

The same for latency: a service with a latency warning (trends.py) on an edge into it and on none of its
own calls is where latency starts.
"""
from __future__ import annotations

from typing import NamedTuple

from .view import ERROR, FAILING_SHARE_FOR_ERROR, WARN, EdgeView, GraphView, NodeView, Notice

Service = tuple[str, str]  # (service, namespace)


class Caller(NamedTuple):
    service: str
    namespace: str
    error_share: float  # of its calls, those that fail


class ErrorRole(NamedTuple):
    """A node's part in the errors of the graph now."""

    origin: bool  # errors start here
    error_share: float  # of the requests to this service, those that fail
    origins: tuple[Service, ...] = ()  # for a victim: the origins its failing calls lead to
    blast_radius: tuple[Caller, ...] = ()  # for an origin: every caller that sees errors because of it
    latency_origin: bool = False  # latency starts here


NO_ROLE = ErrorRole(origin=False, error_share=0.0)


def _failures(edge: EdgeView) -> tuple[float, float]:
    """(failing, attempted) calls per second on one edge; failed connects never became requests."""
    return edge.failures, max(edge.requests + edge.connect_failures, edge.failures)


def _share(edges: list[EdgeView]) -> float:
    failing = attempted = 0.0
    for edge in edges:
        f, a = _failures(edge)
        failing += f
        attempted += a
    return failing / attempted if attempted else 0.0


def _fails(edges: list[EdgeView]) -> bool:
    return bool(edges) and _share(edges) >= FAILING_SHARE_FOR_ERROR


def _latency_origins(incoming: dict[Service, list[EdgeView]],
                     outgoing: dict[Service, list[EdgeView]]) -> set[Service]:
    """Services warned slower on some edge into them but on none of their calls."""
    return {service for service, into in incoming.items()
            if any(e.latency_warning for e in into) and not any(e.latency_warning for e in outgoing.get(service, ()))}


def error_roles(edges: tuple[EdgeView, ...]) -> dict[Service, ErrorRole]:
    """The role of every service that fails, sees its calls fail or is where latency starts; the others have
    none."""
    incoming: dict[Service, list[EdgeView]] = {}
    outgoing: dict[Service, list[EdgeView]] = {}
    for edge in edges:
        incoming.setdefault((edge.server, edge.server_namespace), []).append(edge)
        outgoing.setdefault((edge.client, edge.client_namespace), []).append(edge)
    failing = {s for s, into in incoming.items() if _fails(into)}
    failing_calls = {s: [(e.server, e.server_namespace) for e in out if _fails([e])] for s, out in outgoing.items()}
    origins = {s for s in failing if not failing_calls.get(s)}

    def reached(start: Service) -> tuple[Service, ...]:
        seen, found, todo = {start}, set(), list(failing_calls.get(start, ()))
        while todo:
            service = todo.pop()
            if service in seen:
                continue
            seen.add(service)
            if service in origins:
                found.add(service)
            else:
                todo.extend(failing_calls.get(service, ()))
        return tuple(sorted(found))

    roles = {s: ErrorRole(True, _share(incoming[s])) for s in origins}
    victims = {s: reached(s) for s, calls in failing_calls.items() if calls}
    for service, leads_to in victims.items():
        roles[service] = ErrorRole(False, _share(incoming.get(service, [])), origins=leads_to)
    for origin in origins:
        callers = [Caller(*s, _share(outgoing[s])) for s, leads_to in sorted(victims.items()) if origin in leads_to]
        roles[origin] = roles[origin]._replace(blast_radius=tuple(callers))
    for service in _latency_origins(incoming, outgoing):
        roles[service] = roles.get(service, ErrorRole(False, _share(incoming[service])))._replace(latency_origin=True)
    return roles


def _percent(share: float) -> str:
    return "<1%" if share < 0.01 else f"{100 * share:.0f}%"


def _name(service: Service, seen_from: str) -> str:
    return service[0] if service[1] == seen_from else f"{service[1]}/{service[0]}"


def role_notices(node: NodeView, role: ErrorRole) -> tuple[Notice, ...]:
    notices = []
    if role.origin:
        notices.append(Notice(f"errors start here: {_percent(role.error_share)} of requests fail, its "
                              "dependencies are healthy", ERROR))
    elif role.origins:
        notices.append(Notice(f"errors come from {', '.join(_name(o, node.namespace) for o in role.origins)}", WARN))
    if role.latency_origin:
        notices.append(Notice("slowness starts here: it slowed down, its dependencies did not", WARN))
    return tuple(notices)


def with_error_origins(view: GraphView) -> GraphView:
    """The view with each node's error role and the notices it gives."""
    roles = error_roles(view.edges)
    nodes = []
    for node in view.nodes:
        role = roles.get((node.service, node.namespace), NO_ROLE)
        nodes.append(node._replace(errors=role, notices=node.notices + role_notices(node, role)))
    return view._replace(nodes=tuple(nodes))


def role_json(role: ErrorRole | None) -> dict:
    """A node's error role as /api/graph and /api/services show it."""
    role = role or NO_ROLE
    return {
        "origin": role.origin,
        "error_share": role.error_share,
        "origins": [{"service": s, "namespace": ns} for s, ns in role.origins],
        "blast_radius": [c._asdict() for c in role.blast_radius],
        "latency_origin": role.latency_origin,
    }
