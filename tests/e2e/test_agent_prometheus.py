"""The agent scraped by a real Prometheus server (Debian's `prometheus`) on loopback: PromQL through its HTTP
API sees the edge the test drives, with its exact count and its rate."""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time

import pytest
import requests

from tests.conftest import skip_or_fail
from tests.helpers.docker_env import wait_until
from tests.helpers.tcp_server import Server

CLIENT_COMM = "intu-e2e-prom"
ROUNDS, PER_ROUND = 30, 10  # seconds, connections per second
EDGE = f'client="host:{CLIENT_COMM}",client_namespace="default",reporter="client"'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def prometheus(agent_url, tmp_path_factory):
    """Prometheus on loopback, scraping the agent every 2 s (a scrape may take a second on a busy 2-core host);
    yields its query function."""
    binary = shutil.which("prometheus")
    if binary is None:
        skip_or_fail("Debian's prometheus is not installed (scripts/setup.sh --test installs it)")
    home = tmp_path_factory.mktemp("prometheus")
    target = agent_url.removeprefix("http://")
    (home / "prometheus.yml").write_text(
        "global: {scrape_interval: 2s, scrape_timeout: 2s, evaluation_interval: 2s}\n"
        "scrape_configs:\n"
        f"  - job_name: intuition\n    static_configs: [{{targets: ['{target}']}}]\n"
    )
    port = free_port()
    process = subprocess.Popen(
        [binary, f"--config.file={home / 'prometheus.yml'}", f"--storage.tsdb.path={home / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=open(home / "prometheus.log", "wb"),
    )
    api = f"http://127.0.0.1:{port}/api/v1/query"

    def query(promql: str, at: float | None = None) -> list:
        params = {"query": promql} if at is None else {"query": promql, "time": at}
        body = requests.get(api, params=params, timeout=10).json()
        assert body["status"] == "success", body
        return body["data"]["result"]

    def ready():
        try:
            return requests.get(f"http://127.0.0.1:{port}/-/ready", timeout=2).status_code == 200
        except requests.ConnectionError:
            assert process.poll() is None, (home / "prometheus.log").read_text()
            return False

    query.url = f"http://127.0.0.1:{port}"  # for tests that point a dashboard at this Prometheus
    try:
        wait_until(ready, 60, "Prometheus to be ready", 0.5)
        yield query
    finally:
        process.terminate()
        process.wait(30)


def scalar(result: list) -> float | None:
    return float(result[0]["value"][1]) if result else None


def test_prometheus_scrapes_the_agent_and_sees_the_edge_rate(prometheus):
    query = prometheus
    wait_until(lambda: scalar(query('up{job="intuition"}')) == 1.0, 60, "a successful scrape of the agent", 0.5)

    def accept_and_close(conn):
        pass

    with Server(accept_and_close) as server:
        # one process paces the connections by its own clock: a known 10 connections/s for 30 s
        subprocess.run([sys.executable, "-m", "tests.helpers.tcp_client", CLIENT_COMM, "paced", "127.0.0.1",
                        str(server.port), str(PER_ROUND), str(ROUNDS)], check=True, capture_output=True, timeout=120)
        finished = time.time()

    total = f"sum(intuition_tcp_connections_opened_total{{{EDGE}}})"
    wait_until(lambda: scalar(query(total)) == ROUNDS * PER_ROUND, 60, f"{ROUNDS * PER_ROUND} connections in Prometheus",
               0.5)
    # a 10 s window that ends before the last second lies wholly in the steady traffic; rate() extrapolates
    # from the scrapes inside it, so allow for where the bursts land between them
    rate = scalar(query(f"sum(rate(intuition_tcp_connections_opened_total{{{EDGE}}}[10s]))", at=finished - 2))
    assert rate == pytest.approx(PER_ROUND, rel=0.3)
    closed = scalar(query(f"sum(intuition_tcp_connections_closed_total{{{EDGE}}})"))
    assert closed == ROUNDS * PER_ROUND
