"""Peers on other nodes, named by the agents that own them.

Every agent publishes `intuition_endpoint_info{ip, service, namespace, node}` for its containers' addresses.
A flow from another node's container arrives here carrying only that container's address, which no local
fact names (counters carry no addresses, so Prometheus cannot name it later). With `cluster.prometheus` set,
the agent reads every other node's endpoint_info from the Prometheus that scrapes them all, and names such a
peer by it. An address that two nodes publish for different services (every node's default bridge reuses
172.17.0.0/16) names nothing: it stays INTERNET rather than being guessed.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from typing import Optional

import requests

from .addresses import normalize
from .model import Endpoint

log = logging.getLogger(__name__)

QUERY = "intuition_endpoint_info"
TIMEOUT_SECONDS = 5


class RemoteEndpoints:
    """Addresses of other nodes' containers, refreshed from Prometheus by identity's background thread."""

    def __init__(self, prometheus_url: str, node: str):
        self._url = prometheus_url.rstrip("/") + "/api/v1/query"
        self._node = node
        self._by_address: dict[str, Endpoint] = {}  # replaced whole, so readers never see half an update

    def get(self, addr: str) -> Optional[Endpoint]:
        return self._by_address.get(addr)

    def refresh(self) -> None:
        """Reread the table; on failure keep the last one (names stay as they were) and say why."""
        try:
            response = requests.get(self._url, params={"query": QUERY}, timeout=TIMEOUT_SECONDS)
            response.raise_for_status()
            samples = response.json()["data"]["result"]
        except (requests.RequestException, ValueError, KeyError) as e:
            log.warning("cannot read other nodes' endpoints from %s: %s", self._url, e)
            return
        table = endpoints_by_address([s["metric"] for s in samples], self._node)
        if table != self._by_address:
            log.info("other nodes' agents name %d addresses (from %s)", len(table), self._url)
        self._by_address = table


def endpoints_by_address(published: list[dict[str, str]], this_node: str) -> dict[str, Endpoint]:
    """address -> endpoint from the label sets of intuition_endpoint_info, leaving out this node's own and
    addresses claimed by more than one endpoint."""
    claims: dict[str, set[Endpoint]] = defaultdict(set)
    for labels in published:
        if labels.get("node") == this_node or not labels.get("service"):
            continue
        try:
            addr = normalize(labels.get("ip", ""))
        except ValueError:  # not an address: nothing to name
            continue
        claims[addr].add(Endpoint(labels["service"], labels.get("namespace", "")))
    return {addr: next(iter(owners)) for addr, owners in claims.items() if len(owners) == 1}
