"""The status rules the kernel must implement, as labels of intuition_requests_total.

Redis prefixes were checked against redis-server 7.0's INFO errorstats for the same replies; PostgreSQL
responses are bytes PostgreSQL 15 sent here, MySQL replies bytes MariaDB 10.11 sent here.
"""
import pytest

from tracer.protocols import classify

from .protocol_captures import (
    CONTINUE_RESPONSE, LOGIN_RESPONSE, MYSQL_NO_SUCH_TABLE, MYSQL_OK, MYSQL_PREPARE_RESPONSE,
    MYSQL_SELECT_ALICE_RESPONSE, MYSQL_SYNTAX_ERROR, NOT_FOUND_RESPONSE, PGBENCH_UPDATE_RESPONSE, SYNTAX_ERROR,
    UNDEFINED_TABLE, UNKNOWN_COMMAND, WRONGTYPE,
)


@pytest.mark.parametrize(
    "response, status",
    [
        (LOGIN_RESPONSE, "200"),
        (NOT_FOUND_RESPONSE, "404"),
        (CONTINUE_RESPONSE, "201"),
        (b"HTTP/1.0 404 Not Found\r\n\r\n", "404"),
        (b"HTTP/1.1 500 Internal Server Error\r\n", "500"),
        (b"HTTP/1.1 204\r\n\r\n", "204"),  # no reason phrase
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n\r\n", "201"),
        (b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 302 Found\r\n",
         "302"),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", "101"),
        (b"HTTP/1.1 100 Continue\r\n\r\n", None),  # the final status has not come yet
        (b"HTTP/1.1 100 Continue\r\n", None),
        (b"HTTP/1.1 20", None),
        (b"HTTP/1.1 200", None),  # "2000" would not be a status line: wait for the byte after the code
        (b"HTTP/1.1 2000 OK\r\n", None),
        (b"HTTP/1.1 600 Nope\r\n", None),
        (b"HTTP/1.1 099 Nope\r\n", None),
        (b"HTTP/2 200\r\n", None),
        (b"http/1.1 200 OK\r\n", None),
        (b"", None),
    ],
)
def test_http(response, status):
    assert classify.http_status(response) == status


@pytest.mark.parametrize(
    "reply, status",
    [
        (b"+OK\r\n", "ok"),
        (b":1\r\n", "ok"),
        (b"$-1\r\n", "ok"),
        (b"*0\r\n", "ok"),
        (b"%7\r\n", "ok"),
        (b"_\r\n", "ok"),
        (WRONGTYPE, "WRONGTYPE"),
        (UNKNOWN_COMMAND, "ERR"),
        (b"-NOAUTH Authentication required.\r\n", "NOAUTH"),
        (b"-MYERR custom\r\n", "MYERR"),
        (b"-NOSPACE\r\n", "ERR"),  # no space at all: Redis counts ERR
        (b"-LONGPREFIXWORDWITHMORETHANTHIRTYTWOCHARS then\r\n", "ERR"),  # space beyond the first 32 bytes
        (b"--NOSPACEVERYLONGPREFIXWORDOVERTHIRTYTWO bytes\r\n", "ERR"),
        (b"-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123 x\r\n", "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123"),  # space is byte 32
        (b"-ABCDEFGHIJKLMNOPQRSTUVWXYZ01234 x\r\n", "ERR"),  # space is byte 33
        (b"- leading space\r\n", "ERR"),  # Redis counts an empty prefix here; a label wants a word
        (b"!21\r\nSYNTAX invalid syntax\r\n", "SYNTAX"),
        (b"-WRONGTYPE", None),  # the space may still come
        (b"-WRONGTYPE Op", "WRONGTYPE"),
        (b"!21\r", None),
        (b"", None),
        (b"HTTP/1.1 200 OK\r\n", None),
    ],
)
def test_redis(reply, status):
    assert classify.redis_status(reply) == status





@pytest.mark.parametrize(
    "response, status",
    [
        (PGBENCH_UPDATE_RESPONSE, "ok"),
        (b"C\x00\x00\x00\x11CREATE TABLE\x00Z\x00\x00\x00\x05I", "ok"),
        (b"I\x00\x00\x00\x04Z\x00\x00\x00\x05I", "ok"),  # empty query
        (SYNTAX_ERROR, "42601"),
        (UNDEFINED_TABLE, "42P01"),
        (SYNTAX_ERROR[:-6], "42601"),  # decided at the ErrorResponse, before ReadyForQuery
        (b"C\x00\x00\x00\rSELECT 1\x00" + UNDEFINED_TABLE, "42P01"),  # second statement of a Query failed
        (PGBENCH_UPDATE_RESPONSE[:-6], None),  # no ReadyForQuery yet
        (SYNTAX_ERROR[:20], None),  # SQLSTATE cut off
        (b"E\x00\x00\x00\x0bSERROR\x00\x00Z\x00\x00\x00\x05I", None),  # ErrorResponse without a SQLSTATE
        (b"E\x00\x00\x00\x0bC42\x00\x00Z\x00\x00\x00\x05I", None),  # malformed SQLSTATE
        (b"Z\x00\x00\x00\x02", None),
        (b"", None),
    ],
)
def test_postgres(response, status):
    assert classify.postgres_status(response) == status


@pytest.mark.parametrize(
    "reply, status",
    [
        (MYSQL_OK, "ok"),
        (MYSQL_SELECT_ALICE_RESPONSE, "ok"),  # a result set: its first packet, the column count, decides
        (MYSQL_PREPARE_RESPONSE, "ok"),
        (MYSQL_SYNTAX_ERROR, "1064"),
        (MYSQL_NO_SUCH_TABLE, "1146"),
        (MYSQL_SYNTAX_ERROR[:7], "1064"),  # the code is all it takes
        (b"\x17\x00\x00\x01\xff\x10\x04Too many connections", "1040"),  # no SQLSTATE
        (MYSQL_SYNTAX_ERROR[:6], None),  # code cut off
        (MYSQL_OK[:4], None),
        (b"\x07\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00", None),  # numbered 2: no reply to a command
        (b"\x00\x00\x00\x01\x00", None),  # empty first packet
        (b"", None),
    ],
)
def test_mysql(reply, status):
    assert classify.mysql_status(reply) == status


def test_status_by_protocol_name():
    assert classify.status("redis", b"-NOAUTH Authentication required.\r\n") == "NOAUTH"
    expected = "^no status rule for protocol 'smtp', expected one of http, redis, postgres, mysql$"
    with pytest.raises(ValueError, match=expected):
        classify.status("smtp", b"")


@pytest.mark.parametrize("code, interim", [("100", True), ("103", True), ("101", False), ("200", False)])
def test_http_interim(code, interim):
    assert classify.http_interim(code) is interim
