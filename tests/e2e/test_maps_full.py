"""Kernel maps full (issue 11): an agent whose maps hold a few entries, under many more flows, sockets or
request statuses than fit, keeps serving and counts the overflow in intuition_events_lost_total (source
"flows_map_full", "sockets_map_full", "requests_map_full"), and the connection that got its entries keeps exact
counts, its close included."""
from __future__ import annotations

import contextlib
import socket
import subprocess
import sys

import pytest
import requests

from tests.helpers.agent import running_agent
from tests.helpers.agent_metrics import scrape
from tests.helpers.docker_env import wait_equal, wait_until
from tests.helpers.http_status_server import answer_statuses, http_status_request
from tests.helpers.tcp_client import http_client
from tests.helpers.tcp_server import Server
from tracer.capture.loader import socket_slot_bits

pytestmark = pytest.mark.kernel
CLIENT_COMM = "intu-mapfull"
# small enough to overflow with a hundred connections, large enough that other traffic on a shared test
# machine (the agent's own /healthz and /metrics, other processes) rarely takes every slot first
MAX_FLOWS = 64
FLOOD_PORTS = 100  # each a distinct client flow: the server port is part of the flow key (probes/common.h)
ROUND_BYTES = 1000
# sockets: a held connection takes two entries on this host, its client's and its server's; room for MAX_SOCKETS
# in overflow slots and at most SOCKET_SLOTS more in direct slots (probes/common.h)
MAX_SOCKETS = 64
SOCKET_SLOTS = 1 << socket_slot_bits(MAX_SOCKETS)
HELD_CONNECTIONS = 100
# requests: the map is sized by capture.max_flows too (probes/l7.c), one entry per flow, protocol and status,
# so one connection with more statuses than that fills it and keeps its own flow entries (one per end); each
# status here has a body (no 1xx, 204, 304); a connection with both ends on this host is parsed once, at the
# server's end (docs/architecture.md)
REQUESTS_MAX_FLOWS = 128
STATUSES = [str(status) for status in range(400, 600)]


def lost(source: str) -> tuple[str, frozenset]:
    return "intuition_events_lost_total", frozenset({("source", source)})


LOST = lost("flows_map_full")


def echo(conn: socket.socket) -> None:
    """Handler: send back every byte received until the client closes."""
    while chunk := conn.recv(65536):
        conn.sendall(chunk)


def edge_value(url: str, name: str) -> float:
    return sum(value for (sample, labels), value in scrape(url).items()
               if sample == name and ("client", f"host:{CLIENT_COMM}") in labels and ("reporter", "client") in labels)


def flood(ports: int) -> None:
    """One connection to each of `ports` listeners that are never accepted: the kernel completes the handshake
    into the backlog, so every connect succeeds, and each one is a flow of its own."""
    with contextlib.ExitStack() as stack:
        listeners = []
        for _ in range(ports):
            listener = stack.enter_context(socket.socket())
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            listeners.append(listener)
        for listener in listeners:
            socket.create_connection(listener.getsockname(), timeout=10).close()


@contextlib.contextmanager
def round_trip_client(port: int):
    """A client process (comm CLIENT_COMM) with one connection to port; the context is its round trip."""
    client = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.tcp_client", CLIENT_COMM, "on-stdin", "127.0.0.1", str(port),
         str(ROUND_BYTES)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdout.readline().strip() == "connected"

        def round_trip() -> None:
            client.stdin.write("go\n")
            client.stdin.flush()
            assert client.stdout.readline().strip() == "done"

        yield round_trip
    finally:
        client.stdin.close()   # the client closes its connection and exits
        assert client.wait(30) == 0


def test_full_flows_map_is_counted_and_the_flows_that_fit_stay_exact():
    with running_agent({"capture": {"max_flows": MAX_FLOWS}}) as url, Server(echo) as server:
        with round_trip_client(server.port) as round_trip:
            round_trip()  # the edge takes its entry before the map fills
            wait_until(lambda: edge_value(url, "intuition_tcp_sent_bytes_total") == ROUND_BYTES, 30,
                       f"{ROUND_BYTES} bytes on the edge before the flood")
            lost_before = scrape(url).get(LOST, 0)

            flood(FLOOD_PORTS)
            # at most MAX_FLOWS of the flood's client flows found room, every other one failed at least once
            wait_until(lambda: scrape(url).get(LOST, 0) - lost_before >= FLOOD_PORTS - MAX_FLOWS, 30,
                       f"at least {FLOOD_PORTS - MAX_FLOWS} flows_map_full losses")
            assert requests.get(f"{url}/healthz", timeout=10).status_code == 200

            round_trip()
            round_trip()
            expected = 3 * ROUND_BYTES
            # together: a drain between the last round's send and its echo shows the one done, the other not yet
            counters = {"intuition_tcp_sent_bytes_total": expected, "intuition_tcp_received_bytes_total": expected,
                        "intuition_tcp_connections_opened_total": 1}
            wait_equal(lambda: {name: edge_value(url, name) for name in counters}, counters, 30,
                       f"{expected} bytes each way on the edge after the flood, on its one connection")
            assert requests.get(f"{url}/healthz", timeout=10).status_code == 200


def hold_connections(count: int) -> None:
    """`count` connections open at once to one listener that never accepts them (the kernel completes each
    handshake into its backlog): each is a client socket and a server socket on this host; all close at the end."""
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(socket.socket())
        listener.bind(("127.0.0.1", 0))
        listener.listen(count)
        for _ in range(count):
            stack.enter_context(socket.create_connection(listener.getsockname(), timeout=10))


def test_full_sockets_map_is_counted_and_a_tracked_connection_keeps_its_close():
    """A full LRU socket map would evict the idle connection's entry to make room, and its close would be lost;
    the sockets that find no room are counted instead, and the tracked connection's open and close stay exact."""
    with running_agent({"capture": {"max_sockets": MAX_SOCKETS}}) as url, Server(echo) as server:
        with round_trip_client(server.port) as round_trip:
            round_trip()   # the connection has its entries before the map fills
            wait_until(lambda: edge_value(url, "intuition_tcp_sent_bytes_total") == ROUND_BYTES, 30,
                       f"{ROUND_BYTES} bytes on the edge before the flood")
            lost_before = scrape(url).get(lost("sockets_map_full"), 0)

            hold_connections(HELD_CONNECTIONS)
            at_least = 2 * HELD_CONNECTIONS - MAX_SOCKETS - SOCKET_SLOTS
            wait_until(lambda: scrape(url).get(lost("sockets_map_full"), 0) - lost_before >= at_least, 30,
                       f"at least {at_least} sockets_map_full losses")
            assert requests.get(f"{url}/healthz", timeout=10).status_code == 200
            round_trip()
        wait_until(lambda: edge_value(url, "intuition_tcp_connections_closed_total") == 1, 30,
                   "the tracked connection's close")
        assert edge_value(url, "intuition_tcp_connections_opened_total") == 1
        assert edge_value(url, "intuition_tcp_sent_bytes_total") == 2 * ROUND_BYTES
        assert edge_value(url, "intuition_tcp_received_bytes_total") == 2 * ROUND_BYTES


def counted_statuses(url: str) -> dict[tuple[str, str], float]:
    """(status, reporter) -> HTTP requests counted on the edge from CLIENT_COMM."""
    return {(dict(labels)["status"], dict(labels)["reporter"]): value for (name, labels), value in scrape(url).items()
            if name == "intuition_requests_total" and ("client", f"host:{CLIENT_COMM}") in labels}


def test_full_requests_map_is_counted_under_its_own_source_and_the_flow_stays_exact():
    """The flow has its entries, so the requests that find no room are requests_map_full, not flows_map_full; the
    statuses that found room are counted exactly once, and the flow's bytes stay exact."""
    attempts = len(STATUSES)
    config = {"capture": {"max_flows": REQUESTS_MAX_FLOWS}}
    with running_agent(config) as url, Server(answer_statuses) as server:
        with http_client(CLIENT_COMM, server.port, STATUSES) as send:
            lost_before = scrape(url).get(lost("requests_map_full"), 0)
            send()

        def settled() -> bool:
            # every attempt is either counted on the edge or lost (other processes may add losses of their own)
            counted = sum(counted_statuses(url).values())
            return counted + scrape(url).get(lost("requests_map_full"), 0) - lost_before >= attempts

        wait_until(settled, 30, f"{attempts} requests counted or lost as requests_map_full")
        counted = counted_statuses(url)
        assert set(counted.values()) == {1}, counted   # a status that found room is counted exactly once
        assert {reporter for _, reporter in counted} == {"server"}, counted
        assert {status for status, _ in counted} <= set(STATUSES)
        assert len(counted) <= REQUESTS_MAX_FLOWS
        assert scrape(url)[lost("requests_map_full")] - lost_before >= attempts - REQUESTS_MAX_FLOWS
        sent = sum(len(http_status_request(status)) for status in STATUSES)
        wait_until(lambda: edge_value(url, "intuition_tcp_sent_bytes_total") == sent, 30,
                   f"{sent} bytes sent on the edge")
        assert requests.get(f"{url}/healthz", timeout=10).status_code == 200
