"""Sample flood (issue 11): more request samples than the ring buffer holds between two drains. The samples that
find no room are counted in intuition_events_lost_total{source="ringbuf"}, the request counts stay exact (they are
counted in the kernel, not sent), and the edge is marked incomplete in the API while the loss is in its window."""
from __future__ import annotations

import pytest
import requests

from tests.helpers.agent import running_agent
from tests.helpers.agent_metrics import scrape
from tests.helpers.docker_env import wait_until
from tests.helpers.http_status_server import answer_statuses
from tests.helpers.tcp_client import http_client
from tests.helpers.tcp_server import Server

pytestmark = pytest.mark.kernel
CLIENT_COMM = "faults-flood"
CLIENT = f"host:{CLIENT_COMM}"
REQUESTS = 2000
# one page (4 KiB) holds six samples of 256-byte windows; a sample for every request (errors may use the whole
# budget, probes/l7.c), so a burst of REQUESTS between two drains overflows it many times over
CONFIG = {"capture": {"ring_buffer_pages": 1, "samples_per_second": 10_000}}
RINGBUF_LOST = ("intuition_events_lost_total", frozenset({("source", "ringbuf")}))


def requests_counted(url: str) -> float:
    return sum(value for (name, labels), value in scrape(url).items()
               if name == "intuition_requests_total" and ("client", CLIENT) in labels and ("reporter", "server") in labels
               and ("status", "500") in labels)


def flood_edge(url: str) -> dict | None:
    """The connection from the client on the map (the host region), or None before it is there."""
    graph = requests.get(f"{url}/api/graph", timeout=10).json()
    for region in graph["nodes"]:
        for connection in region.get("connections", []):
            if connection["source"] == CLIENT:
                return connection
    return None


def test_samples_beyond_the_ring_buffer_are_counted_and_the_edge_is_incomplete():
    with running_agent(CONFIG) as url, Server(answer_statuses) as server:
        with http_client(CLIENT_COMM, server.port, ["500"] * REQUESTS) as send:
            lost_before = scrape(url).get(RINGBUF_LOST, 0)
            send()
        wait_until(lambda: requests_counted(url) == REQUESTS, 30, f"{REQUESTS} requests counted, exactly")
        lost = scrape(url).get(RINGBUF_LOST, 0) - lost_before
        assert lost >= REQUESTS // 2, f"only {lost} ring buffer losses for {REQUESTS} samples"

        edge = wait_until(lambda: flood_edge(url), 30, "the flooded edge on the map")
        facts = edge["metadata"]["intuition"]
        assert facts["incomplete"] is True, facts
        assert "lost in the window: the kernel's ring buffer was full" in facts["incomplete_reason"]
        details = requests.get(f"{url}/api/edges", params={"client": CLIENT, "server": edge["target"]}, timeout=10).json()
        assert details["incomplete"] is True and details["incomplete_reason"] == facts["incomplete_reason"]
        assert details["requests"] == [{"protocol": "http", "status": "500", "class": "danger",
                                        "per_second": details["requests"][0]["per_second"], "total": REQUESTS}]
