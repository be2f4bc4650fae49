"""What changed between two moments of the graph: edges that are new, edges that vanished, and edges whose
error rate or p95 latency moved beyond a threshold (GET /api/changes).

An edge counts as present in a view when it is live there (a ghost is an edge that went silent).
Thresholds: the error rate moved by at least ERROR_RATE_CHANGE (absolute: 0.05 is five points); the p95
changed by a factor of at least P95_CHANGE_FACTOR either way and by at least P95_MIN_CHANGE_SECONDS.
"""
from __future__ import annotations

from typing import Optional

from .view import LIVE, EdgeView, GraphView, summarize

ERROR_RATE_CHANGE = 0.05
P95_CHANGE_FACTOR = 2.0
P95_MIN_CHANGE_SECONDS = 0.05


def _named(edge: EdgeView) -> dict:
    return {"client": edge.client, "client_namespace": edge.client_namespace,
            "server": edge.server, "server_namespace": edge.server_namespace}


def _present(view: GraphView) -> dict[tuple, EdgeView]:
    return {e.pair: e for e in view.edges if e.state == LIVE}


def _p95_moved(before: Optional[float], now: Optional[float]) -> bool:
    if before is None or now is None:
        return False
    low, high = sorted((before, now))
    return high - low >= P95_MIN_CHANGE_SECONDS and high >= low * P95_CHANGE_FACTOR


def _rounded(value: Optional[float], digits: int) -> Optional[float]:
    return None if value is None else round(value, digits)


def changes(baseline: GraphView, now: GraphView) -> dict:
    then, current = _present(baseline), _present(now)
    changed = []
    for pair in sorted(then.keys() & current.keys()):
        before, after = summarize([then[pair]]), summarize([current[pair]])
        if abs(after.error_rate - before.error_rate) >= ERROR_RATE_CHANGE or \
                _p95_moved(before.p95_seconds, after.p95_seconds):
            changed.append({
                **_named(current[pair]),
                "error_rate": [round(before.error_rate, 4), round(after.error_rate, 4)],
                "p95_seconds": [_rounded(before.p95_seconds, 6), _rounded(after.p95_seconds, 6)],
            })
    return {
        "baseline": baseline.timestamp,
        "now": now.timestamp,
        "new": [_named(current[p]) for p in sorted(current.keys() - then.keys())],
        "vanished": [_named(then[p]) for p in sorted(then.keys() - current.keys())],
        "changed": changed,
    }
