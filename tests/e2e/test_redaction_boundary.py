"""Redaction at the storage boundary (issue 11), end to end: the agent as a user starts it (redaction on by
default) watches curl send a query-string value, an Authorization and a Cookie value to nginx, a client send
`AUTH <password>` to redis-server and psql send a SQL literal to PostgreSQL. The requests are counted exactly
and sampled, and no API answer, /metrics (both formats) or line of the agent's log holds any of those values."""
from __future__ import annotations

import json
import socket
import subprocess

import pytest
import requests

from tests.helpers.agent_metrics import scrape
from tests.helpers.agent_process import AgentProcess
from tests.helpers.docker_env import wait_until
from tests.helpers.servers import running_nginx, running_redis

pytestmark = pytest.mark.kernel

# each unlike any text the agent or the servers write by themselves
QUERY_SECRET = "s5q7c1d2e9f"
AUTHORIZATION_SECRET = "s5auth91ab04"
COOKIE_SECRET = "s5cookie44ef7"
SQL_SECRET = "s5sqlaa31b2"
REDIS_PASSWORD = "s5redis5e6f8"
SECRETS = [QUERY_SECRET, AUTHORIZATION_SECRET, COOKIE_SECRET, SQL_SECRET, REDIS_PASSWORD]
MAX_ROUNDS = 30  # rounds until each server's edge holds a sample of the secret-bearing request


def redis_command(*words: str) -> bytes:
    return b"".join([f"*{len(words)}\r\n".encode()] + [f"${len(w)}\r\n{w}\r\n".encode() for w in words])


class Traffic:
    """One round: a curl to nginx, AUTH and PING to redis on a new connection, one psql query."""

    def __init__(self, nginx_port: int, redis_port: int, postgres_port: int) -> None:
        self.nginx_port, self.redis_port, self.postgres_port = nginx_port, redis_port, postgres_port
        self.rounds = 0

    def round(self) -> None:
        subprocess.run(["curl", "-sS", "-o", "/dev/null", "-H", f"Authorization: Bearer {AUTHORIZATION_SECRET}",
                        "-H", f"Cookie: session={COOKIE_SECRET}",
                        f"http://127.0.0.1:{self.nginx_port}/ok?token={QUERY_SECRET}"], check=True, timeout=30)
        with socket.create_connection(("127.0.0.1", self.redis_port), timeout=10) as conn:
            for command, reply in (((("AUTH", REDIS_PASSWORD)), b"+OK\r\n"), (("PING",), b"+PONG\r\n")):
                conn.sendall(redis_command(*command))
                assert conn.recv(64) == reply
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.postgres_port), "-U", "postgres", "-X", "-q",
                        "-c", f"SELECT '{SQL_SECRET}' AS greeting"], check=True, capture_output=True, timeout=60)
        self.rounds += 1


def services(url: str) -> list[dict]:
    return requests.get(f"{url}/api/services", timeout=10).json()["services"]


def edges_into(url: str, server: str) -> list[dict]:
    """The edge details (/api/edges) of every edge whose server is `server`."""
    found = []
    for service in services(url):
        if service["name"] != server:
            continue
        for edge in service["incoming"]:
            found.append(requests.get(f"{url}/api/edges", timeout=10, params={
                key: edge[key] for key in ("client", "client_namespace", "server", "server_namespace")}).json())
    return found


def sampled_targets(url: str, server: str, operation: str) -> set[str]:
    """The targets of the samples of `operation` on the edges into `server`, as the API shows them."""
    return {s["target"] for edge in edges_into(url, server) for s in edge["samples"] if s["operation"] == operation}


# server, the operation that carries a secret, how its target shows redacted
SAMPLED = [("host:nginx", "GET", "/ok"), ("host:redis-server", "AUTH", "?"),
           ("host:postgres", "Query", "SELECT ? AS greeting")]


def server_counts(url: str, server: str) -> dict[tuple[str, str], float]:
    """(protocol, status) -> requests counted at the server's end of the edges into `server`."""
    counts: dict[tuple[str, str], float] = {}
    for (name, labels), value in scrape(url).items():
        found = dict(labels)
        if name == "intuition_requests_total" and found["server"] == server and found["reporter"] == "server":
            counts[found["protocol"], found["status"]] = counts.get((found["protocol"], found["status"]), 0) + value
    return counts


def everything_served(url: str) -> dict[str, str]:
    """Every API answer, for every service and edge, and /metrics in both formats, by what was asked."""
    answers = {}
    for path in ("/api/graph", "/api/services", "/api/changes", "/api/timeline"):
        answers[path] = requests.get(f"{url}{path}", timeout=10).text
    answers["/metrics"] = requests.get(f"{url}/metrics", timeout=10).text
    answers["/metrics (OpenMetrics)"] = requests.get(f"{url}/metrics", timeout=10, headers={
        "Accept": "application/openmetrics-text; version=1.0.0"}).text
    for service in services(url):
        name, namespace = service["name"], service["namespace"]
        answers[f"service {name}"] = requests.get(f"{url}/api/services/{name}", params={"namespace": namespace},
                                                  timeout=10).text
        for edge in service["incoming"] + service["outgoing"]:
            params = {key: edge[key] for key in ("client", "client_namespace", "server", "server_namespace")}
            answers[f"edge {json.dumps(params)}"] = requests.get(f"{url}/api/edges", params=params, timeout=10).text
    return answers


def test_no_answer_metric_or_log_line_holds_a_secret_the_traffic_carried(postgres_port):
    agent = AgentProcess()
    try:
        with running_nginx(prefix="s5audit-nginx-") as nginx, \
                running_redis(prefix="s5audit-redis-", password=REDIS_PASSWORD) as redis:
            traffic = Traffic(nginx.port, redis.port, postgres_port)
            url = agent.url

            def each_sampled() -> bool:
                traffic.round()
                assert traffic.rounds <= MAX_ROUNDS, f"no sample of each request after {MAX_ROUNDS} rounds"
                return all(sampled_targets(url, server, operation) for server, operation, _ in SAMPLED)

            wait_until(each_sampled, 120, "a sample of each secret-bearing request", interval=1)
            rounds = traffic.rounds
            # counted exactly, so the answers below are about these requests, not about no data
            for server, want in (("host:nginx", {("http", "200"): rounds}),
                                 ("host:redis-server", {("redis", "ok"): 2 * rounds}),
                                 ("host:postgres", {("postgres", "ok"): rounds})):
                wait_until(lambda: server_counts(url, server) == want, 30, f"{want} at {server}")
            assert nginx.logged_statuses() == {"200": rounds}

            answers = everything_served(url)
            answers["agent log"] = agent.log()
            leaks = [(secret, where) for where, text in answers.items() for secret in SECRETS if secret in text]
            assert leaks == []
            for server, operation, redacted in SAMPLED:   # the samples are of the requests sent, redacted
                assert sampled_targets(url, server, operation) == {redacted}
    finally:
        agent.kill()
