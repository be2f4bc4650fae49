"""The container registry: services with their containers, endpoints, published ports, removal."""
from tests.unit.identity_samples import container_id, record
from tracer.identity.model import Endpoint
from tracer.identity.registry import ContainerRegistry


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


SHOP_API = {"com.docker.compose.project": "shop", "com.docker.compose.service": "api"}
SWARM_WEB = {"com.docker.swarm.service.name": "web"}


def test_services_group_containers_sorted():
    reg = ContainerRegistry(Clock())
    reg.upsert(record(2, "shop-api-2", labels=SHOP_API, networks={"shop": "172.20.0.3"}))
    reg.upsert(record(1, "shop-api-1", labels=SHOP_API, networks={"shop": "172.20.0.2"}))
    reg.upsert(record(3, "web.1.aaa", labels={**SWARM_WEB, "com.docker.swarm.task.name": "web.1.aaa"},
                      networks={"bridge": "172.17.0.2"}))
    reg.upsert(record(4, "old", state="exited"))
    services = reg.services()
    assert [(s.namespace, s.service, [c.name for c in s.containers]) for s in services] == [
        ("default", "old", ["old"]), ("default", "web", ["web.1.aaa"]), ("shop", "api", ["shop-api-1", "shop-api-2"])]
    assert services[1].containers[0].task_slot == 1
    assert services[0].containers[0].state == "exited"


def test_endpoints_list_held_addresses_and_vips():
    reg = ContainerRegistry(Clock())
    reg.upsert(record(1, "shop-api-1", labels=SHOP_API, networks={"shop": "172.20.0.2"}))
    reg.set_vips({"10.0.1.5": Endpoint("web", "default", None)})
    assert reg.endpoints() == [("10.0.1.5", Endpoint("web", "default", None)),
                               ("172.20.0.2", Endpoint("api", "shop", container_id(1)))]


def test_removed_container_still_names_late_flows_then_is_forgotten():
    clock = Clock()
    reg = ContainerRegistry(clock, retain=60)
    reg.upsert(record(1, "short", networks={"bridge": "172.17.0.9"}))
    reg.remove(container_id(1), "docker")
    assert reg.services() == [] and reg.endpoints() == []
    clock.now += 30
    assert reg.record(container_id(1)).info.name == "short"
    assert reg.container_at("172.17.0.9").info.name == "short"
    clock.now += 31
    reg.prune()
    assert reg.record(container_id(1)) is None and reg.container_at("172.17.0.9") is None


def test_caches_shrink_back_and_the_forgotten_ids_are_told_once_the_retention_is_over():
    clock, forgotten = Clock(), []
    reg = ContainerRegistry(clock, retain=60, on_forget=forgotten.append)
    reg.upsert(record(1, "kept", networks={"bridge": "172.17.0.2"}))
    reg.upsert(record(2, "short", networks={"bridge": "172.17.0.9", "shop": "172.20.0.9"}))
    assert reg.cache_entries() == {"containers": 2, "addresses": 3}
    reg.remove(container_id(2), "docker")
    clock.now += 30
    reg.prune()
    assert reg.cache_entries() == {"containers": 2, "addresses": 3} and forgotten == []
    clock.now += 31
    reg.prune()
    assert reg.cache_entries() == {"containers": 1, "addresses": 1}
    assert forgotten == [container_id(2)]


def test_replace_all_removes_what_the_daemon_no_longer_has():
    reg = ContainerRegistry(Clock())
    reg.upsert(record(1, "gone"))
    reg.upsert(record(2, "kept", networks={"bridge": "172.17.0.3"}))
    reg.replace_all([record(2, "kept-renamed", networks={"bridge": "172.17.0.3"}), record(3, "new", networks={})],
                    "docker")
    assert reg.known_ids("docker") == {container_id(2), container_id(3)}
    assert [s.service for s in reg.services()] == ["kept-renamed", "new"]


def test_published_ports_of_running_containers():
    reg = ContainerRegistry(Clock())
    reg.upsert(record(1, "api", ports={"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}))
    reg.upsert(record(2, "web", ports={"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8081"}]}))
    reg.upsert(record(3, "stopped", state="exited", ports={"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8082"}]}))
    assert reg.publishes("127.0.0.1", 8080) and not reg.publishes("172.17.0.1", 8080)
    assert reg.publishes("172.17.0.1", 8081) and reg.publishes("fd00::2", 8081)
    assert not reg.publishes("127.0.0.1", 8082)
    reg.remove(container_id(2), "docker")
    assert not reg.publishes("172.17.0.1", 8081)


def test_gateways_are_host_addresses():
    reg = ContainerRegistry(Clock())
    reg.upsert(record(1, "a", networks={"bridge": "172.17.0.2", "shop": "172.20.0.2"}))
    assert reg.gateways() == {"172.17.0.1", "172.20.0.1"}
