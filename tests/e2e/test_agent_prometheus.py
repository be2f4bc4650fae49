"""The agent scraped by a real Prometheus server (Debian's `prometheus`) on loopback: PromQL through its HTTP
API sees the edge the test drives, with its exact count and its rate."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests

from tests.helpers.docker_env import wait_until
from tests.helpers.prometheus import scalar
from tests.helpers.tcp_server import Server, accept_and_close

CLIENT_COMM = "intu-e2e-prom"
ROUNDS, PER_ROUND = 30, 10  # seconds, connections per second
EDGE = f'client="host:{CLIENT_COMM}",client_namespace="host",reporter="client"'


def agent_lines(agent_url: str) -> str:
    """The agent's own series for this edge and its loss counters: what a failed wait is judged against."""
    text = requests.get(f"{agent_url}/metrics", timeout=10).text
    return "\n".join(line for line in text.splitlines() if CLIENT_COMM in line or "_lost_total{" in line)


def test_prometheus_scrapes_the_agent_and_sees_the_edge_rate(prometheus, agent_url):
    query = prometheus
    wait_until(lambda: scalar(query('up{job="intuition"}')) == 1.0, 60, "a successful scrape of the agent", 0.5)

    with Server(accept_and_close) as server:
        # one process paces the connections by its own clock: a known 10 connections/s for 30 s
        subprocess.run([sys.executable, "-m", "tests.helpers.tcp_client", CLIENT_COMM, "paced", "127.0.0.1",
                        str(server.port), str(PER_ROUND), str(ROUNDS)], check=True, capture_output=True, timeout=120)
        finished = time.time()

    def wait_for_all(family: str) -> None:
        total = f"sum({family}{{{EDGE}}})"
        try:
            wait_until(lambda: scalar(query(total)) == ROUNDS * PER_ROUND, 60, f"{ROUNDS * PER_ROUND} in {total}", 0.5)
        except AssertionError as e:
            series = query(f'{family}{{client="host:{CLIENT_COMM}"}}')
            scrapes = query('scrape_duration_seconds{job="intuition"}[2m]') + query('up{job="intuition"}[2m]')
            raise AssertionError(f"{e}\nPrometheus: {series}\nscrapes: {scrapes}\nagent:\n{agent_lines(agent_url)}") \
                from None

    wait_for_all("intuition_tcp_connections_opened_total")
    # a 20 s window that ends before the last second lies wholly in the 30 s of steady traffic. rate() divides
    # what the counter grew between the window's first and last scrape (2 s apart) by their distance: a late
    # drain, or the client's burst as it catches up after a stall on a loaded machine, moves that by 10 or
    # more connections, 6% over the 18 s here; over a 10 s window it was 12% and more, of the 30% allowed
    rate = scalar(query(f"sum(rate(intuition_tcp_connections_opened_total{{{EDGE}}}[20s]))", at=finished - 2))
    assert rate == pytest.approx(PER_ROUND, rel=0.3)
    wait_for_all("intuition_tcp_connections_closed_total")
