"""MySQL classic protocol: the command packets of a request and the packets of its reply.

A packet is a 3-byte little-endian length, a sequence number and the payload. A request is a command packet
(sequence 0): its statement is shown for COM_QUERY and COM_STMT_PREPARE, and COM_STMT_EXECUTE's parameter
values never are. A reply is shown by its first packet (OK, ERR, a result set's column count) and then the
kinds of the packets that follow; row values never are. When a client wrote a header alone, the kernel's
capture starts at the payload (probes/l7_mysql.c): such a sample holds one packet without its header.
"""
from __future__ import annotations

import re

from . import redact as redaction
from .parsing import ParseError, Request, Response, collapsed, text

_COMMANDS = {
    0x01: "COM_QUIT", 0x02: "COM_INIT_DB", 0x03: "COM_QUERY", 0x04: "COM_FIELD_LIST", 0x05: "COM_CREATE_DB",
    0x06: "COM_DROP_DB", 0x07: "COM_REFRESH", 0x08: "COM_SHUTDOWN", 0x09: "COM_STATISTICS",
    0x0A: "COM_PROCESS_INFO", 0x0C: "COM_PROCESS_KILL", 0x0D: "COM_DEBUG", 0x0E: "COM_PING",
    0x11: "COM_CHANGE_USER", 0x12: "COM_BINLOG_DUMP", 0x16: "COM_STMT_PREPARE", 0x17: "COM_STMT_EXECUTE",
    0x18: "COM_STMT_SEND_LONG_DATA", 0x19: "COM_STMT_CLOSE", 0x1A: "COM_STMT_RESET", 0x1B: "COM_SET_OPTION",
    0x1C: "COM_STMT_FETCH", 0x1F: "COM_RESET_CONNECTION",
}
_WITH_STATEMENT = (0x03, 0x16)  # COM_QUERY, COM_STMT_PREPARE: the SQL text is the rest of the payload
_WITH_STATEMENT_ID = (0x17, 0x18, 0x19, 0x1A, 0x1C)  # a 4-byte statement id follows the command
_REQUESTS = (0x03, 0x16, 0x17)  # the commands the kernel counts: only they start a sample
_HEADER = 4
_OK, _EOF, _LOCAL_INFILE, _ERR = 0x00, 0xFE, 0xFB, 0xFF
_SQLSTATE = re.compile(rb"[0-9A-Z]{5}")


def parse_request(data: bytes, redact: bool) -> Request:
    if not data:
        return Request(None, None, "")
    packets = _packets(data, 0) if _framed_request(data) else [(0, data)]
    shown, operation, statement = [], None, None
    for sequence, payload in packets:
        if sequence != 0:
            shown.append("data")  # more of a long command, or a file the server asked for
            continue
        if not payload:
            break  # cut after a header
        name, line, sql = _command(payload, redact)
        shown.append(line)
        operation, statement = operation or name, statement or sql
    return Request(operation, statement or None, "\n".join(collapsed(shown)))


def parse_response(data: bytes, redact: bool) -> Response:
    if not data:
        return Response(None, "")
    framed = len(data) < _HEADER or data[3] == 1 and _length(data, 0) > 0
    payloads = [payload for _, payload in _packets(data, 1)] if framed else [data]
    if not payloads or not payloads[0]:
        return Response(None, "")
    detail, first = _first_reply(payloads[0], redact)
    columns = _column_count(payloads[0])
    shown = [first]
    for index, payload in enumerate(payloads[1:], start=1):
        if columns:
            shown.append("column definition" if index <= columns else _row_or_end(payload))
        else:
            shown.append(_definition_or_end(payload))
    return Response(detail, "\n".join(collapsed(shown)))


def _framed_request(data: bytes) -> bool:
    """Whether a request starts with its packet header: sequence 0 and a known command after it. Else it must
    be a counted command's payload whose header the client wrote alone."""
    if len(data) < _HEADER:
        return True
    if data[3] == 0 and (len(data) == _HEADER or data[4] in _COMMANDS):
        return True
    if data[0] in _REQUESTS:
        return False
    raise ParseError("request is not a command packet")


def _length(data: bytes, start: int) -> int:
    return int.from_bytes(data[start : start + 3], "little")


def _packets(data: bytes, first_sequence: int) -> list[tuple[int, bytes]]:
    """The sequence number and payload of each packet; the last payload may be cut short by the end of the
    capture. Each packet follows the one before in sequence, or starts a new exchange at first_sequence."""
    packets = []
    start, sequence = 0, first_sequence
    while start < len(data):  # each pass moves start past one header at least
        if start + _HEADER > len(data):
            break  # cut inside a header
        if data[start + 3] not in (sequence, first_sequence):
            raise ParseError("packet out of sequence")
        sequence = data[start + 3]
        length = _length(data, start)
        packets.append((sequence, data[start + _HEADER : start + _HEADER + length]))
        start += _HEADER + length
        sequence = (sequence + 1) % 256
    return packets


def _command(payload: bytes, redact: bool) -> tuple[str, str, str | None]:
    """The command's name, how it is shown, and the SQL it carries if any."""
    code = payload[0]
    if code not in _COMMANDS:
        raise ParseError("unknown command")
    name = _COMMANDS[code]
    if code in _WITH_STATEMENT:
        statement = text(payload[1:])
        sql = redaction.mysql_sql(statement) if redact else statement
        return name, f"{name}: {sql}", sql
    if code in _WITH_STATEMENT_ID and len(payload) >= 5:
        return name, f"{name} {int.from_bytes(payload[1:5], 'little')}", None
    return name, name, None


def _first_reply(payload: bytes, redact: bool) -> tuple[str, str]:
    """The detail of a reply and how its first packet is shown."""
    kind = payload[0]
    if kind == _ERR:
        error = _error(payload, redact)
        return error, f"ERR {error}".rstrip()
    if kind == _OK:
        return "OK", "OK"
    if kind == _EOF:
        return "EOF", "EOF"
    if kind == _LOCAL_INFILE:
        return "LOCAL INFILE", "LOCAL INFILE"  # the file's name is the client's business
    columns = _column_count(payload)
    return f"result set of {columns} columns", f"result set of {columns} columns"


def _error(payload: bytes, redact: bool) -> str:
    """"1146 (42S02) Table 'x' doesn't exist", as far as the capture goes; the message's quoted parts hidden
    when redacting, since a syntax error quotes the statement."""
    if len(payload) < 3:
        return ""
    code = int.from_bytes(payload[1:3], "little")
    rest = payload[3:]
    state = ""
    if rest[:1] == b"#":
        if len(rest) >= 6 and not _SQLSTATE.fullmatch(rest[1:6]):
            raise ParseError("ERR packet's SQLSTATE is not five letters or digits")
        state, rest = f" ({text(rest[1:6])})", rest[6:]
    message = text(rest)
    message = redaction.quoted_parts(message) if redact else message
    return f"{code}{state} {message}".rstrip()


def _column_count(payload: bytes) -> int:
    """A result set's first packet: its column count, a length-encoded integer below 251 in practice."""
    kind = payload[0]
    if kind in (_OK, _EOF, _LOCAL_INFILE, _ERR):
        return 0
    if kind > 0xFB:
        return int.from_bytes(payload[1 : 1 + {0xFC: 2, 0xFD: 3}[kind]], "little")
    return kind


def _row_or_end(payload: bytes) -> str:
    return _end(payload) or "row"


def _definition_or_end(payload: bytes) -> str:
    """After a first packet that is no column count: COM_STMT_PREPARE's parameter and column definitions."""
    return _end(payload) or "definition"


def _end(payload: bytes) -> str | None:
    if payload[:1] == bytes([_EOF]) and len(payload) < 9:
        return "EOF"
    if payload[:1] == bytes([_ERR]):
        return "ERR"
    return None
