"""Outside peers named by the DNS names containers resolved, end to end: a DNS server in a container answers
names with TEST-NET addresses (RFC 5737) that no container has; DNAT in the client container's own network
namespace sends 203.0.113.0/24:80 to an HTTP server container, so the client's sockets really talk to those
addresses. The client resolves through Docker's embedded DNS (its --dns is the test's server) and calls them.
Each test runs its own agent with `external_names: 10`, so that the names one test made do not take another's
places."""
from __future__ import annotations

import os
import subprocess
from typing import NamedTuple

import dns
import pytest
import requests

from tests.helpers.agent import running_agent
from tests.helpers.agent_metrics import scrape
from tests.helpers.docker_env import Container, DockerEnv, wait_until

pytestmark = [pytest.mark.kernel, pytest.mark.docker]

HELPERS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "helpers")
DNS_LIBRARY = os.path.dirname(dns.__file__)  # dnspython, pure Python: the container's python3 imports it
API_REQUESTS = 12
MANY = [f"name-{i:02}.example.com" for i in range(50)]  # names of equal length: equal bytes per request
ZONE = {"api.example.com": "edge.example.net", "edge.example.net": "203.0.113.10",
        **{name: f"203.0.113.{100 + i}" for i, name in enumerate(MANY)}}
CLIENT = """
import http.client, sys
count = int(sys.argv[1])
for name in sys.argv[2:]:
    for _ in range(count):
        connection = http.client.HTTPConnection(name, 80, timeout=30)
        connection.request("GET", "/")
        response = connection.getresponse()
        response.read()
        assert response.status == 200, (name, response.status)
        connection.close()
print("done")
"""
DNAT = """
table ip dns_e2e {{
    chain output {{
        type nat hook output priority -100;
        ip daddr 203.0.113.0/24 tcp dport 80 dnat to {web}:80
    }}
}}
"""


class World(NamedTuple):
    env: DockerEnv
    client: Container

    def call(self, count: int, *names: str) -> None:
        """`count` HTTP requests to each name from the client container, each resolving the name anew."""
        out = self.env.exec(self.client.id, "python3", "-c", CLIENT, str(count), *names)
        assert out.strip() == "done", out


@pytest.fixture(scope="module")
def world():
    env = DockerEnv()
    try:
        network = env.network("dns-net")
        server = env.run("dns-server", "python3", "/opt/dns-server/dns_server.py", "0.0.0.0", "53",
                         *[f"{name}={target}" for name, target in ZONE.items()], network=network,
                         binds=(f"{DNS_LIBRARY}:/opt/dns-server/dns:ro",
                                f"{HELPERS}/dns_server.py:/opt/dns-server/dns_server.py:ro"))
        wait_until(lambda: b"listening" in env.api.logs(server.id), 60, "the DNS server to listen", 0.2)
        web = env.run("dns-web", "python3", "-m", "http.server", "80", "--directory", "/tmp", compose=("dns", "web"),
                      network=network)
        env.wait_listening(web, 80)
        client = env.run("dns-client", "sleep", "900", compose=("dns", "client"), network=network, dns=(server.ip,))
        subprocess.run(["nsenter", f"--net=/proc/{client.pid}/ns/net", "nft", "-f", "-"], check=True,
                       input=DNAT.format(web=web.ip), capture_output=True, text=True)
        yield World(env, client)
    finally:
        env.close()


def edge(url: str, server: str) -> dict | None:
    response = requests.get(f"{url}/api/edges", params={"client": "client", "server": server}, timeout=10)
    return response.json() if response.status_code == 200 else None


def requests_total(found: dict | None) -> int:
    return sum(row["total"] for row in found["requests"]) if found else 0


def external_region(url: str) -> dict:
    graph = requests.get(f"{url}/api/graph", timeout=10).json()
    return next((n for n in graph["nodes"] if n["name"] == "external"), {"nodes": []})


def test_a_resolved_outside_address_is_its_dns_name_with_exact_requests(world):
    with running_agent({"external_names": 10}) as url:
        world.call(API_REQUESTS, "api.example.com")
        found = wait_until(lambda: (lambda e: e if requests_total(e) == API_REQUESTS else None)(edge(url, "api.example.com")),
                           30, f"{API_REQUESTS} requests on client -> api.example.com", 0.5)
        assert (found["client_namespace"], found["server_namespace"]) == ("dns", "external")
        assert [(r["protocol"], r["status"], r["total"]) for r in found["requests"]] == [("http", "200", API_REQUESTS)]
        assert found["connections"]["opened_total"] == API_REQUESTS
        assert edge(url, "INTERNET") is None  # the asked name, not the CDN's edge name nor INTERNET
        assert edge(url, "edge.example.net") is None
        services = {(s["name"], s["namespace"]) for s in requests.get(f"{url}/api/services", timeout=10).json()["services"]}
        assert ("api.example.com", "external") in services
        assert "api.example.com" in {n["name"] for n in external_region(url)["nodes"]}
        metric = ("intuition_requests_total", frozenset({
            "client": "client", "client_namespace": "dns", "server": "api.example.com", "server_namespace": "external",
            "protocol": "http", "status": "200", "reporter": "client"}.items()))
        assert scrape(url)[metric] == API_REQUESTS
        assert scrape(url)[("intuition_parse_errors_total", frozenset({"protocol": "dns"}.items()))] == 0


def test_fifty_names_with_a_cap_of_ten_keep_ten_and_fold_the_rest_into_internet(world):
    with running_agent({"external_names": 10}) as url:
        world.call(1, *MANY)
        wait_until(lambda: sum(requests_total(edge(url, name)) for name in MANY) + requests_total(edge(url, "INTERNET"))
                   == len(MANY), 30, f"{len(MANY)} requests from the client, named or INTERNET", 0.5)
        kept = [name for name in MANY if edge(url, name)]
        assert len(kept) == 10, kept
        assert all(requests_total(edge(url, name)) == 1 for name in kept)
        assert requests_total(edge(url, "INTERNET")) == len(MANY) - 10
        region = external_region(url)
        assert sorted(n["name"] for n in region["nodes"] if n["metadata"]["namespace"] == "external") == kept
