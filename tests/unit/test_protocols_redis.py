"""Redis RESP2/RESP3 parsing and redaction, on bytes captured from redis-cli and redis-server."""
import pytest

from tracer.protocols import redis
from tracer.protocols.parsing import ParseError

from .protocol_captures import AUTH, HELLO_REPLY, LPUSH, SET, UNKNOWN_COMMAND, WRONGTYPE


@pytest.mark.parametrize(
    "data, redact, operation, target, text",
    [
        (SET, True, "SET", "k ?", "SET k ?"),
        (SET, False, "SET", "k secretvalue", "SET k secretvalue"),
        (LPUSH, True, "LPUSH", "k ?", "LPUSH k ?"),
        (AUTH, True, "AUTH", "?", "AUTH ?"),
        (b"*3\r\n$4\r\nAUTH\r\n$5\r\nalice\r\n$2\r\npw\r\n", True, "AUTH", "? ?", "AUTH ? ?"),
        (b"*2\r\n$3\r\nget\r\n$1\r\nk\r\n", True, "GET", "k", "GET k"),
        (b"*1\r\n$4\r\nPING\r\n", True, "PING", None, "PING"),
        (b"*2\r\n$3\r\nGET\r\n$7\r\na key\"x\r\n", False, "GET", '"a key\\"x"', 'GET "a key\\"x"'),
        (b"*3\r\n$4\r\nHSET\r\n$1\r\nh\r\n$0\r\n\r\n", False, "HSET", 'h ""', 'HSET h ""'),
        (b"PING\r\n", True, "PING", None, "PING"),
        (b"set k v\r\n", True, "SET", "k ?", "SET k ?"),
        (b"auth hunter2\n", True, "AUTH", "?", "AUTH ?"),
    ],
)
def test_commands(data, redact, operation, target, text):
    request = redis.parse_request(data, redact)
    assert (request.operation, request.target, request.text) == (operation, target, text)


def test_pipeline_shows_the_first_command():
    request = redis.parse_request(SET + LPUSH + AUTH, redact=True)
    assert request.text == "SET k ?"


@pytest.mark.parametrize(
    "data, text",
    [
        (b"", ""),
        (b"*", ""),
        (b"*3\r", ""),
        (b"*3\r\n$3\r\nse", "SE"),
        (b"*3\r\n$3\r\nset\r\n$1\r\nk\r\n$11\r\nsecr", "SET k ?"),
        (b"*3\r\n$3\r\nset\r\n$4\r\nkey1", "SET key1"),
        (b"se", "SE"),
    ],
)
def test_commands_cut_anywhere(data, text):
    assert redis.parse_request(data, redact=True).text == text


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"*x\r\n", "malformed command length"),
        (b"*0\r\n", "command array is empty"),
        (b"*1\r\n:1\r\n", "command argument is not a bulk string"),
        (b"*1\r\n$-1\r\n", "command argument is null"),
        (b"*1\r\n$2\r\nabc\r\n", "command argument is longer than its length"),
        (b"*1\r\n$1x", "malformed command argument length"),
        (b"\r\n", "empty inline command"),
        (b"\x16\x03\x01\x02\x00", "inline command does not start with a command name"),
        (b"{\"json\": 1}\n", "inline command does not start with a command name"),
    ],
)
def test_malformed_commands(data, reason):
    with pytest.raises(ParseError, match=f"^{reason}$"):
        redis.parse_request(data, redact=True)


@pytest.mark.parametrize(
    "data, redact, detail, text",
    [
        (b"+OK\r\n", True, "simple string", "OK"),
        (WRONGTYPE, True,
         "WRONGTYPE Operation against a key holding the wrong kind of value",
         "WRONGTYPE Operation against a key holding the wrong kind of value"),
        (UNKNOWN_COMMAND, True,
         "ERR unknown command '?', with args beginning with: '?' ",
         "ERR unknown command '?', with args beginning with: '?' "),
        (UNKNOWN_COMMAND, False,
         "ERR unknown command 'foo', with args beginning with: 'bar' ",
         "ERR unknown command 'foo', with args beginning with: 'bar' "),
        (b"$11\r\nsecretvalue\r\n", True, "bulk string", "?"),
        (b"$11\r\nsecretvalue\r\n", False, "bulk string", "secretvalue"),
        (b"$11\r\nsecr", False, "bulk string", "secr"),
        (b"$-1\r\n", True, "bulk string", "(nil)"),
        (b"$1", True, "bulk string", ""),
        (b":42\r\n", True, "integer", "42"),
        (b"*0\r\n", True, "array", "(array of 0)"),
        (b"*-1\r\n", True, "array", "(nil)"),
        (HELLO_REPLY, True, "map", "(map of 7)"),
        (b"_\r\n", True, "null", "(nil)"),
        (b"#t\r\n", True, "boolean", "t"),
        (b",3.14\r\n", True, "double", "3.14"),
        (b"(3492890328409238509324850943850943825024385\r\n", True, "big number",
         "3492890328409238509324850943850943825024385"),
        (b"!21\r\nSYNTAX invalid syntax\r\n", True, "SYNTAX invalid syntax", "SYNTAX invalid syntax"),
        (b"=15\r\ntxt:Some string\r\n", True, "verbatim string", "?"),
        (b"+O", True, "simple string", "O"),
    ],
)
def test_replies(data, redact, detail, text):
    response = redis.parse_response(data, redact)
    assert (response.detail, response.text) == (detail, text)


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"HTTP/1.1 200 OK\r\n", "not a RESP reply type"),
        (b":4x\r\n", "malformed integer reply"),
        (b"#x\r\n", "malformed boolean reply"),
        (b"_x\r\n", "malformed null reply"),
        (b"$x\r\n", "malformed bulk string length"),
        (b"*1.5\r\n", "malformed array length"),
    ],
)
def test_malformed_replies(data, reason):
    with pytest.raises(ParseError, match=f"^{reason}$"):
        redis.parse_response(data, redact=True)
