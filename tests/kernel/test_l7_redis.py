"""Redis requests classified in the kernel: exact counts per error prefix, and a pipeline counted per command."""
import socket
import subprocess

import pytest

from tests.helpers.l7 import request_counts


def command(*words: str) -> bytes:
    """One command as a RESP array of bulk strings."""
    out = f"*{len(words)}\r\n".encode()
    for word in words:
        out += f"${len(word)}\r\n{word}\r\n".encode()
    return out


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
    capture.wait_for(lambda c: request_counts(c, redis_port, "client", "redis") == want
                     and request_counts(c, redis_port, "server", "redis") == want,
                     what=f"{want} at both ends")
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
    capture.wait_for(lambda c: request_counts(c, redis_port, "client", "redis") == want
                     and request_counts(c, redis_port, "server", "redis") == want,
                     what=f"{want} at both ends")
