"""`intuition dashboard --prometheus URL`, the real CLI as an unprivileged process, reading a real Prometheus
that scrapes a real agent: the edge the test drives shows on the map, in the services and in the edge
details, with the exact counts Prometheus holds."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests

from tests.helpers.dashboard import running_dashboard
from tests.helpers.prometheus import scalar
from tests.helpers.docker_env import wait_until
from tests.helpers.tcp_server import Server, accept_and_close

CLIENT_COMM = "intu-e2e-dash"
CLIENT = f"host:{CLIENT_COMM}"
CONNECTIONS = 40


@pytest.fixture(scope="module")
def dashboard(prometheus, tmp_path_factory):
    """The dashboard as `intuition dashboard` runs it, as user nobody: it needs no root. Yields its URL."""
    with running_dashboard(prometheus.url, tmp_path_factory.mktemp("dashboard") / "dashboard.log") as url:
        yield url


def get(url: str, **params) -> requests.Response:
    return requests.get(url, params=params, timeout=30)


def test_dashboard_shows_the_edge_from_prometheus(prometheus, dashboard):
    query = prometheus
    wait_until(lambda: scalar(query('up{job="intuition"}')) == 1.0, 60, "a successful scrape of the agent", 0.5)
    with Server(accept_and_close) as server:
        subprocess.run([sys.executable, "-m", "tests.helpers.tcp_client", CLIENT_COMM, "burst", "127.0.0.1",
                        str(server.port), str(CONNECTIONS)], check=True, capture_output=True, timeout=60)

    opened = f'intuition_tcp_connections_opened_total{{client="{CLIENT}",reporter="client"}}'
    wait_until(lambda: scalar(query(f"sum({opened})")) == CONNECTIONS, 60, f"{CONNECTIONS} connections in Prometheus",
               0.5)
    counted = time.time()  # Prometheus holds the whole count from here on
    [series] = query(opened)
    server = series["metric"]["server"]

    # the edge details: the preferred reporter's counters, exactly as Prometheus holds them now
    def details():
        response = get(f"{dashboard}/api/edges", client=CLIENT, server=server)
        assert response.status_code == 200, response.text
        body = response.json()
        return body if body["connections"]["closed_total"] == CONNECTIONS else None

    edge = wait_until(details, 60, "the edge details to count every connection closed", 0.5)
    assert edge["client"] == CLIENT and edge["server"] == server
    assert edge["connections"]["opened_total"] == CONNECTIONS
    assert edge["reporter"] in edge["reporters"] and "client" in edge["reporters"]
    assert edge["tcp_errors"]["connect_failures"] == {"refused": 0, "timeout": 0, "other": 0}
    assert edge["tcp_errors"]["resets"] == scalar(query(
        f'sum(intuition_tcp_resets_total{{client="{CLIENT}",server="{server}",reporter="{edge["reporter"]}"}})'))
    assert edge["connections"]["opened_per_second"] > 0
    assert edge["requests"] == [] and edge["samples"] == []

    # the map: the edge inside the host namespace's region, while it is within the rate window
    graph = get(f"{dashboard}/api/graph").json()
    assert graph["metadata"]["live"] is True and graph["metadata"]["window_seconds"] == 60
    region = next(n for n in graph["nodes"] if n["name"] == "host")
    assert {CLIENT, server} <= {n["name"] for n in region["nodes"]}
    assert [(c["source"], c["target"]) for c in region["connections"]].count((CLIENT, server)) == 1

    # a moment of the past read back from Prometheus's history
    past = get(f"{dashboard}/api/graph", at=counted).json()
    assert past["metadata"]["live"] is False
    past_region = next(n for n in past["nodes"] if n["name"] == "host")
    assert (CLIENT, server) in [(c["source"], c["target"]) for c in past_region["connections"]]
    assert get(f"{dashboard}/api/graph", at=1).status_code == 404  # 1970: no agent reported then

    services = {(s["name"], s["namespace"]): s for s in get(f"{dashboard}/api/services").json()["services"]}
    outgoing = services[CLIENT, "host"]["outgoing"]
    assert [(e["server"], e["active_connections"]) for e in outgoing] == [(server, 0)]
    # every service an agent reports is listed
    reported = {(s["metric"]["service"], s["metric"].get("namespace", "")) for s in query("intuition_service_info")}
    assert reported <= set(services)

    one = get(f"{dashboard}/api/services/{CLIENT}").json()
    assert one["outgoing"][0]["server"] == server


HTTP_CLIENT_COMM = "intu-e2e-http"
OK_REQUESTS, FAILING_REQUESTS = 24, 6  # over the cluster view's 60 s window: 0.5 a second, 20% failing


def test_the_cluster_views_numbers_are_the_truth_of_its_traffic(prometheus, dashboard, nginx):
    query = prometheus
    for path, count in (("/ok", OK_REQUESTS), ("/fail", FAILING_REQUESTS)):
        subprocess.run([sys.executable, "-m", "tests.helpers.tcp_client", HTTP_CLIENT_COMM, "get", "127.0.0.1",
                        str(nginx.port), path, str(count)], check=True, capture_output=True, timeout=60)
    served = f'intuition_requests_total{{client="host:{HTTP_CLIENT_COMM}",reporter="server"}}'
    wait_until(lambda: scalar(query(f"sum({served})")) == OK_REQUESTS + FAILING_REQUESTS, 30,
               "every request in Prometheus", 0.5)

    # the global view through the very rendering of the one-host path: the series are younger than the
    # window, so they count whole
    graph = get(f"{dashboard}/api/graph").json()
    host = next(n for n in graph["nodes"] if n["name"] == "host")
    edge = next(c for c in host["connections"] if c["source"] == f"host:{HTTP_CLIENT_COMM}")
    facts = edge["metadata"]["intuition"]
    assert (facts["rps"], facts["error_rate"], facts["state"]) == (0.5, 0.2, "live")
    assert facts["p99_seconds"] is not None and facts["p99_seconds"] < 1
    # the namespace's node: every request its services serve, its internal traffic included
    in_host = {n["name"] for n in host["nodes"] if n["metadata"]["namespace"] == "host"}
    served_rps = sum(c["metadata"]["intuition"]["rps"] for c in host["connections"] if c["target"] in in_host)
    assert abs(host["metadata"]["intuition"]["rps"] - served_rps) < 0.01 and served_rps >= 0.5
    internet = graph["nodes"][0]
    assert internet["name"] == "INTERNET" and internet["metadata"]["intuition"]["rps"] > served_rps - 0.01  # rounding

    # a rate needs two scrapes inside its window: on a loaded machine the newest may still be on its way
    timeline = wait_until(lambda: (t := get(f"{dashboard}/api/timeline").json())["points"] and t, 30,
                          "a point on the cluster timeline", 0.5)
    assert timeline["interval_seconds"] == 60 and timeline["events"] == []
    assert all(set(p) == {"t", "rps", "error_rate"} for p in timeline["points"]), timeline
    # the newest point is now (in Prometheus's first minute, which has no whole-minute moment of history yet,
    # the only one). rate() cannot see the requests of a series younger than its first scrape, so only the
    # traffic that went on (the agent's own scrapes among it) shows there.
    assert abs(timeline["points"][-1]["t"] - time.time()) < 30 and timeline["points"][-1]["rps"] > 0
