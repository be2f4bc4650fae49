"""The outcome rules the kernel applies to responses, written in Python as the reference for its tests.

Each function takes the bytes of one whole response as the server wrote them and returns the status label of
intuition_requests_total (docs/architecture.md, "Metrics"), or None while those bytes do not settle it: too short so far, or not
the protocol at all. The kernel must produce the same label for the same bytes, whatever reads split them.
"""
from __future__ import annotations

import re

_HTTP_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-5]\d\d)[ \r]")
_REDIS_REPLY_MARKERS = frozenset(b"+-:$*_#,(!=%~>|")
_REDIS_PREFIX_WINDOW = 32  # Redis looks for the space that ends the prefix within the error's first 32 bytes
_SQLSTATE = re.compile(rb"[0-9A-Z]{5}")
_MYSQL_ERR = 0xFF


def status(protocol: str, response: bytes) -> str | None:
    """The rule of protocol ("http", "redis", "postgres" or "mysql") applied to response."""
    if protocol not in STATUS_RULES:
        raise ValueError(f"no status rule for protocol {protocol!r}, expected one of {', '.join(STATUS_RULES)}")
    return STATUS_RULES[protocol](response)


def http_interim(code: str) -> bool:
    """1xx responses (100 Continue, 103 Early Hints) precede the final one; 101 Switching Protocols is final."""
    return code.startswith("1") and code != "101"


def http_status(response: bytes) -> str | None:
    """The three-digit code of the first final status line ("404").

    A status line is HTTP/1.0 or HTTP/1.1, a space, a code from 100 to 599, then a space or CR. An interim
    response is skipped up to the blank line that ends its head.
    """
    start = 0
    while True:  # each pass moves start past a whole head, so this ends with the bytes
        status_line = _HTTP_STATUS_LINE.match(response, start)
        if status_line is None:
            return None
        code = status_line[1].decode()
        if not http_interim(code):
            return code
        head_end = response.find(b"\r\n\r\n", status_line.end())
        if head_end < 0:
            return None
        start = head_end + 4


def redis_status(reply: bytes) -> str | None:
    """"ok" for every reply but an error; for an error, its prefix word as Redis's own errorstats counts it.

    The prefix of "-WRONGTYPE Operation against..." is "WRONGTYPE": the bytes after the '-' up to the first
    space within the error's first 32 bytes (the '-' included). With no such space the prefix is "ERR",
    and also when the space follows the '-' at once (where Redis would count an empty name). A RESP3 blob
    error (!<length>CRLF<text>) counts as the simple error "-<text>".
    """
    if not reply or reply[0] not in _REDIS_REPLY_MARKERS:
        return None
    if reply[:1] == b"-":
        error = reply
    elif reply[:1] == b"!":
        header_end = reply.find(b"\r\n")
        if header_end < 0:
            return None
        error = b"-" + reply[header_end + 2 :]
    else:
        return "ok"
    line_end = error.find(b"\r\n")
    line = error if line_end < 0 else error[:line_end]
    window = line[:_REDIS_PREFIX_WINDOW]
    space = window.find(b" ")
    if space < 0 and line_end < 0 and len(line) < _REDIS_PREFIX_WINDOW:
        return None  # the space may still come
    if space <= 1:
        return "ERR"
    return window[1:space].decode("utf-8", "replace")


def postgres_status(response: bytes) -> str | None:
    """The SQLSTATE (field C) of the first ErrorResponse ("42P01"), or "ok" at ReadyForQuery without one.

    The response to a simple Query or to an extended-protocol batch ends at ReadyForQuery. Broken framing, or
    an ErrorResponse without a well-formed SQLSTATE, gives None.
    """
    start = 0
    while start + 5 <= len(response):  # each pass moves start past one message
        kind = response[start : start + 1]
        length = int.from_bytes(response[start + 1 : start + 5], "big")
        if length < 4:
            return None
        if kind == b"E":
            return _sqlstate(response[start + 5 : start + 1 + length])
        if kind == b"Z":
            return "ok"
        start += 1 + length
    return None


def _sqlstate(error_fields: bytes) -> str | None:
    # Each field is a type byte and its text, ended by NUL; an empty field ends the list. The last piece of
    # the split has no NUL after it yet: the capture may have cut it.
    for field in error_fields.split(b"\0")[:-1]:
        if not field:
            return None
        if field[:1] == b"C":
            return field[1:].decode() if _SQLSTATE.fullmatch(field[1:]) else None
    return None


def mysql_status(reply: bytes) -> str | None:
    """"ok", or the error code of an ERR packet ("1064"), from the reply's first packet.

    That packet is numbered 1 and not empty; its payload's first byte is 0xFF for an error, followed by the
    code (two bytes, little-endian) and, since protocol 4.1, '#' and the five-character SQLSTATE, which the
    sample's description shows (mysql.py). The rest of a reply (a result set's columns and rows) does not
    change the outcome.
    """
    if len(reply) < 5 or reply[3] != 1 or int.from_bytes(reply[:3], "little") == 0:
        return None
    payload = reply[4:]
    if payload[0] != _MYSQL_ERR:
        return "ok"
    if len(payload) < 3:
        return None  # the code is still to come
    return str(int.from_bytes(payload[1:3], "little"))


# the protocols whose status the kernel judges from a response's bytes
STATUS_RULES = {"http": http_status, "redis": redis_status, "postgres": postgres_status, "mysql": mysql_status}
