"""Shared pytest setup. Root-only tests (real BPF, Docker, servers) skip when they cannot run, except in
CI, where INTUITION_REQUIRE_KERNEL=1 turns every such skip into a failure."""
import os

import pytest

REQUIRE_KERNEL = os.environ.get("INTUITION_REQUIRE_KERNEL") == "1"

# fixtures for the real servers (nginx, redis, postgres, mariadb), for Prometheus scraping the agent, for a
# private containerd
pytest_plugins = ["tests.helpers.servers", "tests.helpers.prometheus", "tests.helpers.containerd_env"]


def skip_or_fail(reason: str):
    if REQUIRE_KERNEL:
        pytest.fail(f"{reason} (INTUITION_REQUIRE_KERNEL=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def collector():
    """One running Collector for the session: compiling the probes costs seconds."""
    if os.geteuid() != 0:
        skip_or_fail("kernel tests need root")
    from tracer.capture.collector import Collector
    from tracer.capture.loader import ProbeError

    c = Collector()
    try:
        c.start()
    except ProbeError as e:
        skip_or_fail(f"probes cannot load: {e}")
    yield c
    c.close()


@pytest.fixture
def capture(collector):
    """A fresh accumulation of the collector's output for one test."""
    from tests.helpers.capture import Capture

    return Capture(collector)


@pytest.fixture(scope="session")
def agent_url():
    """One running agent for the session (probes, identity, graph, web server on a free loopback port)."""
    if os.geteuid() != 0:
        skip_or_fail("the agent needs root to load its probes")
    from tests.helpers.agent import running_agent

    with running_agent({}) as url:
        yield url
