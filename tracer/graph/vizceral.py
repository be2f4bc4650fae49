"""A graph view as Vizceral's JSON: a global view with INTERNET and one region per namespace.

Vizceral inserts notice text into the page as raw HTML, so every notice is escaped here. A region needs
maxVolume or its particles come out sparse.

Every node and connection, at every level, carries `metadata.intuition`: its request rate, error rate,
p99, whether it is live or a ghost, and whether its latency is warned. Vizceral itself derives the numbers
it draws on the global view from the connections (a region's share of INTERNET's outgoing volume, its
incoming error share; INTERNET's outgoing volume as the total), which leave out each namespace's internal
traffic: the page draws these true numbers instead.
"""
from __future__ import annotations

import html
from collections import defaultdict

from .classes import CLASSES, DANGER, NORMAL, WARNING
from .origin import role_json
from .view import INTERNET, EdgeView, GraphView, Notice, NodeView, summarize

HEADROOM = 1.5  # maxVolume over the busiest connection, so that it is not drawn saturated
ROOT_NAME = "edge"


def render(view: GraphView, metadata: dict) -> dict:
    namespaces = sorted({n.namespace for n in view.nodes if n.service != INTERNET})
    regions = [_region(ns, view) for ns in namespaces]
    internet = {"renderer": "region", "name": INTERNET, "class": NORMAL,
                # the centre of the global view: everything on the host
                "metadata": {"intuition": summarize(list(view.edges)).as_json(any(e.latency_warning for e in view.edges))}}
    return {
        "renderer": "global",
        "name": ROOT_NAME,
        "entryNode": INTERNET,
        "updated": int(view.timestamp * 1000),
        "nodes": [internet] + regions,
        "connections": _between_regions(view.edges),
        "metadata": metadata,
    }


def _intuition(edges: list[EdgeView], latency_warning: bool) -> dict:
    return summarize(edges).as_json(latency_warning)


def _node_intuition(node: NodeView) -> dict:
    if node.summary is None:
        return summarize([]).as_json(node.latency_warning)
    return node.summary.as_json(node.latency_warning)


def _namespace_intuition(namespace: str, view: GraphView) -> dict:
    """A namespace on the global view: the requests its services serve, its internal ones included (or those
    it makes, when it serves none)."""
    incoming = [e for e in view.edges if e.server_namespace == namespace and e.server != INTERNET]
    outgoing = [e for e in view.edges if e.client_namespace == namespace and e.client != INTERNET]
    warned = any(n.latency_warning for n in view.nodes if n.namespace == namespace and n.service != INTERNET)
    return _intuition(incoming or outgoing, warned)


def _region_of(service: str, namespace: str) -> str:
    return INTERNET if service == INTERNET else namespace


def _between_regions(edges: tuple[EdgeView, ...]) -> list[dict]:
    between: dict[tuple[str, str], list[EdgeView]] = defaultdict(list)
    for edge in edges:
        source, target = _region_of(edge.client, edge.client_namespace), _region_of(edge.server, edge.server_namespace)
        if source != target:
            between[source, target].append(edge)
    connections = []
    for (source, target), group in sorted(between.items()):
        volume = dict.fromkeys(CLASSES, 0.0)
        for edge in group:
            for name, value in _metrics(edge).items():
                volume[name] += value
        connections.append({
            "source": source,
            "target": target,
            "metrics": {k: round(v, 3) for k, v in volume.items()},
            "metadata": {"intuition": _intuition(group, any(e.latency_warning for e in group))},
        })
    return connections


def _metrics(edge: EdgeView) -> dict[str, float]:
    # a failed connect or a reset is a red dot on its edge, like a failed request
    return {
        NORMAL: edge.normal,
        WARNING: edge.warning,
        DANGER: edge.danger + edge.connect_failures + edge.resets,
    }


def _notices(notices: tuple[Notice, ...]) -> list[dict]:
    return [{"title": html.escape(n.title), "severity": n.severity} for n in notices]


def _region(namespace: str, view: GraphView) -> dict:
    def name(service: str, ns: str) -> str:
        if service == INTERNET or ns == namespace:
            return service
        return f"{ns}/{service}"  # a service of another namespace talking to this one

    nodes: dict[str, dict] = {}

    def add_node(node: NodeView) -> None:
        nodes[name(node.service, node.namespace)] = {
            "name": name(node.service, node.namespace),
            "renderer": "focusedChild",
            "class": node.klass,
            "notices": _notices(node.notices),
            "metadata": {"service": node.service, "namespace": node.namespace, "intuition": _node_intuition(node),
                         "errors": role_json(node.errors)},
        }

    by_key = {(n.service, n.namespace): n for n in view.nodes}
    for node in view.nodes:
        if node.namespace == namespace and node.service != INTERNET:
            add_node(node)
    connections = []
    for edge in view.edges:
        if namespace not in (edge.client_namespace, edge.server_namespace):
            continue
        for end in ((edge.client, edge.client_namespace), (edge.server, edge.server_namespace)):
            if name(*end) not in nodes:
                add_node(by_key.get(end, NodeView(*end)))
        metrics = _metrics(edge)
        connections.append(
            {
                "source": name(edge.client, edge.client_namespace),
                "target": name(edge.server, edge.server_namespace),
                "metrics": {k: round(v, 3) for k, v in metrics.items()},
                "class": edge.klass,
                "notices": _notices(edge.notices),
                "metadata": {
                    "reporter": edge.reporter,
                    "bytes_per_second": round(edge.bytes_to_server + edge.bytes_to_client, 3),
                    "active_connections": edge.active,
                    "intuition": _intuition([edge], edge.latency_warning),
                },
            }
        )
    busiest = max((sum(c["metrics"].values()) for c in connections), default=0.0)
    own = [n["class"] for n in nodes.values() if n["metadata"]["namespace"] == namespace]
    worst = max(own, key=CLASSES.index, default=NORMAL)
    return {
        "renderer": "region",
        "name": namespace,
        "class": worst,
        "maxVolume": max(1.0, round(busiest * HEADROOM, 3)),
        "updated": int(view.timestamp * 1000),
        "metadata": {"namespace": namespace, "intuition": _namespace_intuition(namespace, view)},
        "nodes": list(nodes.values()),
        "connections": connections,
    }
