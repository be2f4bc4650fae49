"""describe(): one request sample as the dashboard stores and shows it; ParseErrors: the metric's counts."""
import json

import pytest

from tracer.protocols import PROTOCOLS, ParseErrors, describe
from tracer.capture.records import CLIENT, FlowKey, RequestSample

KEY = FlowKey(cgroup_id=0, tgid=4242, comm="curl", role=CLIENT, local_addr="127.0.0.1", peer_addr="127.0.0.1",
              server_port=80)
LOGIN = (
    b"GET /login?user=bob&password=secret HTTP/1.1\r\nHost: shop\r\nAuthorization: Bearer abc\r\n"
    b"Cookie: session=abc\r\n\r\n"
)
LOGIN_OK = b"HTTP/1.1 200 OK\r\nSet-Cookie: session=abc\r\nContent-Length: 14\r\n\r\ntoken=abc;ok=1"
SELECT_ALICE = b"Q\x00\x00\x00)SELECT * FROM t WHERE name = 'alice'\x00"
SELECT_ALICE_OK = b"C\x00\x00\x00\rSELECT 1\x00Z\x00\x00\x00\x05I"


def sample(protocol: str, request: bytes, response: bytes, status: str = "200") -> RequestSample:
    return RequestSample(key=KEY, protocol=protocol, status=status, latency_us=12_345, request=request,
                         response=response, timestamp=1_764_000_000.25)


def test_login_sample_hides_query_and_credentials():
    description = describe(sample("http", LOGIN, LOGIN_OK))
    assert description == {
        "protocol": "http",
        "time": 1_764_000_000.25,
        "latency_ms": 12.345,
        "status": "200",
        "operation": "GET",
        "target": "/login",
        "detail": "OK",
        "request": "GET /login HTTP/1.1\nHost: shop\nAuthorization: ?\nCookie: ?",
        "response": "HTTP/1.1 200 OK\nSet-Cookie: ?\nContent-Length: 14\n\n?",
        "parse_error": None,
    }
    stored = json.dumps(description)
    assert "secret" not in stored and "abc" not in stored


def test_redaction_off_shows_everything():
    description = describe(sample("http", LOGIN, LOGIN_OK), redact=False)
    assert description["target"] == "/login?user=bob&password=secret"
    assert "Authorization: Bearer abc" in description["request"]
    assert description["response"].endswith("token=abc;ok=1")


def test_sql_literal_stored_as_placeholder():
    description = describe(sample("postgres", SELECT_ALICE, SELECT_ALICE_OK, status="ok"))
    assert description["target"] == "SELECT * FROM t WHERE name = ?"
    assert description["detail"] == "SELECT 1"
    assert "alice" not in json.dumps(description)


def test_mysql_sample_hides_literals_and_the_error_echo():
    request = b"*\x00\x00\x00\x03SELECT * FROM shop.t WHERE name = 'alice'"
    response = b"D\x00\x00\x01\xff(\x04#42000You have an error in your SQL syntax near 'alice' at line 1"
    description = describe(sample("mysql", request, response, status="1064"))
    assert (description["operation"], description["target"]) == ("COM_QUERY", "SELECT * FROM shop.t WHERE name = ?")
    assert description["detail"] == "1064 (42000) You have an error in your SQL syntax near '?' at line 1"
    assert "alice" not in json.dumps(description)


def test_redis_sample():
    request = b"*3\r\n$3\r\nSET\r\n$4\r\nuser\r\n$5\r\nhello\r\n"
    description = describe(sample("redis", request, b"-OOM command not allowed\r\n", status="OOM"))
    assert (description["operation"], description["target"], description["status"]) == ("SET", "user ?", "OOM")
    assert description["detail"] == "OOM command not allowed"


def test_unparsable_side_shown_empty_when_redacting():
    description = describe(sample("http", b"\x16\x03\x01secret", LOGIN_OK))
    assert description["parse_error"] == "request: request method is not a word in capitals"
    assert (description["operation"], description["request"]) == (None, "")
    assert description["detail"] == "OK"


def test_unparsable_side_shown_as_text_without_redaction():
    description = describe(sample("redis", b"*1\r\n$4\r\nPING\r\n", b"HTTP/1.1 400 \xff\r\n"), redact=False)
    assert description["parse_error"] == "response: not a RESP reply type"
    assert description["response"] == "HTTP/1.1 400 \ufffd\r\n"


def test_both_sides_unparsable():
    description = describe(sample("postgres", b"\x00\x00\x00\x08\x04\xd2\x16\x2f", b"N"))
    assert description["parse_error"] == "request: unknown frontend message type"
    description = describe(sample("postgres", b"GET", b"HTTP/1.1 200"))
    assert description["parse_error"] == (
        "request: unknown frontend message type; response: backend message length out of range"
    )


def test_unknown_protocol_is_a_clear_error():
    expected = "^request sample has unknown protocol 'smtp', expected one of http, redis, postgres, mysql, http2, grpc$"
    with pytest.raises(ValueError, match=expected):
        describe(sample("smtp", b"", b""))


def test_parse_errors_counted_per_protocol():
    errors = ParseErrors()
    assert errors.totals() == {"http": 0, "redis": 0, "postgres": 0, "mysql": 0, "http2": 0, "grpc": 0}
    errors.record(describe(sample("http", b"\x16\x03\x01", b"")))
    errors.record(describe(sample("http", LOGIN, LOGIN_OK)))
    errors.record(describe(sample("redis", b"*x\r\n", b"+OK\r\n")))
    errors.record(describe(sample("redis", b"*z\r\n", b"?")))  # both sides bad: still one sample
    assert errors.totals() == {"http": 1, "redis": 2, "postgres": 0, "mysql": 0, "http2": 0, "grpc": 0}


def test_protocols_are_the_metric_label_values():
    assert PROTOCOLS == ("http", "redis", "postgres", "mysql", "http2", "grpc")
