"""Redis RESP2/RESP3: the first command of a request and the first reply of its response.

Only the first of pipelined commands is shown: a sample is one request. Aggregate replies (arrays, maps, ...)
show their size, not their elements, so nothing here descends into nested input.
"""
from __future__ import annotations

import json
import re

from . import redact as redaction
from .parsing import ParseError, Request, Response, crlf_line, text

_LENGTH = re.compile(rb"-?\d{1,19}")
_LENGTH_PREFIX = re.compile(rb"-?\d{0,19}")
_INLINE_COMMAND = re.compile(rb"[A-Za-z][\w.|-]*")

# Single-line replies: marker -> (reply type, what a whole line must look like).
_LINE_REPLIES = {
    b"+": ("simple string", rb"[^\r\n]*"),
    b"-": ("error", rb"[^\r\n]*"),
    b":": ("integer", rb"[+-]?\d+"),
    b"_": ("null", rb""),
    b"#": ("boolean", rb"[tf]"),
    b",": ("double", rb"[^\r\n]+"),
    b"(": ("big number", rb"[+-]?\d+"),
}
_BLOB_REPLIES = {b"$": "bulk string", b"!": "blob error", b"=": "verbatim string"}
_AGGREGATE_REPLIES = {b"*": "array", b"%": "map", b"~": "set", b">": "push", b"|": "attribute"}
_NIL = "(nil)"


def parse_request(data: bytes, redact: bool) -> Request:
    arguments = _array_command(data) if data[:1] == b"*" else _inline_command(data)
    if not arguments:
        return Request(None, None, "")
    command = text(arguments[0]).upper()
    rest = [text(argument) for argument in arguments[1:]]
    shown = redaction.redis_arguments(command, rest) if redact else rest
    target = " ".join(_quoted(argument) for argument in shown)
    return Request(command, target or None, f"{command} {target}".rstrip())


def parse_response(data: bytes, redact: bool) -> Response:
    marker = data[:1]
    if not marker:
        return Response(None, "")
    if marker in _LINE_REPLIES:
        kind, whole_line = _LINE_REPLIES[marker]
        line, next_line = crlf_line(data, 1)
        if next_line is not None and not re.fullmatch(whole_line, line):
            raise ParseError(f"malformed {kind} reply")
        value = text(line)
        if kind == "error":
            return _error(value, redact)
        return Response(kind, _NIL if kind == "null" else value)
    if marker in _BLOB_REPLIES:
        kind = _BLOB_REPLIES[marker]
        length, start = _length(data, 0, kind)
        if length is None:
            return Response(kind, "")
        if length < 0:
            return Response(kind, _NIL)
        blob = text(data[start : start + length])
        if kind == "blob error":
            return _error(blob, redact)
        return Response(kind, redaction.REDACTED if redact else _quoted(blob))
    if marker in _AGGREGATE_REPLIES:
        kind = _AGGREGATE_REPLIES[marker]
        size, _ = _length(data, 0, kind)
        if size is None:
            return Response(kind, "")
        return Response(kind, _NIL if size < 0 else f"({kind} of {size})")
    raise ParseError("not a RESP reply type")


def _error(message: str, redact: bool) -> Response:
    shown = redaction.quoted_parts(message) if redact else message
    return Response(shown, shown)


def _array_command(data: bytes) -> list[bytes]:
    """The arguments of a command sent as an array of bulk strings, as far as the capture goes."""
    count, start = _length(data, 0, "command")
    if count is None:
        return []
    if count < 1:
        raise ParseError("command array is empty")
    arguments: list[bytes] = []
    while len(arguments) < count and start < len(data):  # each pass consumes at least one header line
        if data[start : start + 1] != b"$":
            raise ParseError("command argument is not a bulk string")
        length, start = _length(data, start, "command argument")
        if length is None:
            break
        if length < 0:
            raise ParseError("command argument is null")
        arguments.append(data[start : start + length])
        end = start + length
        if not b"\r\n".startswith(data[end : end + 2]):
            raise ParseError("command argument is longer than its length")
        start = end + 2
    return arguments


def _inline_command(data: bytes) -> list[bytes]:
    """The words of a command sent as one line of text (redis-cli in a telnet session, PING probes)."""
    line, newline, _ = data.partition(b"\n")
    words = line.split()
    if not words:
        if newline:
            raise ParseError("empty inline command")
        return []
    if not _INLINE_COMMAND.fullmatch(words[0]):  # every cut of a command name is still one
        raise ParseError("inline command does not start with a command name")
    return words


def _length(data: bytes, start: int, what: str) -> tuple[int | None, int]:
    """The length in the header line at start (after its type marker) and where its content starts.

    None when the capture ends inside the header line.
    """
    line, content_start = crlf_line(data, start + 1)
    if content_start is None:
        if not _LENGTH_PREFIX.fullmatch(line):
            raise ParseError(f"malformed {what} length")
        return None, len(data)
    if not _LENGTH.fullmatch(line):
        raise ParseError(f"malformed {what} length")
    return int(line), content_start


def _quoted(argument: str) -> str:
    """An argument as redis-cli would need it typed: quoted when empty or holding spaces, quotes, controls."""
    if argument and argument.isprintable() and not any(c.isspace() or c in "\"'" for c in argument):
        return argument
    return json.dumps(argument, ensure_ascii=False)
