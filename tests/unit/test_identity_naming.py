"""Service and namespace naming rules, and their label precedence (README, "HTTP API and metrics")."""
import pytest

from tracer.identity.model import Endpoint
from tracer.identity.naming import container_endpoint, host_endpoint, provisional_endpoint, task_slot

CID = "c" * 64
SWARM = {"com.docker.swarm.service.name": "shop_api", "com.docker.stack.namespace": "shop"}
COMPOSE = {"com.docker.compose.service": "web", "com.docker.compose.project": "store"}


def test_container_name_and_default_namespace_without_labels():
    assert container_endpoint({}, "/redis-1", CID) == Endpoint("redis-1", "default", CID)


def test_compose_service_and_project():
    assert container_endpoint(COMPOSE, "/store-web-1", CID) == Endpoint("web", "store", CID)


def test_stack_service_drops_its_stack_prefix_and_keeps_the_stack_as_namespace():
    assert container_endpoint(SWARM, "/shop_api.1.xyz", CID) == Endpoint("api", "shop", CID)


def test_plain_swarm_service_keeps_its_whole_name():
    labels = {"com.docker.swarm.service.name": "shop_api"}
    assert container_endpoint(labels, "/shop_api.1.xyz", CID) == Endpoint("shop_api", "default", CID)


def test_prefix_is_stripped_only_when_it_is_the_stack():
    labels = {"com.docker.swarm.service.name": "other_api", "com.docker.stack.namespace": "shop"}
    assert container_endpoint(labels, "/x", CID).service == "other_api"


def test_service_named_exactly_like_the_stack_prefix_is_not_emptied():
    labels = {"com.docker.swarm.service.name": "shop_", "com.docker.stack.namespace": "shop"}
    assert container_endpoint(labels, "/x", CID).service == "shop_"


def test_swarm_wins_over_compose_and_stack_over_project():
    assert container_endpoint({**COMPOSE, **SWARM}, "/x", CID) == Endpoint("api", "shop", CID)


def test_intuition_service_label_overrides_every_other_rule():
    labels = {**COMPOSE, **SWARM, "intuition.service": "checkout"}
    assert container_endpoint(labels, "/x", CID) == Endpoint("checkout", "shop", CID)


def test_empty_labels_count_as_absent():
    labels = {"intuition.service": "", "com.docker.compose.service": "", "com.docker.compose.project": ""}
    assert container_endpoint(labels, "/named", CID) == Endpoint("named", "default", CID)


def test_a_container_without_name_or_labels_is_an_error():
    with pytest.raises(ValueError, match="no name"):
        container_endpoint({}, "/", CID)


def test_host_processes_are_named_by_command():
    assert host_endpoint("curl") == Endpoint("host:curl", "host", None)
    assert host_endpoint("") == Endpoint("host", "host", None)


def test_provisional_name_is_the_short_container_id():
    assert provisional_endpoint(CID) == Endpoint("c" * 12, "default", CID, provisional=True)


@pytest.mark.parametrize("task_name, slot", [
    ("shop_api.2.k3j4h5g6f7d8s9a0", 2),
    ("my.dotted.service.1.k3j4h5g6f7d8s9a0", 1),
    ("monitor.qwertyuiopasdfghjklzxcvbn.k3j4h5g6f7d8s9a0", None),  # global service: node id, no slot
    ("", None),
])
def test_task_slot_from_swarm_task_name(task_name, slot):
    labels = {"com.docker.swarm.task.name": task_name} if task_name else {}
    assert task_slot(labels) == slot
