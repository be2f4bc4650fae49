"""The edge details ("access log on a link"): JSON for /api/edges from each reporter's copy of an edge."""
from __future__ import annotations

from ..capture.records import CLIENT, RequestCounts
from .classes import request_class
from .edge import EdgeKey, EdgeReport, Traffic, bytes_by_direction
from .latency import percentile_us
from .view import EdgeView, incomplete_reason

PERCENTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}


def latency_ms(traffic: Traffic) -> dict[str, dict]:
    """Per protocol: request count and latency percentiles in milliseconds."""
    return _latency_ms((protocol, counts.latency_log2_us, counts.latency_sum_us)
                       for protocol, counts in traffic.latency_by_protocol().items())


def view_latency_ms(view: EdgeView) -> dict[str, dict]:
    """latency_ms of an edge view's window."""
    return _latency_ms(view.latency)


def _latency_ms(histograms) -> dict[str, dict]:
    out = {}
    for protocol, buckets, sum_us in sorted(histograms):
        entry: dict = {"count": sum(buckets)}
        for name, q in PERCENTILES.items():
            value = percentile_us(buckets, sum_us, q)
            entry[name] = None if value is None else round(value / 1000, 3)
        out[protocol] = entry
    return out


def edge_details(reports: list[EdgeReport]) -> dict:
    """One edge as the server saw it when the agent saw that end, else as the client did. Connect failures
    only ever happen at the client, so they come from the client's copy."""
    main = reports[0]
    client_report = next((r for r in reports if r.key.reporter == CLIENT), None)
    totals, recent, span = main.totals, main.recent, main.span
    to_server, to_client = bytes_by_direction(main.key.reporter, totals.tcp)
    recent_to_server, recent_to_client = bytes_by_direction(main.key.reporter, recent.tcp)
    failures = client_report.totals.tcp if client_report else totals.tcp
    statuses = sorted(set(totals.requests) | set(recent.requests))
    events_lost = sum(r.recent.tcp.events_lost for r in reports)   # samples and events, from either end
    return {
        "client": main.key.client,
        "client_namespace": main.key.client_namespace,
        "server": main.key.server,
        "server_namespace": main.key.server_namespace,
        "reporter": main.key.reporter,
        "reporters": [r.key.reporter for r in reports],
        "window_seconds": span,
        "requests": [
            {
                "protocol": protocol,
                "status": status,
                "class": request_class(protocol, status),
                "per_second": _count(recent, protocol, status) / span,
                "total": _count(totals, protocol, status),
            }
            for protocol, status in statuses
        ],
        "latency_ms": latency_ms(recent),
        "latency_ms_total": latency_ms(totals),
        "bytes": {
            "to_server_per_second": recent_to_server / span,
            "to_client_per_second": recent_to_client / span,
            "to_server_total": to_server,
            "to_client_total": to_client,
        },
        "connections": {
            "active": main.active,
            "opened_per_second": recent.tcp.opens / span,
            "opened_total": totals.tcp.opens,
            "closed_total": totals.tcp.closes,
        },
        "tcp_errors": {
            "connect_failures": {
                "refused": failures.connect_refused,
                "timeout": failures.connect_timeout,
                "other": failures.connect_other,
            },
            "resets_sent": totals.tcp.resets_sent,
            "resets_received": totals.tcp.resets_received,
            "retransmits": totals.tcp.retransmits,
        },
        # one row per request: where both ends were seen, the server's copy (each end samples the same requests)
        "samples": sorted(main.samples, key=lambda s: -s["time"]),
        "events": sorted((e for r in reports for e in r.events), key=lambda e: -e["time"]),
        "incomplete": events_lost > 0,
        "incomplete_reason": incomplete_reason(events_lost),
    }


def _count(traffic: Traffic, protocol: str, status: str) -> int:
    counts = traffic.requests.get((protocol, status))
    return counts.count if counts else 0


def replayed_edge_details(view: EdgeView, span: float) -> dict:
    """The edge details of a moment of history, in the live shape: what the window held then. Totals since
    the agent started are not kept in history: they are None, and the TCP errors count the window."""
    recent = Traffic(tcp=view.tcp)
    for protocol, status, count in view.statuses:
        recent.requests[protocol, status] = RequestCounts(count=count)
        recent.classes[request_class(protocol, status)] += count
    for protocol, buckets, sum_us in view.latency:
        recent.set_latency(protocol, buckets, sum_us)
    key = EdgeKey(*view.pair, view.reporter)
    details = edge_details([EdgeReport(key, recent, recent, span, view.active, list(view.samples), list(view.events))])
    for row in details["requests"]:
        row["total"] = None
    details["latency_ms_total"] = None
    details["bytes"]["to_server_total"] = details["bytes"]["to_client_total"] = None
    details["connections"]["opened_total"] = details["connections"]["closed_total"] = None
    return details
