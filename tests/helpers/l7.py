"""Request counts and samples out of a Capture, per end of one server port."""
from __future__ import annotations

import time
from collections.abc import Callable

from tracer.capture.records import RequestCounts, RequestSample


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


def server_counts(capture, port: int, protocol: str) -> dict[str, int]:
    """status -> count of `protocol` at the server end: the end that parses when both ends are on this host.
    (That the client end then counts bytes only is tests/kernel/test_l7_parsing_end.py's: there the client
    writes only once the server has accepted, which a real client on a loaded host need not wait for.)"""
    return request_counts(capture, port, "server", protocol)


def samples_of(capture, port: int, role: str) -> list[RequestSample]:
    return [e for e in capture.events if isinstance(e, RequestSample)
            and e.key.server_port == port and e.key.role == role]


def wait_for_samples(capture, port: int, roles: tuple[str, ...], make_request, timeout: float = 30.0,
                     wanted: Callable[[RequestSample], bool] = lambda sample: True) -> None:
    """Repeat make_request() once a second until each role has a sample on port (one that is wanted). Other
    traffic on the host may use up a second's sample budget, hence the retries."""
    deadline = time.monotonic() + timeout
    while not all(any(wanted(s) for s in samples_of(capture, port, role)) for role in roles):
        assert time.monotonic() < deadline, f"no request sample at {roles} of port {port} within {timeout} s"
        make_request()
        time.sleep(1)
        capture.poll()
