"""Fixtures for tests against the real Docker engine (tests/helpers/docker_env.py does the work)."""
import os
from collections import defaultdict

import pytest

from tests.helpers.docker_env import DockerEnv, wait_until
from tracer.identity import Identity
from tracer.capture.kernel import cgroup_layout
from tracer.capture.records import CLIENT, FlowCounters

CONNECT_SECONDS = 30


@pytest.fixture
def docker_env():
    env = DockerEnv()
    yield env
    env.close()


@pytest.fixture
def exclusive_docker():
    """The daemon for this test alone: it may restart dockerd, change live-restore or use Swarm."""
    env = DockerEnv(exclusive=True)
    yield env
    env.close()


def start_identity(**kwargs) -> Identity:
    """An Identity over this host's cgroup layout, connected to Docker (unless docker_url says otherwise)."""
    layout = cgroup_layout()
    identity = Identity(layout.root, layout.mode, **kwargs)
    identity.start()
    if "docker_url" not in kwargs:
        wait_until(lambda: identity.docker_connected, CONNECT_SECONDS, "identity to connect to Docker")
    return identity


@pytest.fixture
def identity(docker_env):
    ident = start_identity()
    yield ident
    ident.stop()


def container_cgroup_id(env: DockerEnv, container_id: str) -> int:
    """The cgroup id the probes report for a container's processes: its directory's inode in the
    hierarchy the collector uses, where Docker's cgroup driver put it."""
    layout = cgroup_layout()
    driver = env.api.info()["CgroupDriver"]
    relative = f"docker/{container_id}" if driver == "cgroupfs" else f"system.slice/docker-{container_id}.scope"
    return os.stat(os.path.join(layout.root, relative)).st_ino


def service_of(identity: Identity, service: str, namespace: str):
    """The ServiceInfo named so, or None."""
    return next((s for s in identity.services() if (s.service, s.namespace) == (service, namespace)), None)


def label(endpoint) -> str:
    """How the tests spell an endpoint: "shop/api", "host/host:curl", "INTERNET"."""
    return f"{endpoint.namespace}/{endpoint.service}" if endpoint.namespace else endpoint.service


class Edges:
    """Collector drains named by identity as they arrive, the way the agent names them:
    (client, server, reporter) -> FlowCounters summed over flows."""

    def __init__(self, collector, identity: Identity):
        self.collector = collector
        self.identity = identity
        collector.drain()  # start from zero: what earlier tests left is not ours
        self.counters: dict[tuple[str, str, str], FlowCounters] = defaultdict(FlowCounters)

    def poll(self) -> None:
        flows = self.collector.drain().flows
        for delta, named in zip(flows, self.identity.name_flows([d.key for d in flows])):
            if named is None:
                continue
            local, peer = named
            client, server = (local, peer) if delta.key.role == CLIENT else (peer, local)
            self.counters[(label(client), label(server), delta.key.role)].add(delta.counters)

    def opens(self, client: str, server: str, reporter: str) -> int:
        return self.counters[(client, server, reporter)].opens

    def wait_for(self, condition, what: str, timeout: float = 30.0) -> None:
        def polled():
            self.poll()
            return condition(self)

        try:
            wait_until(polled, timeout, what, interval=0.3)
        except AssertionError as err:
            seen = {k: v.opens for k, v in self.counters.items() if v.opens}
            raise AssertionError(f"{err}; connections opened per edge: {seen}") from None


@pytest.fixture
def edges(collector, identity):
    return Edges(collector, identity)
