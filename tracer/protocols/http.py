"""HTTP/1.x: method, path and version of a request; status and reason of a response; each head as shown.

Bodies are not shown when redacting: they are as likely as query strings to hold what must not be stored.
"""
from __future__ import annotations

import re

from . import classify, redact as redaction
from .parsing import ParseError, Request, Response, text

_METHOD = re.compile(rb"[A-Z][A-Z_-]{0,23}")
_VERSION = re.compile(rb"HTTP/1\.[01]")
_CODE = re.compile(rb"[1-5]\d\d")
_CODE_PREFIX = re.compile(rb"(?:[1-5]\d{0,2})?")
_HEAD_END = re.compile(rb"\r?\n\r?\n")  # bare LF line ends are tolerated, as servers do
_LINE_END = re.compile(rb"\r?\n")


def parse_request(data: bytes, redact: bool) -> Request:
    lines, head_complete, body = _split_head(data)
    line_complete = head_complete or len(lines) > 1
    method, target, version = _request_line(lines[0], line_complete)
    if target is not None and redact:
        target = redaction.url_path(target)
    start_line = " ".join(part for part in (method, target, version) if part is not None)
    shown = [start_line, *_headers(lines[1:], head_complete, redact), *_body(body, redact)]
    return Request(method or None, target or None, "\n".join(shown))


def parse_response(data: bytes, redact: bool) -> Response:
    shown: list[str] = []
    rest = data
    while True:  # each pass consumes one whole interim head, so this ends with the bytes
        lines, head_complete, after = _split_head(rest)
        version, code, reason = _status_line(lines[0], head_complete or len(lines) > 1)
        shown.append(" ".join(part for part in (version, code, reason) if part is not None))
        shown += _headers(lines[1:], head_complete, redact)
        if not (head_complete and after and code and classify.http_interim(code)):
            break
        shown.append("")
        rest = after
    shown += _body(after, redact)
    return Response(reason or None, "\n".join(shown))


def _split_head(data: bytes) -> tuple[list[bytes], bool, bytes]:
    """The lines of the head that starts data, whether the head is complete, and what follows it."""
    end = _HEAD_END.search(data)
    if end is None:
        lines = _LINE_END.split(data)
        lines[-1] = lines[-1].removesuffix(b"\r")  # cut between CR and LF
        return lines, False, b""
    return _LINE_END.split(data[: end.start()]), True, data[end.end() :]


def _request_line(line: bytes, complete: bool) -> tuple[str | None, str | None, str | None]:
    parts = line.split(b" ")
    if len(parts) > 3:
        raise ParseError("request line has more than three parts")
    if complete and len(parts) < 3:
        raise ParseError("request line has no HTTP version")
    method = parts[0]
    if (method or len(parts) > 1) and not _METHOD.fullmatch(method):
        raise ParseError("request method is not a word in capitals")
    if len(parts) > 1 and not parts[1] and (complete or len(parts) > 2):
        raise ParseError("request line has an empty target")
    if len(parts) > 2:
        _check_version(parts[2], complete)
    method_text, target, version = [text(part) for part in parts] + [None] * (3 - len(parts))
    return method_text, target, version


def _status_line(line: bytes, complete: bool) -> tuple[str, str | None, str | None]:
    parts = line.split(b" ", 2)
    _check_version(parts[0], complete or len(parts) > 1)
    if len(parts) == 1:
        if complete:
            raise ParseError("status line has no status code")
        return text(parts[0]), None, None
    code = parts[1]
    code_complete = complete or len(parts) > 2
    if not (_CODE if code_complete else _CODE_PREFIX).fullmatch(code):
        raise ParseError("status code is not three digits from 100 to 599")
    reason = text(parts[2]) if len(parts) > 2 else None
    return text(parts[0]), text(code), reason


def _check_version(version: bytes, complete: bool) -> None:
    if _VERSION.fullmatch(version) or not complete and b"HTTP/1.".startswith(version):
        return
    raise ParseError("not HTTP/1.0 or HTTP/1.1")


def _headers(lines: list[bytes], head_complete: bool, redact: bool) -> list[str]:
    shown = []
    name = None
    for index, line in enumerate(lines):
        if line[:1] in (b" ", b"\t"):  # obsolete line folding: more of the previous header's value
            if name is None:
                raise ParseError("header continuation line without a header")
            shown.append(f" {_header_value(name, line, redact)}")
            continue
        raw_name, colon, value = line.partition(b":")
        if not colon:
            if head_complete or index < len(lines) - 1:
                raise ParseError("header line without a colon")
            shown.append(text(raw_name))  # a name cut off before its colon: no value to hide yet
            continue
        name = text(raw_name)
        shown.append(f"{name}: {_header_value(name, value, redact)}")
    return shown


def _header_value(name: str, raw: bytes, redact: bool) -> str:
    value = text(raw).strip()
    return redaction.header_value(name, value) if redact else value


def _body(body: bytes, redact: bool) -> list[str]:
    if not body:
        return []
    return ["", redaction.REDACTED if redact else text(body)]
