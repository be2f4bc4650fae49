"""The agent only reads from Docker: its identity runs through a proxy socket that refuses anything but GET
and HEAD, and still names containers, follows their events and resyncs."""
from __future__ import annotations

import os
import socket
import tempfile
import threading

import pytest

from tests.docker.conftest import service_of, start_identity
from tests.helpers.docker_env import wait_until
from tests.helpers.http_status_server import request_heads

pytestmark = pytest.mark.docker
DOCKER_SOCKET = "/var/run/docker.sock"
READ_METHODS = {b"GET", b"HEAD"}


class ReadOnlyDockerProxy:
    """A unix socket in front of dockerd. Every request head is checked: GET and HEAD go through (they carry
    no body, so the next head follows at once), anything else is recorded and answered 403."""

    def __init__(self, path: str):
        self.path = path
        self.requests: list[tuple[bytes, bytes]] = []  # (method, target) of every request seen
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(path)
        self._listener.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def refused(self) -> list[tuple[bytes, bytes]]:
        return [r for r in self.requests if r[0] not in READ_METHODS]

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.connect(DOCKER_SOCKET)
        threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()
        try:
            for head in request_heads(client):
                method, target = head.split(b" ", 2)[:2]
                self.requests.append((method, target))
                if method not in READ_METHODS:
                    client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    return
                upstream.sendall(head + b"\r\n\r\n")
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            sink.close()


@pytest.fixture
def proxy(docker_env):
    directory = tempfile.mkdtemp(prefix="intuition-docker-proxy-")
    p = ReadOnlyDockerProxy(os.path.join(directory, "docker.sock"))
    yield p
    p.close()
    os.unlink(p.path)
    os.rmdir(directory)


def test_identity_names_containers_through_a_read_only_docker_socket(docker_env, proxy):
    before = docker_env.run("ro-before", "sleep", "600", compose=("readonly", "before"))
    identity = start_identity(docker_url=f"unix://{proxy.path}")
    try:
        wait_until(lambda: identity.docker_connected, 30, "identity to connect through the proxy")
        wait_until(lambda: service_of(identity, "before", "readonly"), 30, "the container listed at start")
        docker_env.run("ro-after", "sleep", "600", compose=("readonly", "after"))  # seen through the event stream
        wait_until(lambda: service_of(identity, "after", "readonly"), 30, "the container started later")
        docker_env.api.stop(before.id, timeout=0)
        wait_until(lambda: service_of(identity, "before", "readonly").containers[0].state == "exited", 30,
                   "the stop event")
    finally:
        identity.stop()
    assert any(target.startswith(b"/v") and b"/events" in target for _, target in proxy.requests)
    assert any(b"/containers/json" in target for _, target in proxy.requests)
    assert proxy.refused() == []
