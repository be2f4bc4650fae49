"""HTTP/2 and gRPC samples: the request's and the response's headers, each kept as a header block that decodes
on its own (tracer/protocols/http2_streams.py makes them from the connection's decoded blocks).

Shown like HTTP/1: method and path (without its query when redacting), then every header as `name: value`,
credentials hidden by the same rules. Bodies never reach user space.
"""
from __future__ import annotations

from hpack import Decoder, HPACKError

from . import redact as redaction
from .parsing import ParseError, Request, Response, text


def parse_request(data: bytes, redact: bool) -> Request:
    headers = _headers(data)
    method, path = _first(headers, ":method"), _first(headers, ":path")
    if path is not None and redact:
        path = redaction.url_path(path)
    return Request(method, path, _shown(headers, redact))


def parse_response(data: bytes, redact: bool) -> Response:
    """detail: the gRPC status code, else the HTTP status."""
    headers = _headers(data)
    grpc_status = _first(headers, "grpc-status")
    return Response(grpc_status if grpc_status is not None else _first(headers, ":status"), _shown(headers, redact))


def _headers(data: bytes) -> list[tuple[str, str]]:
    try:
        fields = Decoder().decode(data, raw=True)
    except (HPACKError, ValueError) as error:
        raise ParseError(f"not an HPACK header block: {type(error).__name__}") from None
    return [(text(name), text(value)) for name, value in fields]


def _first(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((value for field, value in headers if field == name), None)


def _shown(headers: list[tuple[str, str]], redact: bool) -> str:
    lines = []
    for name, value in headers:
        if redact:
            value = redaction.url_path(value) if name == ":path" else redaction.header_value(name, value)
        lines.append(f"{name}: {value}")
    return "\n".join(lines)
