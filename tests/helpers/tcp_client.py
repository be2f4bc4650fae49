"""A TCP client run as its own process, so that tests can check attribution to its tgid and comm.

    python -m tests.helpers.tcp_client NAME MODE HOST PORT [ARGS...]

NAME becomes the process's comm. Modes:
    exchange SEND RECV   send SEND bytes, then read exactly RECV bytes
    burst COUNT          COUNT connect/close pairs
    paced RATE SECONDS   RATE connect/close pairs at the start of each second, for SECONDS seconds
    connect SYNCNT       one connect with at most SYNCNT SYN retries; prints the errno name
    linger               connect, wait for one byte, close with SO_LINGER 0 (sends a reset)
    chatter COUNT SIZE   COUNT writes of SIZE bytes with TCP_NODELAY, then read 1 byte of acknowledgement
    on-stdin SIZE [LOCAL_PORT]
                         connect (from LOCAL_PORT if given) and print "connected"; then for each line on stdin
                         send SIZE bytes, read SIZE bytes back and print "done"; close at the end of stdin
    http STATUS...       connect, print "connected", wait for a line on stdin, then send one HTTP request per
                         STATUS (GET /STATUS) and read its response (tests.helpers.http_status_server's)
    get PATH COUNT       COUNT HTTP/1.1 GETs of PATH, one connection each, each answer read to its end
"""
import contextlib
import ctypes
import errno
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

from tests.helpers.http_status_server import http_status_request, http_status_response
from tests.helpers.tcp_server import read_exactly

PR_SET_NAME = 15


def set_comm(name: str) -> None:
    ctypes.CDLL(None).prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def main(argv: list[str]) -> None:
    name, mode, host, port, *args = argv
    set_comm(name)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    address = (host, int(port))
    if mode == "exchange":
        send, recv = int(args[0]), int(args[1])
        with socket.create_connection(address) as s:
            s.sendall(b"c" * send)
            read_exactly(s, recv)
    elif mode == "burst":
        for _ in range(int(args[0])):
            socket.create_connection(address).close()
    elif mode == "paced":
        rate, seconds = int(args[0]), int(args[1])
        started = time.monotonic()
        for second in range(seconds):
            time.sleep(max(0.0, started + second - time.monotonic()))
            for _ in range(rate):
                socket.create_connection(address).close()
    elif mode == "connect":
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, int(args[0]))
        try:
            s.connect(address)
            print("connected")
        except OSError as e:
            print(errno.errorcode.get(e.errno, str(e.errno)))
        finally:
            s.close()
    elif mode == "linger":
        s = socket.create_connection(address)
        read_exactly(s, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    elif mode == "chatter":
        count, size = int(args[0]), int(args[1])
        with socket.create_connection(address) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for _ in range(count):
                s.sendall(b"m" * size)
            read_exactly(s, 1)
    elif mode == "on-stdin":
        size = int(args[0])
        local = ("", int(args[1])) if len(args) > 1 else None
        with socket.create_connection(address, source_address=local) as s:
            print("connected", flush=True)
            for _ in sys.stdin:
                s.sendall(b"s" * size)
                read_exactly(s, size)
                print("done", flush=True)
    elif mode == "http":
        with socket.create_connection(address) as s:
            print("connected", flush=True)
            sys.stdin.readline()
            for status in args:
                s.sendall(http_status_request(status))
                read_exactly(s, len(http_status_response(status)))
    elif mode == "get":
        path, count = args[0], int(args[1])
        for _ in range(count):
            with socket.create_connection(address) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                while s.recv(4096):
                    pass
    else:
        raise SystemExit(f"unknown mode {mode}")


@contextlib.contextmanager
def http_client(name: str, port: int, statuses: list[str]) -> Iterator[Callable[[], None]]:
    """The `http` mode as its own process, connected to 127.0.0.1:port; the context is a call that sends the
    requests and waits for the client to exit."""
    client = subprocess.Popen([sys.executable, "-m", "tests.helpers.tcp_client", name, "http", "127.0.0.1", str(port),
                               *statuses], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdout.readline().strip() == "connected"

        def send() -> None:
            client.stdin.write("go\n")
            client.stdin.flush()
            assert client.wait(60) == 0

        yield send
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()


if __name__ == "__main__":
    main(sys.argv[1:])
