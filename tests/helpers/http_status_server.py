"""An HTTP/1.1 server run as its own process (in a network namespace a test creates): it answers each request
`GET /<status>` on one connection with that status and a 2-byte body.

    python -m tests.helpers.http_status_server HOST PORT

Prints "listening", then "accepted" once its one connection is accepted, and serves it until the client closes.
"""
import socket
import sys
from collections.abc import Iterator


def http_status_request(status: str) -> bytes:
    return f"GET /{status} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


def http_status_response(status: str) -> bytes:
    return f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\n\r\nok".encode()


def request_heads(conn: socket.socket) -> Iterator[bytes]:
    """Each request head read from conn, without its blank line, until the peer closes. For requests
    without a body (GET, HEAD): the next head follows the blank line at once."""
    pending = b""
    while True:
        while b"\r\n\r\n" not in pending:
            chunk = conn.recv(65536)
            if not chunk:
                return
            pending += chunk
        head, pending = pending.split(b"\r\n\r\n", 1)
        yield head


def answer_statuses(conn: socket.socket) -> None:
    """Answers each `GET /<status>` on conn with that status, until the peer closes (a tests.helpers.tcp_server
    handler too)."""
    for head in request_heads(conn):
        conn.sendall(http_status_response(head.split(b" ")[1].lstrip(b"/").decode()))


def main(host: str, port: str) -> None:
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, int(port)))
    listener.listen()
    print("listening", flush=True)
    conn, _ = listener.accept()
    print("accepted", flush=True)
    answer_statuses(conn)


if __name__ == "__main__":
    main(*sys.argv[1:])
