"""What every protocol parser returns, and the few helpers they share.

Parsers see the first bytes of one request and of its response, usually cut off mid-message. A cut is not an
error: they return what the bytes hold so far. ParseError means the bytes cannot be the protocol at all.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass


class ParseError(ValueError):
    """The captured bytes are not the start of a message of the sample's protocol.

    The reason never quotes the bytes: they may hold what redaction would have hidden.
    """


@dataclass(frozen=True)
class Request:
    operation: str | None  # HTTP method, Redis command, PostgreSQL message name, MySQL command
    target: str | None  # HTTP path, Redis arguments, SQL statement (redacted when asked)
    text: str  # the captured request as shown to a reader


@dataclass(frozen=True)
class Response:
    detail: str | None  # HTTP reason, Redis reply type or error, PostgreSQL error or command tag, MySQL reply
    text: str  # the captured response as shown to a reader


def text(raw: bytes) -> str:
    """Bytes as a str for display: UTF-8, undecodable bytes replaced."""
    return raw.decode("utf-8", "replace")


def crlf_line(data: bytes, start: int) -> tuple[bytes, int | None]:
    """The line that starts at start and where the next one starts, or None there when the capture ends first."""
    end = data.find(b"\r\n", start)
    if end < 0:
        return data[start:].removesuffix(b"\r"), None
    return data[start:end], end + 2


def collapsed(lines: list[str]) -> list[str]:
    """Runs of equal lines as one line with a count: "DataRow x 3"."""
    out = []
    for line, run in itertools.groupby(lines):
        count = sum(1 for _ in run)
        out.append(line if count == 1 else f"{line} x {count}")
    return out
