"""A threaded TCP server in the test process, with a handler per accepted connection."""
from __future__ import annotations

import socket
import threading


class Server:
    def __init__(self, handler, host: str = "127.0.0.1", port: int = 0):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            try:
                with conn:
                    self.handler(conn)
            except Exception as e:  # reported by close()
                self.errors.append(e)

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(10)
        if self.errors:
            raise self.errors[0]

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_exactly(conn: socket.socket, n: int) -> None:
    while n > 0:
        chunk = conn.recv(min(n, 65536))
        if not chunk:
            raise ConnectionError(f"client closed with {n} bytes still expected")
        n -= len(chunk)


def exchange(receive: int, send: int):
    """Handler: read `receive` bytes, answer `send` bytes."""
    def handle(conn: socket.socket) -> None:
        read_exactly(conn, receive)
        conn.sendall(b"s" * send)
    return handle


def accept_and_close(conn: socket.socket) -> None:
    pass


def send_one_byte_then_wait(conn: socket.socket) -> None:
    """Handler: send one byte, then wait for the client to go away (by reset)."""
    conn.sendall(b"!")
    try:
        while conn.recv(65536):
            pass
    except ConnectionResetError:
        pass
