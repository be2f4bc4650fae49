"""Churn (issue 11): containers come and go by the hundred; what the agent holds for them must go with them.
The listener of Docker's embedded DNS server, which dockerd opens in each container's network namespace,
leaves the listeners map when its container is removed."""
from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import skip_or_fail
from tests.helpers.agent_process import AgentProcess
from tests.helpers.docker_env import DockerEnv, wait_until

pytestmark = [pytest.mark.kernel, pytest.mark.docker]
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


def listeners(agent: AgentProcess) -> set[tuple[int, int]]:
    """(network namespace inode, port) of each entry of the agent's listeners map (probes/common.h)."""
    return {(int.from_bytes(key[:8], "little"), int.from_bytes(key[8:10], "little"))
            for key in agent.map_keys("listeners")}


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
        wait_until(lambda: (netns, port) in listeners(agent), 30, "the DNS listener in the listeners map")
        env.api.remove_container(container.id, force=True)
        wait_until(lambda: (netns, port) not in listeners(agent), 30, "the DNS listener to leave the map")
    finally:
        env.close()
