"""PostgreSQL protocol v3: the frontend messages of a request and the backend messages of its response.

A request is a simple Query or an extended-protocol batch (Parse, Bind, Describe, Execute, Sync). Bind's
parameter values, passwords, copied data and row values are never shown, only the message names. Error
messages are shown as the server wrote them: they name the relations and columns that a reader needs.
"""
from __future__ import annotations

from . import redact as redaction
from .parsing import ParseError, Request, Response, collapsed, text

_FRONTEND = {
    b"Q": "Query", b"P": "Parse", b"B": "Bind", b"E": "Execute", b"S": "Sync", b"D": "Describe",
    b"C": "Close", b"H": "Flush", b"F": "FunctionCall", b"d": "CopyData", b"c": "CopyDone",
    b"f": "CopyFail", b"X": "Terminate", b"p": "PasswordMessage",
}
_BACKEND = {
    b"R": "Authentication", b"K": "BackendKeyData", b"2": "BindComplete", b"3": "CloseComplete",
    b"C": "CommandComplete", b"d": "CopyData", b"c": "CopyDone", b"G": "CopyInResponse",
    b"H": "CopyOutResponse", b"W": "CopyBothResponse", b"D": "DataRow", b"I": "EmptyQueryResponse",
    b"E": "ErrorResponse", b"V": "FunctionCallResponse", b"v": "NegotiateProtocolVersion", b"n": "NoData",
    b"N": "NoticeResponse", b"A": "NotificationResponse", b"t": "ParameterDescription",
    b"S": "ParameterStatus", b"1": "ParseComplete", b"s": "PortalSuspended", b"Z": "ReadyForQuery",
    b"T": "RowDescription",
}
_MAX_LENGTH = 1 << 30  # the server refuses longer messages


def parse_request(data: bytes, redact: bool) -> Request:
    shown, statement = [], None
    for kind, body in _messages(data, _FRONTEND, "frontend"):
        line, sql = _frontend_line(kind, body, redact)
        shown.append(line)
        statement = statement or sql
    return Request(_FRONTEND.get(data[:1]), statement or None, "\n".join(collapsed(shown)))


def parse_response(data: bytes, redact: bool) -> Response:
    shown, error, tag = [], None, None
    for kind, body in _messages(data, _BACKEND, "backend"):
        name = _BACKEND[kind]
        if kind == b"E":
            fields = _error_fields(body)
            summary = f"{fields.get(b'C', '')} {fields.get(b'M', '')}".strip()
            shown.append(f"{name}: {summary}")
            error = error or summary
        elif kind == b"C":
            command_tag = text(body.split(b"\0")[0])
            shown.append(f"{name}: {command_tag}")
            tag = tag or command_tag
        else:
            shown.append(name)
    return Response(error or tag, "\n".join(collapsed(shown)))


def _messages(data: bytes, names: dict[bytes, str], side: str) -> list[tuple[bytes, bytes]]:
    """Type and body of each message; the last body may be cut short by the end of the capture."""
    messages = []
    start = 0
    while start < len(data):  # each pass moves start past one message header at least
        kind = data[start : start + 1]
        if kind not in names:
            raise ParseError(f"unknown {side} message type")
        if start + 5 > len(data):
            break  # cut inside the length
        length = int.from_bytes(data[start + 1 : start + 5], "big")
        if not 4 <= length <= _MAX_LENGTH:
            raise ParseError(f"{side} message length out of range")
        messages.append((kind, data[start + 5 : start + 1 + length]))
        start += 1 + length
    return messages


def _frontend_line(kind: bytes, body: bytes, redact: bool) -> tuple[str, str | None]:
    """How one frontend message is shown, and the SQL it carries if any."""
    name = _FRONTEND[kind]
    fields = body.split(b"\0")
    if kind == b"Q":
        sql = _sql(fields[0], redact)
        return f"{name}: {sql}", sql
    if kind == b"P" and len(fields) > 1:  # statement name, then the SQL
        sql = _sql(fields[1], redact)
        return (f"{name} {text(fields[0])}: {sql}" if fields[0] else f"{name}: {sql}"), sql
    if kind == b"B" and len(fields) > 1 and fields[1]:  # portal name, then the statement bound
        return f"{name} {text(fields[1])}", None
    return name, None


def _error_fields(body: bytes) -> dict[bytes, str]:
    """ErrorResponse fields by type byte: b"C" SQLSTATE, b"M" message, ... (the first of each type)."""
    fields: dict[bytes, str] = {}
    for field in body.split(b"\0"):  # an empty field ends the list
        if not field:
            break
        fields.setdefault(field[:1], text(field[1:]))
    return fields


def _sql(raw: bytes, redact: bool) -> str:
    statement = text(raw)
    return redaction.sql(statement) if redact else statement
