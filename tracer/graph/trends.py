"""Latency warnings: a service or edge whose p95 rose well beyond its own recent range.

"Its own range" is the median of its p95 over the last BASELINE_VIEWS history views (leaving out views in
which it was already warned, so that a slowdown stays flagged while it lasts; after BASELINE_VIEWS
warned views it is the new normal). It is warned when its p95 now is at least RISE_FACTOR times that
median and higher by at least MIN_RISE_SECONDS (so a 1 ms service that takes 5 ms is not news).
"""
from __future__ import annotations

from statistics import median
from typing import Optional

from .view import WARN, GraphView, NodeView, Notice

BASELINE_VIEWS = 30  # five minutes of history at the default 10 s interval
MIN_BASELINE_POINTS = 3  # views with requests needed before a range exists
RISE_FACTOR = 4.0
MIN_RISE_SECONDS = 0.05



def _node_p95(node: NodeView) -> Optional[float]:
    return node.summary.p95_seconds if node.summary else None


def _baselines(history: list[GraphView]) -> tuple[dict, dict]:
    """p95 values by edge pair and by node, from the views in which each was not warned."""
    edges: dict[tuple, list[float]] = {}
    nodes: dict[tuple, list[float]] = {}
    for past in history:
        for edge in past.edges:
            if edge.p95_seconds is not None and not edge.latency_warning:
                edges.setdefault(edge.pair, []).append(edge.p95_seconds)
        for node in past.nodes:
            p95 = _node_p95(node)
            if p95 is not None and not node.latency_warning:
                nodes.setdefault((node.service, node.namespace), []).append(p95)
    return edges, nodes


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3g} ms"


def latency_notice(now: Optional[float], past: list[float]) -> Optional[Notice]:
    """The warning for a p95 of `now` seconds against the past p95 values, or None when it is in range."""
    if now is None or len(past) < MIN_BASELINE_POINTS:
        return None
    usual = median(past)
    if now < usual * RISE_FACTOR or now - usual < MIN_RISE_SECONDS:
        return None
    return Notice(f"p95 latency {_ms(now)}, {now / usual:.0f}x its median of {_ms(usual)} "
                  f"over the last {len(past)} intervals", WARN)


def mark(view: GraphView, history: list[GraphView]) -> GraphView:
    """The view with latency warnings on the edges and nodes whose p95 rose beyond their range in `history`
    (the last views, newest first; only the first BASELINE_VIEWS count)."""
    edge_past, node_past = _baselines(history[:BASELINE_VIEWS])
    edges = []
    for edge in view.edges:
        notice = latency_notice(edge.p95_seconds, edge_past.get(edge.pair, []))
        edges.append(edge._replace(notices=edge.notices + (notice,), latency_warning=True) if notice else edge)
    nodes = []
    for node in view.nodes:
        notice = latency_notice(_node_p95(node), node_past.get((node.service, node.namespace), []))
        nodes.append(node._replace(notices=node.notices + (notice,), latency_warning=True) if notice else node)
    return view._replace(nodes=tuple(nodes), edges=tuple(edges))
