"""loadgen: people voting and reading the results, RATE visits a second, through the published ports.

It runs on the host's network and calls 127.0.0.1:<published port>, so that its requests reach vote and
result the way an outside user's do (the map shows them as INTERNET -> vote). vote's two replicas each
publish a port that Docker picks (one host port cannot serve two tasks on one node, and this stack has no
virtual IPs), so every few seconds loadgen asks Docker, through its socket mounted read-only, for the
ports of the stack's running vote and result containers.
"""
from __future__ import annotations

import http.client
import json
import os
import random
import socket
import sys
import time
import urllib.parse

RATE = float(os.environ.get("RATE", "3"))
STACK = os.environ.get("STACK", "voting")
DOCKER_SOCKET = "/var/run/docker.sock"
REFRESH_SECONDS = 1
VOTERS = 1000  # people come back and change their vote
TIMEOUT_SECONDS = 10


class DockerConnection(http.client.HTTPConnection):
    """HTTP to the Docker engine over its unix socket."""

    def __init__(self) -> None:
        super().__init__("docker", timeout=TIMEOUT_SECONDS)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT_SECONDS)
        self.sock.connect(DOCKER_SOCKET)


def published_ports(service: str) -> list[int]:
    """Host ports of the service's running containers that lead to their port 80."""
    filters = json.dumps({"label": [f"com.docker.swarm.service.name={STACK}_{service}"], "status": ["running"]})
    docker = DockerConnection()
    try:
        docker.request("GET", "/containers/json?filters=" + urllib.parse.quote(filters))
        containers = json.loads(docker.getresponse().read())
    finally:
        docker.close()
    return sorted({p["PublicPort"] for c in containers for p in c["Ports"]
                   if p.get("PublicPort") and p["PrivatePort"] == 80})


def visit(port: int, *requests: tuple[str, str, str]) -> bool:
    """One person's requests (method, path, form body) on one keep-alive connection; False if it broke."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_SECONDS)
    try:
        for method, path, body in requests:
            headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
            connection.request(method, path, body or None, headers)
            connection.getresponse().read()
        return True
    except OSError:
        return False  # a task that has just stopped, say: look for the ports again
    finally:
        connection.close()


def main() -> None:
    ports: dict[str, list[int]] = {}
    refreshed = float("-inf")
    due = time.monotonic()
    while True:
        if time.monotonic() - refreshed >= REFRESH_SECONDS:
            try:
                ports = {service: published_ports(service) for service in ("vote", "result")}
            except (OSError, ValueError, KeyError) as error:
                print(f"cannot list the stack's ports: {error}", file=sys.stderr, flush=True)
            refreshed = time.monotonic()
        ballot = urllib.parse.urlencode({"vote": random.choice("ab"), "voter": random.randrange(VOTERS)})
        visits = {"vote": [("GET", "/", ""), ("POST", "/vote", ballot)], "result": [("GET", "/api/results", "")]}
        for service, requests in visits.items():
            if ports.get(service) and not visit(random.choice(ports[service]), *requests):
                refreshed = float("-inf")
        due = max(due + 1 / RATE, time.monotonic() - 1)  # behind by more than a second: do not rush to catch up
        time.sleep(max(0.0, due - time.monotonic()))


if __name__ == "__main__":
    main()
