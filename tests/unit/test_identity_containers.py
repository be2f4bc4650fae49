"""Records from `docker inspect` and Swarm service documents."""
from datetime import datetime, timezone

import pytest

from tests.unit.identity_samples import NODE, container_id, inspect_doc
from tracer.identity.containers import parse_docker_time, record_from_inspect, record_from_start_event, service_vips
from tracer.identity.model import ContainerInfo, Endpoint, PublishedPort

STARTED = datetime(2026, 11, 25, 9, 27, 49, tzinfo=timezone.utc).timestamp()


def test_record_from_a_running_compose_container():
    doc = inspect_doc(1, "shop-web-1", labels={"com.docker.compose.project": "shop", "com.docker.compose.service": "web"},
                      networks={"shop_default": "172.20.0.2", "bridge": "172.17.0.3"},
                      ports={"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
                             "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "53"}], "443/tcp": None})
    rec = record_from_inspect(doc, NODE)
    assert rec.endpoint == Endpoint("web", "shop", container_id(1))
    assert rec.info == ContainerInfo(container_id(1), "shop-web-1", "intuition-test:1", "running", NODE,
                                     STARTED + 0.271968288, None)
    assert rec.pid == 4242
    assert rec.addresses == ("172.17.0.3", "172.20.0.2")
    assert rec.gateways == ("172.17.0.1", "172.20.0.1")
    assert rec.published == (PublishedPort("0.0.0.0", 8080, 80), PublishedPort("::", 8080, 80))
    assert rec.publishes(80) and not rec.publishes(8080)
    assert not rec.host_network


def test_stopped_container_has_no_addresses_or_pid():
    rec = record_from_inspect(inspect_doc(2, "old", state="exited"), NODE)
    assert (rec.info.state, rec.pid, rec.addresses) == ("exited", 0, ())


def test_host_network_container():
    rec = record_from_inspect(inspect_doc(3, "agent", networks={}, network_mode="host"), NODE)
    assert rec.host_network and rec.addresses == ()


def test_swarm_task_slot():
    labels = {"com.docker.swarm.service.name": "web", "com.docker.swarm.task.name": "web.2.abcdefghijklmnopqrstuvwxy"}
    assert record_from_inspect(inspect_doc(4, "web.2.abcdefghijklmnopqrstuvwxy", labels=labels), NODE).info.task_slot == 2


def test_inspect_document_missing_a_section_is_named():
    doc = inspect_doc(5, "x")
    del doc["State"]
    with pytest.raises(ValueError, match="without 'State'"):
        record_from_inspect(doc, NODE)


def test_unreadable_port_binding_is_named():
    doc = inspect_doc(6, "x", ports={"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": ""}]})
    with pytest.raises(ValueError, match="unreadable port binding 80/tcp"):
        record_from_inspect(doc, NODE)


@pytest.mark.parametrize("text, expected", [
    ("2026-11-25T09:27:49.271968288Z", STARTED + 0.271968288),
    ("2026-11-25T09:27:49Z", STARTED),
    ("2026-11-25T10:27:49.5+01:00", STARTED + 0.5),
    ("0001-01-01T00:00:00Z", None),
    ("", None),
])
def test_parse_docker_time(text, expected):
    assert parse_docker_time(text) == (pytest.approx(expected, abs=1e-6) if expected else None)


def test_parse_docker_time_rejects_garbage():
    with pytest.raises(ValueError, match="unreadable Docker timestamp 'yesterday'"):
        parse_docker_time("yesterday")


def test_service_vips_named_like_the_service_containers():
    service = {
        "Spec": {"Name": "shop_api", "Labels": {"com.docker.stack.namespace": "shop"},
                 "TaskTemplate": {"ContainerSpec": {"Labels": {"com.docker.stack.namespace": "shop"}}}},
        "Endpoint": {"VirtualIPs": [{"NetworkID": "n1", "Addr": "10.0.1.5/24"}, {"NetworkID": "n2", "Addr": "10.0.2.7/24"}]},
    }
    assert service_vips(service) == [("10.0.1.5", Endpoint("api", "shop", None)), ("10.0.2.7", Endpoint("api", "shop", None))]


def test_dnsrr_service_has_no_vips_and_a_nameless_service_is_named_as_bad_input():
    assert service_vips({"Spec": {"Name": "web"}, "Endpoint": {}}) == []
    with pytest.raises(ValueError, match="without Spec.Name"):
        service_vips({"Spec": {}})


def test_record_from_a_start_event_names_the_container_before_its_inspection():
    actor = {"ID": container_id(7), "Attributes": {
        "com.docker.compose.project": "shop", "com.docker.compose.service": "late", "image": "intuition-test:1",
        "name": "shop-late-1"}}
    rec = record_from_start_event(actor, NODE, STARTED)
    assert rec.endpoint == Endpoint("late", "shop", container_id(7))
    assert rec.info == ContainerInfo(container_id(7), "shop-late-1", "intuition-test:1", "running", NODE, STARTED, None)
    assert (rec.pid, rec.addresses, rec.published) == (0, (), ())
    with pytest.raises(ValueError, match="start event without container id or name"):
        record_from_start_event({"ID": container_id(7), "Attributes": {}}, NODE, STARTED)
