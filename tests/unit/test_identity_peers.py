"""Peer naming: container IPs, loopback, host processes paired by address, published ports via docker-proxy
or DNAT shown as INTERNET -> service, direct calls from the host shown as host:<comm> -> service."""
import pytest

from tests.unit.identity_samples import record
from tracer.identity.addresses import HostAddresses
from tracer.identity.model import HOST, INTERNET, Endpoint
from tracer.identity.naming import host_endpoint
from tracer.identity.peers import SOCKET_TTL_SECONDS, LocalEnd, PeerResolver
from tracer.identity.registry import ContainerRegistry
from tracer.capture.records import CLIENT, SERVER, FlowKey

FIB_TRIE = """Local:
           |-- 127.0.0.1
              /32 host LOCAL
           |-- 172.17.0.1
              /32 host LOCAL
           |-- 192.0.2.2
              /32 host LOCAL
"""
API = record(1, "shop-api-1", labels={"com.docker.compose.project": "shop", "com.docker.compose.service": "api"},
             networks={"bridge": "172.17.0.2"}, ports={"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]})
WEB = record(2, "shop-web-1", labels={"com.docker.compose.project": "shop", "com.docker.compose.service": "web"},
             networks={"bridge": "172.17.0.3"})


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def host_addresses(proc_root, registry: ContainerRegistry) -> HostAddresses:
    """This host's addresses: those of FIB_TRIE and the registry's gateways."""
    (proc_root / "1" / "net").mkdir(parents=True)
    (proc_root / "1" / "net" / "fib_trie").write_text(FIB_TRIE)
    addresses = HostAddresses(str(proc_root), registry.gateways)
    addresses.refresh()
    return addresses


@pytest.fixture
def world(tmp_path):
    registry = ContainerRegistry()
    registry.upsert(API)
    registry.upsert(WEB)
    addresses = host_addresses(tmp_path, registry)
    clock = Clock()
    return registry, PeerResolver(registry, addresses, clock), clock


def container(rec):
    return LocalEnd(rec.endpoint, rec, host_netns=False, is_proxy=False)


def host(comm):
    return LocalEnd(host_endpoint(comm), None, host_netns=True, is_proxy=False)


PROXY = LocalEnd(INTERNET, None, host_netns=True, is_proxy=True)


def flow(role, local, peer, port):
    return FlowKey(cgroup_id=0, tgid=1, comm="x", role=role, local_addr=local, peer_addr=peer, server_port=port)


def names(resolver, *flows):
    keys, ends = zip(*flows)
    return resolver.name_flows(keys, ends)


def test_container_to_container_by_ip_both_ends(world):
    _, peers, _ = world
    assert names(peers, (flow(CLIENT, "172.17.0.3", "172.17.0.2", 80), container(WEB)),
                 (flow(SERVER, "172.17.0.2", "::ffff:172.17.0.3", 80), container(API))) == [API.endpoint, WEB.endpoint]


def test_loopback_inside_a_container_is_that_container(world):
    _, peers, _ = world
    assert names(peers, (flow(CLIENT, "127.0.0.1", "127.0.0.1", 6379), container(API))) == [API.endpoint]


def test_unknown_address_is_internet(world):
    _, peers, _ = world
    assert names(peers, (flow(CLIENT, "172.17.0.3", "203.0.113.9", 443), container(WEB))) == [INTERNET]


def test_published_port_through_docker_proxy_is_internet_to_service(world):
    _, peers, _ = world
    got = names(peers,
                (flow(CLIENT, "127.0.0.1", "127.0.0.1", 8080), host("curl")),  # curl -> published port
                (flow(SERVER, "127.0.0.1", "127.0.0.1", 8080), PROXY),  # docker-proxy accepts
                (flow(CLIENT, "172.17.0.1", "172.17.0.2", 80), PROXY),  # docker-proxy -> container
                (flow(SERVER, "172.17.0.2", "172.17.0.1", 80), container(API)))  # the container accepts
    assert got == [INTERNET, None, API.endpoint, INTERNET]


def test_direct_call_from_the_host_to_the_container_ip_is_host_process_to_service(world):
    _, peers, _ = world
    got = names(peers, (flow(SERVER, "172.17.0.2", "172.17.0.1", 80), container(API)),
                (flow(CLIENT, "172.17.0.1", "172.17.0.2", 80), host("curl")))
    assert got == [host_endpoint("curl"), API.endpoint]


def test_dnat_without_a_visible_proxy_counts_as_internet_only_for_published_ports(world):
    _, peers, _ = world
    got = names(peers, (flow(SERVER, "172.17.0.2", "172.17.0.1", 80), container(API)),
                (flow(SERVER, "172.17.0.3", "172.17.0.1", 5000), container(WEB)))
    assert got == [INTERNET, HOST]


def test_a_client_calling_a_published_port_calls_the_public_entrance(world):
    _, peers, _ = world
    assert names(peers, (flow(CLIENT, "172.17.0.3", "172.17.0.1", 8080), container(WEB))) == [INTERNET]


def test_host_processes_on_loopback_name_each_other(world):
    _, peers, _ = world
    got = names(peers, (flow(SERVER, "127.0.0.1", "127.0.0.1", 6379), host("redis-server")),
                (flow(CLIENT, "127.0.0.1", "127.0.0.1", 6379), host("redis-cli")))
    assert got == [host_endpoint("redis-cli"), host_endpoint("redis-server")]


def test_server_flows_that_know_their_client_process_name_it_among_several(world):
    _, peers, _ = world
    redis_cli = FlowKey(cgroup_id=0, tgid=11, comm="redis-cli", role=CLIENT, local_addr="127.0.0.1",
                        peer_addr="127.0.0.1", server_port=6379)
    python = FlowKey(cgroup_id=0, tgid=12, comm="python3", role=CLIENT, local_addr="127.0.0.1",
                     peer_addr="127.0.0.1", server_port=6379)
    server_of = [FlowKey(cgroup_id=0, tgid=5, comm="redis-server", role=SERVER, local_addr="127.0.0.1",
                         peer_addr="127.0.0.1", server_port=6379, peer_tgid=tgid) for tgid in (11, 12)]
    got = names(peers, (server_of[0], host("redis-server")), (server_of[1], host("redis-server")),
                (redis_cli, host("redis-cli")), (python, host("python3")))
    assert got[:2] == [host_endpoint("redis-cli"), host_endpoint("python3")]


def test_container_calling_a_host_server_through_the_gateway(world):
    _, peers, _ = world
    got = names(peers, (flow(CLIENT, "172.17.0.3", "172.17.0.1", 5432), container(WEB)),
                (flow(SERVER, "172.17.0.1", "172.17.0.3", 5432), host("postgres")))
    assert got == [host_endpoint("postgres"), WEB.endpoint]


def test_unpaired_host_address_is_the_host(world):
    _, peers, _ = world
    assert names(peers, (flow(CLIENT, "172.17.0.3", "192.0.2.2", 22), container(WEB))) == [HOST]


def test_swarm_virtual_ip_is_its_service(world):
    registry, peers, _ = world
    registry.set_vips({"10.0.1.5": Endpoint("api", "shop", None)})
    assert names(peers, (flow(CLIENT, "172.17.0.3", "10.0.1.5", 80), container(WEB))) == [Endpoint("api", "shop", None)]


def test_most_recent_host_client_wins_and_pairs_expire(world):
    _, peers, clock = world
    server = (flow(SERVER, "172.17.0.2", "172.17.0.1", 80), container(API))
    names(peers, (flow(CLIENT, "172.17.0.1", "172.17.0.2", 80), PROXY))
    clock.now = 5
    assert names(peers, server, (flow(CLIENT, "172.17.0.1", "172.17.0.2", 80), host("wget"))) == [
        host_endpoint("wget"), API.endpoint]
    clock.now = 5 + SOCKET_TTL_SECONDS + 1
    assert names(peers, server) == [INTERNET]  # no pair left: published port 80, so DNAT


def test_same_drain_tie_prefers_the_real_process_over_the_proxy(world):
    _, peers, _ = world
    got = names(peers, (flow(SERVER, "172.17.0.2", "172.17.0.1", 80), container(API)),
                (flow(CLIENT, "172.17.0.1", "172.17.0.2", 80), PROXY),
                (flow(CLIENT, "172.17.0.1", "172.17.0.2", 80), host("curl")))
    assert got[0] == host_endpoint("curl")


def test_containers_that_take_one_address_in_turn_are_told_apart_by_their_client_process(world):
    registry, peers, _ = world
    first = record(7, "churn-1", networks={"bridge": "172.17.0.9"})
    second = record(8, "churn-2", networks={"bridge": "172.17.0.9"})
    registry.upsert(first)
    registry.remove(first.id, "docker")
    registry.upsert(second)   # the address is the second container's now, within one drain of the first's calls
    client_of = {tgid: FlowKey(cgroup_id=tgid, tgid=tgid, comm="wget", role=CLIENT, local_addr="172.17.0.9",
                               peer_addr="172.17.0.2", server_port=80) for tgid in (70, 80)}
    server_of = {tgid: FlowKey(cgroup_id=0, tgid=5, comm="python3", role=SERVER, local_addr="172.17.0.2",
                               peer_addr="172.17.0.9", server_port=80, peer_tgid=tgid) for tgid in (70, 80)}
    got = names(peers, (server_of[70], container(API)), (server_of[80], container(API)),
                (client_of[70], container(first)), (client_of[80], container(second)))
    assert got[:2] == [first.endpoint, second.endpoint]


def test_unknown_address_of_a_socket_on_this_host_pairs_with_it(world):
    _, peers, _ = world
    fresh = LocalEnd(Endpoint("late", "shop", "f" * 64), None, host_netns=False, is_proxy=False)  # not inspected yet
    got = names(peers, (flow(SERVER, "172.17.0.2", "172.17.0.9", 80), container(API)),
                (flow(CLIENT, "172.17.0.9", "172.17.0.2", 80), fresh))
    assert got == [fresh.endpoint, API.endpoint]


def test_a_containers_loopback_never_pairs_with_the_hosts(world):
    _, peers, _ = world
    got = names(peers, (flow(SERVER, "127.0.0.1", "127.0.0.1", 6379), container(API)),
                (flow(CLIENT, "127.0.0.1", "127.0.0.1", 6379), host("redis-cli")))
    assert got == [API.endpoint, HOST]


def dns_world(tmp_path, answers: dict[tuple, str], remote=None):
    """The world with DNS names: (container id or None, address) -> the name that reader resolved."""
    registry = ContainerRegistry()
    registry.upsert(API)
    registry.upsert(WEB)
    return PeerResolver(registry, host_addresses(tmp_path, registry), Clock(), remote=remote,
                        dns_name=lambda reader, addr: answers.get((reader, addr)))


def test_an_outside_address_is_named_by_what_the_local_end_resolved_to_it(tmp_path):
    peers = dns_world(tmp_path, {(WEB.id, "203.0.113.10"): "api.example.com", (None, "203.0.113.11"): "pypi.org"})
    assert names(peers, (flow(CLIENT, "172.17.0.3", "::ffff:203.0.113.10", 443), container(WEB)),
                 (flow(CLIENT, "172.17.0.2", "203.0.113.10", 443), container(API)),  # api resolved nothing
                 (flow(CLIENT, "192.0.2.2", "203.0.113.11", 443), host("pip"))) == [
        Endpoint("api.example.com", "external"), INTERNET, Endpoint("pypi.org", "external")]


def test_container_addresses_and_other_nodes_endpoints_keep_their_own_names_whatever_dns_says(tmp_path):
    other_node = Endpoint("db", "shop")
    peers = dns_world(tmp_path, {(WEB.id, "172.17.0.2"): "api.example.com", (WEB.id, "10.9.0.5"): "db.example.com"},
                      remote={"10.9.0.5": other_node}.get)
    assert names(peers, (flow(CLIENT, "172.17.0.3", "172.17.0.2", 80), container(WEB)),
                 (flow(CLIENT, "172.17.0.3", "10.9.0.5", 5432), container(WEB))) == [API.endpoint, other_node]
