"""Sampled requests made readable: parsed per protocol, redacted, JSON-ready.

The kernel counts every request; a few per edge and second arrive as RequestSample with the first bytes each
way. describe() turns one into what the dashboard shows next to an edge. ParseErrors counts samples whose
bytes were not their protocol, for intuition_parse_errors_total{protocol}.
"""
from __future__ import annotations

import threading

from . import http, http2, mysql, postgres, redis
from .parsing import ParseError, Request, Response, text
from ..capture.records import RequestSample

_PARSERS = {"http": http, "redis": redis, "postgres": postgres, "mysql": mysql, "http2": http2, "grpc": http2}
PROTOCOLS = tuple(_PARSERS)


def describe(sample: RequestSample, redact: bool = True) -> dict:
    """The sample as the dashboard shows it; every value is a str, a float or None.

    - protocol, time (unix seconds), latency_ms, status (the kernel's label, as counted)
    - operation: HTTP method (also HTTP/2's and gRPC's), Redis command, PostgreSQL message name or MySQL command
    - target: HTTP path, Redis arguments or SQL statement
    - detail: HTTP reason, HTTP/2 status or gRPC status code, Redis reply type or error, PostgreSQL error or
      command tag, MySQL reply
    - request, response: the captured bytes as shown
    - parse_error: None, or why the bytes are not the protocol

    A side that does not parse is shown empty when redacting (its bytes could hold anything), as text if not.
    """
    parser = _PARSERS.get(sample.protocol)
    if parser is None:
        raise ValueError(f"request sample has unknown protocol {sample.protocol!r}, "
                         f"expected one of {', '.join(PROTOCOLS)}")
    problems = []
    try:
        request = parser.parse_request(sample.request, redact)
    except ParseError as error:
        problems.append(f"request: {error}")
        request = Request(None, None, _unparsed(sample.request, redact))
    try:
        response = parser.parse_response(sample.response, redact)
    except ParseError as error:
        problems.append(f"response: {error}")
        response = Response(None, _unparsed(sample.response, redact))
    return {
        "protocol": sample.protocol,
        "time": sample.timestamp,
        "latency_ms": sample.latency_us / 1000,
        "status": sample.status,
        "operation": request.operation,
        "target": request.target,
        "detail": response.detail,
        "request": request.text,
        "response": response.text,
        "parse_error": "; ".join(problems) or None,
    }


def _unparsed(raw: bytes, redact: bool) -> str:
    return "" if redact else text(raw)


class ParseErrors:
    """Described samples whose bytes did not parse, per protocol (all protocols present, from zero)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # counted on the collector's thread, read by /metrics scrapes
        self._counts = dict.fromkeys(PROTOCOLS, 0)

    def record(self, description: dict) -> None:
        if description["parse_error"] is not None:
            with self._lock:
                self._counts[description["protocol"]] += 1

    def totals(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
