"""Property-based tests of the parsers and the status rules on arbitrary, mutated and truncated bytes.

Generated messages put their secrets (the values redaction must hide) in the letters q and j, and nothing
else a parser could show uses those two lower-case letters: so no q or j in the values of a redacted
description means no secret, and no piece of one, was shown.
"""
import json
import struct

import pytest
from hypothesis import given, settings, strategies as st

from tests.fuzz_parsers import check
from tracer.protocols import PROTOCOLS, ParseErrors, classify, describe, redact
from tracer.capture.records import CLIENT, FlowKey, RequestSample

SETTINGS = settings(derandomize=True, deadline=None, max_examples=300)  # the same cases on every run
KEY = FlowKey(0, 1, "client", CLIENT, "127.0.0.1", "127.0.0.2", 8080)

words = st.text("abcdefghiklmnoprstuvwxy0123456789_-.", min_size=1, max_size=8)
secrets = st.text("qj", min_size=1, max_size=12)


def sample(protocol: str, request: bytes, response: bytes) -> RequestSample:
    return RequestSample(KEY, protocol, "ok", 1500, request, response, 1.0)


def shows_no_secret(description: dict) -> bool:
    # the protocol's name comes from no capture ("mysql" has a q)
    stored = json.dumps([value for name, value in description.items() if name != "protocol"])
    return "q" not in stored and "j" not in stored


def assert_every_cut_parses_and_hides_secrets(protocol: str, request: bytes, response: bytes) -> None:
    for cut in range(max(len(request), len(response)) + 1):
        description = describe(sample(protocol, request[:cut], response[:cut]))
        assert description["parse_error"] is None, (cut, description)
        assert shows_no_secret(description), (cut, description)


def assert_status_settles_once(protocol: str, response: bytes, status: str) -> None:
    """Before the response settles its status the rule says None; after, always the same status."""
    assert classify.status(protocol, response) == status
    for cut in range(len(response)):
        assert classify.status(protocol, response[:cut]) in (None, status), cut


# --- arbitrary and mutated bytes: nothing escapes but a counted parse error ---------------------------------

@SETTINGS
@given(st.sampled_from(PROTOCOLS), st.binary(max_size=300), st.binary(max_size=300), st.booleans())
def test_arbitrary_bytes_never_raise(protocol, request, response, redacting):
    errors = ParseErrors()
    description = describe(sample(protocol, request, response), redact=redacting)
    json.dumps(description)
    assert all(isinstance(value, (str, float, type(None))) for value in description.values())
    errors.record(description)
    assert errors.totals()[protocol] == (description["parse_error"] is not None)


@SETTINGS
@given(st.sampled_from(tuple(classify.STATUS_RULES)), st.binary(max_size=300))
def test_status_rules_never_raise_and_settle_once(protocol, response):
    status = classify.status(protocol, response)
    for cut in range(len(response)):
        assert classify.status(protocol, response[:cut]) in (None, status)


def mutated(message: bytes, position: int, byte: int) -> bytes:
    position %= len(message) + 1
    return message[:position] + bytes([byte]) + message[position + 1 :]


# --- HTTP ---------------------------------------------------------------------------------------------------

@st.composite
def http_exchanges(draw):
    """A request with secrets in its query, credentials and body, and a response with a final status."""
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]))
    path = "/" + "/".join(draw(st.lists(words, max_size=4)))
    query = draw(st.sampled_from(["", f"?user=bob&password={draw(secrets)}", f"?{draw(secrets)}"]))
    fragment = draw(st.sampled_from(["", f"#{draw(secrets)}"]))
    body = draw(st.sampled_from(["", draw(secrets)]))
    headers = draw(st.permutations([
        f"Host: {draw(words)}", f"Authorization: Bearer {draw(secrets)}", f"Cookie: sid={draw(secrets)}",
        f"X-Api-Key: {draw(secrets)}", f"X-Auth-Token: {draw(secrets)}", f"Content-Length: {len(body)}",
        f"Referer: http://{draw(words)}/{draw(words)}?{draw(secrets)}",
    ]))
    request = f"{method} {path}{query}{fragment} HTTP/1.1\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n" + body
    code = draw(st.sampled_from([101, *range(200, 600)]))
    interim = draw(st.sampled_from(["", "HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 103 Early Hints\r\n\r\n"]))
    reason = draw(st.sampled_from(["", " OK", " Not Found", f" {draw(words)}"]))
    response = (f"{interim}HTTP/1.{draw(st.sampled_from('01'))} {code}{reason}\r\nServer: nginx\r\n"
                f"Location: /callback?code={draw(secrets)}\r\nSet-Cookie: session={draw(secrets)}\r\n\r\n"
                f"{draw(secrets)}")
    return request.encode(), response.encode(), str(code)


@SETTINGS
@given(http_exchanges())
def test_http_cut_anywhere_parses_and_hides_secrets(exchange):
    request, response, code = exchange
    assert_every_cut_parses_and_hides_secrets("http", request, response)
    assert_status_settles_once("http", response, code)


@SETTINGS
@given(http_exchanges(), st.integers(min_value=0), st.integers(0, 255))
def test_http_mutated_never_raises(exchange, position, byte):
    request, response, _ = exchange
    check("http", mutated(request, position, byte), mutated(response, position, byte), ParseErrors())


# --- Redis --------------------------------------------------------------------------------------------------

@st.composite
def redis_commands(draw):
    """A command with its key in plain words and every value secret, as an array or inline."""
    command = draw(st.sampled_from(["SET", "GET", "HSET", "LPUSH", "APPEND", "MSET", "EXPIRE", "AUTH", "PING",
                                    "set", "hset"]))
    if command == "AUTH":
        arguments = draw(st.lists(secrets, min_size=1, max_size=2))
    elif command == "PING":
        arguments = []
    else:
        arguments = [draw(words)] + draw(st.lists(secrets, max_size=4))
    parts = [command, *arguments]
    if draw(st.booleans()):
        return " ".join(parts).encode() + b"\r\n"
    return f"*{len(parts)}\r\n".encode() + b"".join(f"${len(p)}\r\n{p}\r\n".encode() for p in parts)


redis_replies = st.one_of(
    st.builds(lambda w: (f"+{w}\r\n", "ok"), words),
    st.builds(lambda prefix, text: (f"-{prefix} {text}\r\n", prefix), st.sampled_from(["ERR", "WRONGTYPE", "NOAUTH"]),
              words),
    st.builds(lambda n: (f":{n}\r\n", "ok"), st.integers()),
    st.builds(lambda s: (f"${len(s)}\r\n{s}\r\n", "ok"), secrets),
    st.builds(lambda s: (f"={len(s) + 4}\r\ntxt:{s}\r\n", "ok"), secrets),
    st.builds(lambda n, kind: (f"{kind}{n}\r\n", "ok"), st.integers(-1, 99), st.sampled_from("*%~>|")),
    st.sampled_from([("$-1\r\n", "ok"), ("_\r\n", "ok"), ("#t\r\n", "ok"), (",1.5\r\n", "ok"),
                     ("(12345678901234567890\r\n", "ok"), ("!9\r\nSYNTAX no\r\n", "SYNTAX")]),
)


@SETTINGS
@given(redis_commands(), redis_replies)
def test_redis_cut_anywhere_parses_and_hides_secrets(request, reply):
    response, status = reply[0].encode(), reply[1]
    assert_every_cut_parses_and_hides_secrets("redis", request, response)
    assert_status_settles_once("redis", response, status)


@SETTINGS
@given(redis_commands(), redis_replies, st.integers(min_value=0), st.integers(0, 255))
def test_redis_mutated_never_raises(request, reply, position, byte):
    check("redis", mutated(request, position, byte), mutated(reply[0].encode(), position, byte), ParseErrors())


# --- PostgreSQL and MySQL -----------------------------------------------------------------------------------

@st.composite
def secret_select(draw):
    """A SELECT with a secret string literal, and the literal."""
    literal = draw(secrets)
    return f"SELECT {draw(words)} FROM t WHERE a = '{literal}' AND b = {draw(st.integers(0, 10**6))}", literal


def pg_message(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!I", len(body) + 4) + body


@st.composite
def postgres_requests(draw):
    """A simple Query with secret literals, an extended-protocol batch with secret parameters, or a password."""
    sql, literal = draw(secret_select())
    shape = draw(st.sampled_from(["query", "extended", "password"]))
    if shape == "query":
        return pg_message(b"Q", sql.encode() + b"\0")
    if shape == "password":
        return pg_message(b"p", literal.encode() + b"\0")
    parameter = literal.encode()
    bind = b"\0\0" + struct.pack("!hhI", 0, 1, len(parameter)) + parameter + b"\0\0"
    return b"".join([
        pg_message(b"P", b"\0" + sql.replace(f"'{literal}'", "$1").encode() + b"\0\0\0"), pg_message(b"B", bind),
        pg_message(b"D", b"P\0"), pg_message(b"E", b"\0\0\0\0\0"), pg_message(b"S", b""),
    ])


@st.composite
def postgres_responses(draw):
    """Rows (with secret values) and command tags, maybe an error, then ReadyForQuery; and the status."""
    messages = [pg_message(b"T", draw(st.binary(max_size=20)))]
    messages += [pg_message(b"D", b"\0\1" + draw(secrets).encode()) for _ in range(draw(st.integers(0, 3)))]
    messages.append(pg_message(b"C", f"SELECT {draw(st.integers(0, 99))}\0".encode()))
    status = "ok"
    if draw(st.booleans()):
        status = draw(st.sampled_from(["42601", "42P01", "23505", "40001"]))
        fields = f"SERROR\0VERROR\0C{status}\0M{draw(words)}\0P1\0\0"
        messages.append(pg_message(b"E", fields.encode()))
    messages.append(pg_message(b"Z", b"I"))
    return b"".join(messages), status


def mysql_packet(sequence: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "little") + bytes([sequence]) + payload


@st.composite
def mysql_requests(draw):
    """A COM_QUERY or COM_STMT_PREPARE with secret literals, or a COM_STMT_EXECUTE with a secret parameter."""
    sql, literal = draw(secret_select())
    shape = draw(st.sampled_from(["query", "prepare", "execute"]))
    if shape == "execute":
        parameter = literal.encode()
        payload = b"\x17\x01\0\0\0\0\x01\0\0\0\0\x01\x0f\0" + bytes([len(parameter)]) + parameter
        return mysql_packet(0, payload)
    return mysql_packet(0, (b"\x03" if shape == "query" else b"\x16") + sql.encode())


@st.composite
def mysql_responses(draw):
    """A result set with secret values, an OK, or an ERR whose message quotes a secret; and the status."""
    shape = draw(st.sampled_from(["rows", "ok", "error"]))
    if shape == "ok":
        return mysql_packet(1, b"\0\x01\0\x02\0\0\0"), "ok"
    if shape == "error":
        code, state = draw(st.sampled_from([(1064, "42000"), (1146, "42S02"), (1062, "23000")]))
        message = f"{draw(words)} near '{draw(secrets)}' at line 1".encode()
        return mysql_packet(1, b"\xff" + code.to_bytes(2, "little") + b"#" + state.encode() + message), str(code)
    rows = [mysql_packet(4 + i, bytes([len(value)]) + value)
            for i, value in enumerate(draw(secrets).encode() for _ in range(draw(st.integers(0, 3))))]
    packets = [mysql_packet(1, b"\x01"), mysql_packet(2, b"\x03def\0\0\0\x01a\0\x0c"), mysql_packet(3, b"\xfe\0\0\x02\0")]
    packets += rows + [mysql_packet(4 + len(rows), b"\xfe\0\0\x02\0")]
    return b"".join(packets), "ok"


# the SQL protocols: a generator of requests, and one of responses with the status each must get
SQL_MESSAGES = {"postgres": (postgres_requests(), postgres_responses()), "mysql": (mysql_requests(), mysql_responses())}


@pytest.mark.parametrize("protocol", SQL_MESSAGES)
@SETTINGS
@given(data=st.data())
def test_sql_cut_anywhere_parses_and_hides_secrets(protocol, data):
    requests, responses = SQL_MESSAGES[protocol]
    request, (response, status) = data.draw(requests), data.draw(responses)
    assert_every_cut_parses_and_hides_secrets(protocol, request, response)
    assert_status_settles_once(protocol, response, status)


@pytest.mark.parametrize("protocol", SQL_MESSAGES)
@SETTINGS
@given(data=st.data(), position=st.integers(min_value=0), byte=st.integers(0, 255))
def test_sql_mutated_never_raises(protocol, data, position, byte):
    requests, responses = SQL_MESSAGES[protocol]
    request, (response, _) = data.draw(requests), data.draw(responses)
    check(protocol, mutated(request, position, byte), mutated(response, position, byte), ParseErrors())


# --- SQL literals, however they are quoted and wherever the capture cuts them --------------------------------

def standard_string(content: str) -> str:
    return "'" + content.replace("'", "''") + "'"


def escape_string(content: str) -> str:
    return "E'" + content.replace("\\", "\\\\").replace("'", "\\'") + "'"


sql_tokens = st.one_of(
    words, st.sampled_from(["SELECT", "FROM", "WHERE", "=", ",", "(", ")", "$1", "::int", '"a ""b"', "-- x\n"]),
    st.builds(standard_string, st.text("qj' ", min_size=1)),
    st.builds(escape_string, st.text("qj'\\ ", min_size=1)),
    st.builds(lambda tag, content: f"${tag}${content}${tag}$", st.sampled_from(["", "fn", "body"]),
              st.text("qj' ", min_size=1)),
    st.builds(str, st.integers(min_value=0)),
)


@SETTINGS
@given(st.lists(sql_tokens, min_size=1, max_size=12))
def test_sql_literals_hidden_however_cut(tokens):
    statement = " ".join(tokens)  # without spaces an identifier may swallow a dollar quote, as PostgreSQL's does
    for cut in range(len(statement) + 1):
        shown = redact.sql(statement[:cut])
        assert "q" not in shown and "j" not in shown, (cut, statement)


def mysql_string(content: str) -> str:
    return "'" + content.replace("\\", "\\\\").replace("'", "\\'") + "'"


mysql_tokens = st.one_of(
    words, st.sampled_from(["SELECT", "FROM", "WHERE", "=", ",", "(", ")", "?", "`a ``b`", "-- x\n", "# y\n"]),
    st.builds(mysql_string, st.text("qj'\\ ", min_size=1)),
    st.builds(lambda content: '"' + content.replace('"', '""') + '"', st.text('qj" ', min_size=1)),
    st.builds(str, st.integers(min_value=0)),
)


@SETTINGS
@given(st.lists(mysql_tokens, min_size=1, max_size=12))
def test_mysql_literals_hidden_however_cut(tokens):
    statement = " ".join(tokens)
    for cut in range(len(statement) + 1):
        shown = redact.mysql_sql(statement[:cut])
        assert "q" not in shown and "j" not in shown, (cut, statement)
