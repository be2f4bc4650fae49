"""Churn (issue 11): 300 containers started and removed over a few minutes, each making a known number of
HTTP requests to one server container. Every request is counted under its client's service, none under
INTERNET or an unnamed peer; once every client is gone and the agent has forgotten them (flows idle for
two minutes leave the flows map, tracer/counter_maps.py; removed containers leave identity after a minute,
tracer/identity/registry.py), every kernel map and identity cache is back to its size before the churn,
and the agent's resident memory grew by less than 10 MB from after a warm-up batch.

Docker hands a released address to the next container at once, and a flow's peer is named by its address
at drain time: each client gets an address of its own on a /16 network, so that every count is exact. Each
client makes its requests the moment it starts, before Docker has described it to the agent: the server's
flows are then named by pairing with the client's own socket (tracer/identity/peers.py), which can be drained
a drain after the server's requests (tracer/graph/graph.py, HOLD_DRAINS)."""
from __future__ import annotations

import ipaddress
import os
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import skip_or_fail
from tests.helpers.agent_metrics import families, named_services
from tests.helpers.agent_process import AgentProcess
from tests.helpers.docker_env import DockerEnv, wait_until, wget_loop

pytestmark = [pytest.mark.kernel, pytest.mark.docker, pytest.mark.timeout(900)]
CONTAINERS = 300
WARM_UP = 30  # the first clients, after which the agent's memory is the reference
AT_ONCE = 4  # clients started, run and removed at the same time
SERVICES = 10  # client i belongs to service client-<i % SERVICES>
REQUESTS = 3  # per client
RSS_GROWTH_KIB = 10 * 1024
# The agent sees every process of this shared host: a map or cache may hold a few entries of other
# processes' connections more than before. A leak of one entry per container is 300.
SLACK_ENTRIES = 10
# flows idle for 120 s are deleted, maps are counted every 10 s, identity forgets after 60 s
SETTLE_SECONDS = 240
SUBNETS = (f"10.{n}.0.0/16" for n in range(201, 255))
DNS_LISTENER = "0B00007F"  # 127.0.0.11 as /proc/net/tcp writes it: Docker's embedded DNS server


@pytest.fixture(scope="module")
def agent():
    if os.geteuid() != 0:
        skip_or_fail("the agent needs root to load its probes")
    if subprocess.run(["which", "bpftool"], capture_output=True).returncode != 0:
        skip_or_fail("bpftool is not installed (scripts/setup.sh --test installs it)")
    process = AgentProcess()
    yield process
    process.kill()


def dns_listener_port(pid: int) -> int:
    """The port of Docker's DNS listener in the network namespace of process pid; 0 while there is none."""
    with open(f"/proc/{pid}/net/tcp") as f:
        for row in f.read().splitlines()[1:]:
            address, state = row.split()[1], row.split()[3]
            if address.startswith(DNS_LISTENER + ":") and state == "0A":  # 0A: LISTEN
                return int(address.split(":")[1], 16)
    return 0


@pytest.mark.timeout(300)
def test_the_listener_of_dockers_dns_leaves_the_listeners_map_with_its_container(agent):
    """dockerd closes the listener it opened in a container's network namespace when the container goes;
    its entry used to stay (one per container: 9 entries became 343 in a churn of 330)."""
    env = DockerEnv()
    try:
        container = env.run("s5churn-dns", "sleep", "600", network=env.network("s5churn-dns"))
        netns = os.stat(f"/proc/{container.pid}/ns/net").st_ino
        port = wait_until(lambda: dns_listener_port(container.pid), 30, "Docker's DNS listener in the container")
        wait_until(lambda: (netns, port) in agent.listeners(), 30, "the DNS listener in the listeners map")
        env.api.remove_container(container.id, force=True)
        wait_until(lambda: (netns, port) not in agent.listeners(), 30, "the DNS listener to leave the map")
    finally:
        env.close()


def gauges(url: str, family: str, label: str) -> dict[str, float]:
    return {s.labels[label]: s.value for f in families(url) if f.name == family for s in f.samples}


def held(url: str) -> dict[str, float]:
    """Entries of each kernel map and identity cache."""
    return {**{f"map {name}": value for name, value in gauges(url, "intuition_bpf_map_entries", "map").items()},
            **{f"cache {name}": value
               for name, value in gauges(url, "intuition_identity_cache_entries", "cache").items()}}


def grown(before: dict[str, float], now: dict[str, float]) -> dict[str, tuple[float, float]]:
    """What holds more than SLACK_ENTRIES entries more than before: name -> (before, now)."""
    return {name: (entries, now.get(name, 0)) for name, entries in before.items()
            if now.get(name, 0) > entries + SLACK_ENTRIES}


def requests_to(url: str, namespace: str, server: str) -> Counter:
    """(client, client namespace, status, reporter) -> requests to server in namespace, whoever the client."""
    return Counter({(s.labels["client"], s.labels["client_namespace"], s.labels["status"], s.labels["reporter"]):
                    s.value for f in families(url) if f.name == "intuition_requests" for s in f.samples
                    if s.name.endswith("_total") and s.labels["server_namespace"] == namespace
                    and s.labels["server"] == server})


def test_churn_of_300_containers_names_every_request_and_leaves_nothing_behind(agent):
    env = DockerEnv()
    try:
        namespace = env.name("s5churn")
        network, subnet = env.network_of_free_subnet("s5churn-churn", SUBNETS)
        addresses = iter(ipaddress.ip_network(subnet).hosts())
        next(addresses)  # the gateway's
        server = env.run("s5churn-server", "python3", "-m", "http.server", "80", "--directory", "/tmp",
                         compose=(namespace, "server"), network=network, ip=str(next(addresses)))
        env.wait_listening(server, 80)
        wait_until(lambda: "server" in named_services(agent.url, namespace), 30, "the server named", 0.5)
        client_addresses = [str(next(addresses)) for _ in range(CONTAINERS)]

        def client(i: int) -> None:
            requests = wget_loop(f"http://{server.ip}/", REQUESTS)[-1]
            container = env.run(f"s5churn-client-{i}", "sh", "-c", requests,
                                compose=(namespace, f"client-{i % SERVICES}"), network=network,
                                ip=client_addresses[i])
            status = env.api.wait(container.id, timeout=120)["StatusCode"]
            env.api.remove_container(container.id, force=True)
            assert status == 0, f"{container.name} exited {status}"

        def counted(clients: int) -> bool:
            return sum(requests_to(agent.url, namespace, "server").values()) >= clients * REQUESTS

        before = held(agent.url)
        started = time.monotonic()
        with ThreadPoolExecutor(AT_ONCE) as pool:
            list(pool.map(client, range(WARM_UP)))
            wait_until(lambda: counted(WARM_UP), 30, "the warm-up's requests counted", 0.5)
            rss_warm = agent.rss_kib()
            list(pool.map(client, range(WARM_UP, CONTAINERS)))
        churned = time.monotonic() - started

        expected = Counter({(f"client-{k}", namespace, "200", "server"): CONTAINERS // SERVICES * REQUESTS
                            for k in range(SERVICES)})
        try:
            wait_until(lambda: requests_to(agent.url, namespace, "server") == expected, 30,
                       "every client's requests counted under its service", 0.5)
        except AssertionError:
            assert requests_to(agent.url, namespace, "server") == expected  # shows what was counted instead

        try:
            wait_until(lambda: not grown(before, held(agent.url)), SETTLE_SECONDS, "every map and cache back", 2)
        except AssertionError:
            assert grown(before, held(agent.url)) == {}  # shows what stayed
        after, rss_after = held(agent.url), agent.rss_kib()
        print(f"churn: {CONTAINERS} containers in {churned:.0f} s; VmRSS {rss_warm} KiB after the warm-up, "
              f"{rss_after} KiB after the churn; before {before}; after {after}")
        assert rss_after - rss_warm < RSS_GROWTH_KIB
    finally:
        env.close()
