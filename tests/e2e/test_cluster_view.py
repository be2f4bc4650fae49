"""The cluster view across two nodes, end to end: a real Prometheus scrapes the real agent on this host and a
second endpoint that serves tests/e2e/data/node_b.prom, an exposition recorded from a real agent and edited
to stand for node B, whose `web` calls our server. The real agent learns node B's endpoints from Prometheus
and names the caller it sees only by address; `intuition dashboard --prometheus` shows the cross-node edge
named on both ends and every edge once; every query of the Grafana dashboard returns data; and
VictoriaMetrics, fed by Prometheus's remote write, gives the dashboard the same edges and counts.

Node B is emulated on this kernel: its `web` is a client in a network namespace at the address node B's
agent publishes, calling a virtual IP that DNAT turns into our server's address (as Swarm's load balancer
does), so no socket of this host pairs with the server's peer and the agent must name it from Prometheus.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import yaml

from tests.conftest import skip_or_fail
from tests.helpers.dashboard import running_dashboard
from tests.helpers.docker_env import wait_until
from tests.helpers.netns import NetNS, veth_pair
from tests.helpers.prometheus import query_server, running_prometheus, scalar
from tests.helpers.servers import free_port, wait_answering

REPO = Path(__file__).resolve().parents[2]
NODE_B = Path(__file__).parent / "data" / "node_b.prom"
GRAFANA = REPO / "deploy" / "grafana" / "intuition.json"
# Addresses only inside the test's namespaces (benchmarking ranges, RFC 2544)
WEB_B_ADDR = "198.18.7.1"  # node B's web, as node_b.prom's intuition_endpoint_info publishes it
API_ADDR, API_PORT = "198.18.7.2", 7100  # our server
VIP = "198.19.7.10"  # what node B's web calls
SERVER_COMM, CLIENT_COMM = "intu-cl-api", "intu-cl-web"
SERVER = f"host:{SERVER_COMM}"  # a process outside containers, in namespace host
CONNECTIONS = 3  # one GET each; node B's recording counts 1 connection, a 200 and a 503: the view shows ours
DNAT = f"""
table ip intu_cluster {{
    chain output {{
        type nat hook output priority -100;
        ip daddr {VIP} tcp dport 80 dnat to {API_ADDR}:{API_PORT}
    }}
}}
"""
SERVE = f"""
import sys, threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from tests.helpers.tcp_client import set_comm

class Items(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2000")
        self.end_headers()
        self.wfile.write(b"x" * 2000)

    def log_message(self, *args):
        pass

set_comm({SERVER_COMM!r})  # before the serving thread starts: it inherits the name
server = HTTPServer(({API_ADDR!r}, {API_PORT}), Items)
threading.Thread(target=server.serve_forever, daemon=True).start()
print("listening", flush=True)
sys.stdin.read()
server.shutdown()
"""
CALL = f"""
import http.client
from tests.helpers.tcp_client import set_comm
set_comm({CLIENT_COMM!r})
connection = http.client.HTTPConnection({VIP!r}, 80, timeout=30)
connection.request("GET", "/items")
assert connection.getresponse().read() == b"x" * 2000
"""


class Exposition:
    """Node B's agent: serves `text` at /metrics."""

    def __init__(self, text: str):
        self.text = text
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = outer.text.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.target = f"127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def inventory(exposition: str) -> str:
    """The exposition without its edges: node B's agent before its web called anyone."""
    return "\n".join(line for line in exposition.splitlines() if 'client="' not in line) + "\n"


@contextlib.contextmanager
def running_victoria_metrics(home: Path):
    binary = shutil.which("victoria-metrics")
    if binary is None:
        skip_or_fail("Debian's victoria-metrics is not installed (scripts/setup.sh --test installs it)")
    port = free_port()
    # latencyOffset 0: answer with samples as soon as they are written (the default hides the last 30 s)
    with query_server([binary, f"-storageDataPath={home / 'vm'}", f"-httpListenAddr=127.0.0.1:{port}",
                       "-search.latencyOffset=0s", "-loggerLevel=ERROR"],
                      f"http://127.0.0.1:{port}", "/health", home / "vm.log", "VictoriaMetrics") as query:
        yield query


@contextlib.contextmanager
def agent_process(home: Path, prometheus_url: str):
    """`intuition agent` with cluster.prometheus set, as a user runs it; yields (its URL, its log)."""
    port = free_port()
    config = home / "intuition.yaml"
    config.write_text(yaml.safe_dump({"listen": f"127.0.0.1:{port}",
                                      "cluster": {"prometheus": prometheus_url, "refresh_seconds": 1}}))
    log = home / "agent.log"
    process = subprocess.Popen([sys.executable, "-m", "tracer", "agent", "--config", str(config)], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=open(log, "wb"))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_answering(f"{url}/healthz", process, log, 300, "a healthy agent")
        yield url, log
    finally:
        process.terminate()
        assert process.wait(60) == 0, log.read_text()


@contextlib.contextmanager
def node_b_web_calling_our_server():
    """Namespaces: B holds node B's web at its published address, A our server; B's calls to the VIP are
    DNATed to the server. Yields a function that makes one call from web: an HTTP GET on a connection of its own."""
    node_b, node_a = NetNS("intu-clb"), NetNS("intu-cla")
    server = None
    try:
        dev_b, _ = veth_pair(node_b, node_a, WEB_B_ADDR, API_ADDR)
        node_b.run("ip", "route", "add", "default", "dev", dev_b)
        node_b.nft(DNAT)
        server = subprocess.Popen(node_a.argv(sys.executable, "-c", SERVE), cwd=REPO, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "listening", server.stderr.read()

        def call():
            subprocess.run(node_b.argv(sys.executable, "-c", CALL), cwd=REPO, check=True, capture_output=True, timeout=60)

        yield call
        _, err = server.communicate(timeout=30)  # closes its stdin: the server stops
        assert server.returncode == 0, err
    finally:
        if server is not None and server.poll() is None:
            server.kill()
            server.wait()
        node_b.delete()
        node_a.delete()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Everything running, node B's inventory scraped and learned, the calls made and node B's traffic
    scraped. Yields (Prometheus's query, VictoriaMetrics's query, the agent's URL)."""
    if os.geteuid() != 0:
        skip_or_fail("the agent needs root to load its probes")
    home = tmp_path_factory.mktemp("cluster")
    recorded = NODE_B.read_text()
    node_b = Exposition(inventory(recorded))
    prometheus_port = free_port()
    with contextlib.ExitStack() as stack:
        stack.callback(node_b.close)
        vm = stack.enter_context(running_victoria_metrics(home))
        agent_url, agent_log = stack.enter_context(agent_process(home, f"http://127.0.0.1:{prometheus_port}"))
        config = (f"scrape_configs:\n  - job_name: intuition\n    static_configs: [{{targets: "
                  f"['{agent_url.removeprefix('http://')}', '{node_b.target}']}}]\n"
                  f"remote_write: [{{url: '{vm.url}/api/v1/write', queue_config: {{batch_send_deadline: 1s}}}}]\n")
        prometheus = stack.enter_context(running_prometheus(home, config, prometheus_port))
        wait_until(lambda: scalar(prometheus('sum(up{job="intuition"})')) == 2, 60, "both nodes scraped", 0.5)
        # node B publishes two addresses: the agent names them once it has read them from Prometheus
        wait_until(lambda: "other nodes' agents name 2 addresses" in agent_log.read_text(), 60,
                   "the agent to learn node B's endpoints", 0.5)

        call = stack.enter_context(node_b_web_calling_our_server())
        edge = f'client="web",server="{SERVER}",reporter="server"'
        # the closed connections, once as many requests are counted (their latency with them)
        served = (f"sum(intuition_tcp_connections_closed_total{{{edge}}}) and "
                  f"sum(intuition_requests_total{{{edge}}}) == sum(intuition_tcp_connections_closed_total{{{edge}}})")
        # one call, scraped, then the others: a series is born with its first count, so only what comes
        # after its first scrape makes a rate (which the Grafana dashboard shows)
        calls = 0
        for total in (1, CONNECTIONS):
            while calls < total:
                call()
                calls += 1
            wait_until(lambda: scalar(prometheus(served)) == total, 60,
                       f"our agent's {total} connections and requests from node B's web in Prometheus", 0.5)
        node_b.text = recorded  # node B's agent has counted its web's calls too
        wait_until(lambda: scalar(prometheus('count(intuition_tcp_connections_opened_total{client="web",'
                                             'reporter="client"})')) == 2, 60, "node B's edges in Prometheus", 0.5)
        yield prometheus, vm, agent_url


def get(url: str, **params) -> dict:
    response = requests.get(url, params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def outgoing(dashboard: str, service: str, namespace: str) -> list[tuple[str, str, str]]:
    """(server, server_namespace, reporter) of each edge from the service, as the dashboard lists them."""
    found = get(f"{dashboard}/api/services/{service}", namespace=namespace)
    return sorted((e["server"], e["server_namespace"], e["reporter"]) for e in found["outgoing"])


def test_the_cross_node_edge_is_named_on_both_ends_and_every_edge_shows_once(cluster, tmp_path):
    prometheus, _, agent_url = cluster
    # our agent names node B's web from the endpoint node B's agent published
    mine = requests.get(f"{agent_url}/metrics", timeout=10).text
    assert re.search(rf'intuition_tcp_connections_opened_total{{client="web",client_namespace="shop",'
                     rf'reporter="server",server="{SERVER}",server_namespace="host"}} {CONNECTIONS}\.0', mine)
    assert re.search(rf'intuition_requests_total{{client="web",client_namespace="shop",protocol="http",'
                     rf'reporter="server",server="{SERVER}",server_namespace="host",status="200"}} {CONNECTIONS}\.0',
                     mine)
    with running_dashboard(prometheus.url, tmp_path / "dashboard.log") as dashboard:
        # the cross-node edge: both nodes report it, the view shows it once with the server's counts
        edge = get(f"{dashboard}/api/edges", client="web", server=SERVER)
        assert (edge["client_namespace"], edge["server_namespace"]) == ("shop", "host")
        assert edge["reporter"] == "server" and sorted(edge["reporters"]) == ["client", "server"]
        assert edge["connections"]["opened_total"] == edge["connections"]["closed_total"] == CONNECTIONS
        assert [(r["protocol"], r["status"], r["total"]) for r in edge["requests"]] == [("http", "200", CONNECTIONS)]
        # node B's web: its local edge and its call to us, each once
        assert outgoing(dashboard, "web", "shop") == [("catalog", "shop", "server"), (SERVER, "host", "server")]
        # on this node, B's web is a caller of our server, and our own client sees only a VIP nobody publishes
        incoming = get(f"{dashboard}/api/services/{SERVER}")["incoming"]
        assert [(e["client"], e["client_namespace"]) for e in incoming] == [("web", "shop")]
        assert outgoing(dashboard, f"host:{CLIENT_COMM}", "host") == [("INTERNET", "", "client")]
        # the map: node B's local edge once inside its namespace, and the cross-namespace edge once
        graph = get(f"{dashboard}/api/graph")
        shop = next(n for n in graph["nodes"] if n["name"] == "shop")
        assert [(c["source"], c["target"]) for c in shop["connections"]].count(("web", "catalog")) == 1
        assert [(c["source"], c["target"]) for c in graph["connections"]].count(("shop", "host")) == 1


def grafana_queries() -> list[str]:
    """Every PromQL expression of the Grafana dashboard, its variables set to what the test's data holds
    (a label_values() variable query checked as its series selector)."""
    dashboard = json.loads(GRAFANA.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            selector = re.fullmatch(r"label_values\((.*), \w+\)", variable["query"]["query"])
            exprs.append(selector.group(1))
    # node B's services, and ours that its web calls; Grafana makes $__rate_interval at least four scrapes
    values = {"$namespace": "shop|host", "$service": f"web|catalog|{SERVER}", "$__rate_interval": "5m"}
    return [re.sub(r"\$[A-Za-z_]\w*", lambda m: values[m.group(0)], expr) for expr in exprs]


def test_every_grafana_query_returns_data(cluster):
    prometheus, _, _ = cluster
    queries = grafana_queries()
    assert len(queries) == 17

    def empty():
        """The queries without a number in their answer (a ratio or quantile of no traffic is NaN)."""
        return [q for q in queries if not any(s["value"][1] != "NaN" for s in prometheus(q))]

    # a rate needs two scrapes of node B's edges; a query still empty after that is a broken query
    with contextlib.suppress(AssertionError):  # the assertion below names the queries without data
        wait_until(lambda: not empty(), 30, "data for every query", 1)
    assert empty() == []


def test_victoria_metrics_gives_the_same_edges_and_counts(cluster, tmp_path):
    prometheus, vm, _ = cluster
    pairs = [("web", "shop", SERVER, "host"), ("web", "shop", "catalog", "shop"),
             (f"host:{CLIENT_COMM}", "host", "INTERNET", "")]
    with running_dashboard(prometheus.url, tmp_path / "prometheus.log") as from_prometheus, \
            running_dashboard(vm.url, tmp_path / "vm.log") as from_vm:
        def details(dashboard, pair):
            client, client_namespace, server, server_namespace = pair
            edge = get(f"{dashboard}/api/edges", client=client, client_namespace=client_namespace, server=server,
                       server_namespace=server_namespace)
            # the totals: rates depend on how each engine extrapolates increase() over the window
            return (edge["reporter"], edge["reporters"], edge["connections"]["opened_total"],
                    edge["connections"]["closed_total"], edge["bytes"]["to_server_total"],
                    edge["bytes"]["to_client_total"], edge["tcp_errors"],
                    [(r["protocol"], r["status"], r["total"]) for r in edge["requests"]], edge["latency_ms_total"])

        expected = {pair: details(from_prometheus, pair) for pair in pairs}
        # remote write delivers within seconds
        wait_until(lambda: {pair: details(from_vm, pair) for pair in pairs} == expected, 60,
                   "VictoriaMetrics to hold what Prometheus holds", 0.5)
        at = time.time()
        for service, namespace in (("web", "shop"), (f"host:{CLIENT_COMM}", "host")):
            assert outgoing(from_vm, service, namespace) == outgoing(from_prometheus, service, namespace)
        past = [get(f"{d}/api/graph", at=at) for d in (from_prometheus, from_vm)]
        ours = [sorted((c["source"], c["target"]) for c in g["connections"] if "host" in (c["source"], c["target"]))
                for g in past]
        assert ours[0] == ours[1] and ("shop", "host") in ours[0]
