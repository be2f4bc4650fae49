"""Request counts out of a Capture, per end of one server port."""
from __future__ import annotations

from tracer.records import RequestCounts


def requests_of(capture, port: int, role: str, protocol: str) -> dict[str, RequestCounts]:
    """status -> counts of `protocol` on flows to `port` seen at the `role` end."""
    out: dict[str, RequestCounts] = {}
    for key, statuses in capture.requests.items():
        if key.server_port != port or key.role != role:
            continue
        for (seen_protocol, status), counts in statuses.items():
            assert seen_protocol == protocol, f"{protocol} traffic counted as {seen_protocol}"
            out.setdefault(status, RequestCounts()).add(counts)
    return out


def request_counts(capture, port: int, role: str, protocol: str) -> dict[str, int]:
    return {status: counts.count for status, counts in requests_of(capture, port, role, protocol).items()}
