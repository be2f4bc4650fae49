"""Peers on other nodes named from the intuition_endpoint_info their own agents publish, read from Prometheus."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.unit.identity_samples import record
from tests.unit.test_identity_peers import flow, host, host_addresses, names
from tracer.identity.model import HOST, INTERNET, Endpoint
from tracer.identity.naming import host_endpoint
from tracer.identity.peers import LocalEnd, PeerResolver
from tracer.identity.registry import ContainerRegistry
from tracer.identity.remote import RemoteEndpoints, endpoints_by_address
from tracer.capture.records import CLIENT, SERVER

WEB_B = {"ip": "10.0.1.7", "service": "web", "namespace": "shop", "node": "node-b"}
API = record(1, "shop-api-1", labels={"com.docker.compose.project": "shop", "com.docker.compose.service": "api"},
             networks={"shop": "10.0.1.5"})


def test_other_nodes_endpoints_by_address():
    published = [WEB_B,
                 {"ip": "10.0.1.5", "service": "api", "namespace": "shop", "node": "node-a"},  # this node's own
                 {"ip": "172.17.0.2", "service": "db", "namespace": "x", "node": "node-b"},  # two nodes' bridges
                 {"ip": "172.17.0.2", "service": "cache", "namespace": "y", "node": "node-c"},
                 {"ip": "::ffff:10.0.1.8", "service": "worker", "namespace": "shop", "node": "node-c"},
                 {"ip": "not-an-address", "service": "odd", "namespace": "shop", "node": "node-c"}]
    assert endpoints_by_address(published, "node-a") == {"10.0.1.7": Endpoint("web", "shop"),
                                                         "10.0.1.8": Endpoint("worker", "shop")}


@pytest.fixture
def resolver(tmp_path):
    registry = ContainerRegistry()
    registry.upsert(API)
    addresses = host_addresses(tmp_path, registry)
    remote = {"10.0.1.7": Endpoint("web", "shop"), "192.0.2.2": Endpoint("ghost", "x")}
    return PeerResolver(registry, addresses, remote=remote.get)


def api():
    return LocalEnd(API.endpoint, API, host_netns=False, is_proxy=False)


def test_a_peer_only_another_node_knows_is_named_by_it(resolver):
    assert names(resolver, (flow(SERVER, "10.0.1.5", "10.0.1.7", 80), api())) == [Endpoint("web", "shop")]
    assert resolver.by_address("10.0.1.7", api()) == Endpoint("web", "shop")
    assert names(resolver, (flow(CLIENT, "10.0.1.5", "203.0.113.9", 443), api())) == [INTERNET]


def test_what_this_host_knows_comes_first(resolver):
    # a local container's address, and an address of this host, are never another node's
    assert names(resolver, (flow(CLIENT, "172.17.0.1", "10.0.1.5", 80), host("curl"))) == [API.endpoint]
    assert names(resolver, (flow(SERVER, "10.0.1.5", "192.0.2.2", 80), api())) == [HOST]
    # a socket of this host at the address names it
    got = names(resolver, (flow(SERVER, "10.0.1.5", "10.0.1.7", 80), api()),
                (flow(CLIENT, "10.0.1.7", "10.0.1.5", 80), host("probe")))
    assert got == [host_endpoint("probe"), API.endpoint]


class Prometheus:
    """A stand-in for Prometheus's query API: answers the endpoint query with `samples`, or fails."""

    def __init__(self):
        self.samples, self.status, self.queries = [], 200, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.queries.append(self.path)
                body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
                    {"metric": {"__name__": "intuition_endpoint_info", **labels}, "value": [0, "1"]}
                    for labels in outer.samples]}}).encode()
                self.send_response(outer.status)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_refresh_reads_prometheus_and_keeps_the_last_table_when_it_fails():
    prometheus = Prometheus()
    try:
        remote = RemoteEndpoints(prometheus.url, "node-a")
        prometheus.samples = [WEB_B]
        remote.refresh()
        assert prometheus.queries == ["/api/v1/query?query=intuition_endpoint_info"]
        assert remote.get("10.0.1.7") == Endpoint("web", "shop")
        prometheus.status, prometheus.samples = 503, []
        remote.refresh()
        assert remote.get("10.0.1.7") == Endpoint("web", "shop")
        prometheus.status = 200
        remote.refresh()
        assert remote.get("10.0.1.7") is None
    finally:
        prometheus.server.shutdown()
        prometheus.server.server_close()
