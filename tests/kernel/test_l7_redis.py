"""Redis requests classified in the kernel: exact counts per error prefix, and a pipeline counted per command."""
import socket
import subprocess

import pytest

from tests.helpers.l7 import server_counts
from tests.helpers.tcp_server import Server, read_exactly


def command(*words: str) -> bytes:
    """One command as a RESP array of bulk strings."""
    out = f"*{len(words)}\r\n".encode()
    for word in words:
        out += f"${len(word)}\r\n{word}\r\n".encode()
    return out


def receive(s: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        assert chunk, f"peer closed after {len(data)} of {n} bytes"
        data += chunk
    return data


def redis_info(port: int) -> dict[str, str]:
    """INFO's fields, asked over a raw socket: no redis-cli connection beyond the test's own."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(command("INFO", "all"))
        reply = b""
        while not reply.endswith(b"\r\n") or reply.count(b"\r\n") < 2:
            reply += s.recv(65536)
        length = int(reply[1:reply.index(b"\r\n")])
        while len(reply) < reply.index(b"\r\n") + 2 + length + 2:
            reply += s.recv(65536)
    lines = reply.decode().splitlines()[1:]
    return dict(line.split(":", 1) for line in lines if ":" in line)


def outcomes_in_info(info: dict[str, str]) -> dict[str, int]:
    """Successful calls per commandstats and errors per errorstats."""
    out = {"ok": 0}
    for name, value in info.items():
        if not name.startswith(("cmdstat_", "errorstat_")):
            continue
        fields = dict(part.split("=") for part in value.split(","))
        if name.startswith("cmdstat_"):
            out["ok"] += int(fields["calls"]) - int(fields["failed_calls"])
        elif name.startswith("errorstat_"):
            out[name.removeprefix("errorstat_")] = int(fields["count"])
    return out


@pytest.mark.kernel
def test_redis_cli_outcomes_exact(capture, redis_port):
    script = ([f"SET k{i} v{i}" for i in range(20)] + [f"GET k{i}" for i in range(10)]
              + [f"LPUSH list{i} x" for i in range(10)] + [f"LPUSH k{i} x" for i in range(7)] + ["NOSUCHCOMMAND a"] * 3)
    result = subprocess.run(["redis-cli", "-p", str(redis_port)], input="\n".join(script) + "\n",
                            text=True, capture_output=True, timeout=60, check=True)
    assert result.stdout.count("WRONGTYPE") == 7 and result.stdout.count("unknown command") == 3
    # redis-cli first asks for COMMAND DOCS (a reply of thousands of elements): one more success
    want = {"ok": 41, "WRONGTYPE": 7, "ERR": 3}
    capture.wait_for(lambda c: server_counts(c, redis_port, "redis") == want,
                     what=f"{want} at the server end")
    info = redis_info(redis_port)
    assert info["cmdstat_command|docs"].startswith("calls=1,")
    assert outcomes_in_info(info) == want


@pytest.mark.kernel
def test_redis_pipeline_of_100_counts_100(capture, redis_port):
    pipeline = b"".join(command("SET", f"key{i}", f"value{i}") for i in range(100))
    with socket.create_connection(("127.0.0.1", redis_port), timeout=10) as s:
        s.sendall(pipeline)
        replies = b""
        while replies.count(b"+OK\r\n") < 100:
            chunk = s.recv(65536)
            assert chunk, f"redis closed after {replies.count(b'+OK')} replies"
            replies += chunk
    want = {"ok": 100}
    capture.wait_for(lambda c: server_counts(c, redis_port, "redis") == want,
                     what=f"{want} at the server end")


def scripted_replies(replies: list[bytes]):
    """Handler: answers the n-th command (a one-element array, "*1\\r\\n$4\\r\\nPING\\r\\n") with replies[n]."""
    def handle(conn: socket.socket) -> None:
        for reply in replies:
            read_exactly(conn, len(command("PING")))
            conn.sendall(reply)
    return handle


@pytest.mark.kernel
def test_blob_error_counts_its_first_word(capture):
    """RESP3 blob errors ('!'), which redis-server itself hardly sends, from a scripted server."""
    replies = [b"!21\r\nSYNTAX invalid syntax\r\n", b"-WRONGTYPE Operation against a key\r\n",
               b"!3\r\nERR\r\n", b"+PONG\r\n"]
    with Server(scripted_replies(replies)) as server, socket.create_connection(("127.0.0.1", server.port)) as s:
        for reply in replies:
            s.sendall(command("PING"))
            receive(s, len(reply))
        want = {"SYNTAX": 1, "WRONGTYPE": 1, "ERR": 1, "ok": 1}
        capture.wait_for(lambda c: server_counts(c, server.port, "redis") == want,
                         what=f"{want} at the server end")


@pytest.mark.kernel
def test_inline_commands_counted(capture, redis_port):
    """Commands typed as plain lines, from the first one on, as `telnet` or a health check sends them."""
    lines = [(b"PING\r\n", b"+PONG\r\n"), (b"SET a 1\r\n", b"+OK\r\n"), (b"GET a\r\n", b"$1\r\n1\r\n"),
             (b"INCR a b\r\n", b"-ERR wrong number of arguments for 'incr' command\r\n")]
    with socket.create_connection(("127.0.0.1", redis_port), timeout=10) as s:
        for line, reply in lines:
            s.sendall(line)
            assert receive(s, len(reply)) == reply
    want = {"ok": 3, "ERR": 1}
    capture.wait_for(lambda c: server_counts(c, redis_port, "redis") == want,
                     what=f"{want} at the server end")
    assert outcomes_in_info(redis_info(redis_port)) == want


def answer_lines(greeting: bytes):
    """Handler of a line protocol that is not Redis: an optional greeting, then "+OK\\r\\n" to each line."""
    def handle(conn: socket.socket) -> None:
        conn.sendall(greeting)
        while conn.recv(65536):
            conn.sendall(b"+OK\r\n" if greeting else b"OK fine\r\n")
    return handle


@pytest.mark.kernel
@pytest.mark.parametrize("greeting", [b"+OK POP3 ready\r\n", b""])
def test_line_protocols_are_not_inline_redis(capture, greeting):
    """A server that speaks first (POP3), or answers a line with no RESP reply, is not Redis."""
    with Server(answer_lines(greeting)) as server, socket.create_connection(("127.0.0.1", server.port)) as s:
        if greeting:
            receive(s, len(greeting))
        lines = (b"USER bob\r\n", b"PASS secret\r\n", b"QUIT\r\n")
        for line in lines:
            s.sendall(line)
            receive(s, 5 if greeting else 9)
        sent = sum(map(len, lines))
        capture.wait_for(lambda c: c.total(server_port=server.port, role="server").bytes_received == sent,
                         what="the three lines at the server")
        capture.poll()
        assert not [k for k in capture.requests if k.server_port == server.port]


@pytest.mark.kernel
def test_malformed_reply_is_a_parse_error(capture):
    """A reply of no RESP type breaks the framing: counted as a parse error at the end that parses, the server's."""
    replies = [b"+PONG\r\n", b"?bogus\r\n"]
    capture.poll()
    before = capture.collector.parse_errors.get("redis", 0)
    with Server(scripted_replies(replies)) as server, socket.create_connection(("127.0.0.1", server.port)) as s:
        for reply in replies:
            s.sendall(command("PING"))
            receive(s, len(reply))
        capture.wait_for(lambda c: c.collector.parse_errors.get("redis", 0) - before >= 1,
                         what="a redis parse error at the server end")
    capture.poll()
    assert capture.collector.parse_errors["redis"] - before == 1
    # the bogus reply still answered its command: both requests completed
    assert server_counts(capture, server.port, "redis") == {"ok": 2}
