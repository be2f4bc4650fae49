"""The agent's image run as the README says: `doctor` passes inside it, and the agent in it names a flow
between two other containers, with its exact count on /metrics."""
from __future__ import annotations

import subprocess

import pytest
import requests

from tests.helpers.containerd_env import PORT, shop
from tests.helpers.docker_env import DOCKER_CLI, TEST_LABEL, DockerEnv, wait_until, wget_loop
from tests.helpers.servers import free_port
from tests.install.conftest import CALLS, assert_names_a_flow_between_two_containers, assert_opened, documented_run_flags
from tracer.identity.identity import CONTAINERD_SOCKETS

pytestmark = [pytest.mark.docker, pytest.mark.kernel]
AGENT_START_SECONDS = 120  # compiling the probes takes a while on 2 busy cores
CONTAINERD_SOCKET = CONTAINERD_SOCKETS[0]  # where the agent looks first, and where the chart mounts it


@pytest.fixture
def docker_env():
    env = DockerEnv()
    yield env
    env.close()


def docker_run(env: DockerEnv, image: str, *command: str, detach: bool = False,
               flags: list[str] | None = None) -> subprocess.CompletedProcess:
    name = env.name("install-agent")
    run = [DOCKER_CLI, "run", "--label", f"{TEST_LABEL}={env.run_id}", "--name", name,
           *(["-d"] if detach else ["--rm"]), *(documented_run_flags() if flags is None else flags), image, *command]
    return subprocess.run(run, capture_output=True, text=True, timeout=AGENT_START_SECONDS)


def test_doctor_passes_inside_the_image(docker_env, agent_image):
    result = docker_run(docker_env, agent_image, "doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("the agent can run on this host")
    assert "FAIL" not in result.stdout


def test_doctor_uses_the_images_headers_where_the_host_has_none(docker_env, agent_image):
    flags = documented_run_flags()
    for mount in ("/lib/modules:/lib/modules:ro", "/usr/src:/usr/src:ro"):
        at = flags.index(mount)
        del flags[at - 1:at + 1]  # the -v before it too
    result = docker_run(docker_env, agent_image, "doctor", flags=flags)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok    kernel headers: /opt/intuition/kernel-headers from BCC_KERNEL_SOURCE" in result.stdout
    assert "ok    BPF ring buffer: events read back" in result.stdout  # the agent's probes compiled against them


def start_agent(env: DockerEnv, image: str, flags: list[str]) -> str:
    """The image's agent started detached with these docker run flags, once /healthz answers: its URL."""
    port = free_port()
    started = docker_run(env, image, "agent", "--listen", f"127.0.0.1:{port}", detach=True, flags=flags)
    assert started.returncode == 0, started.stderr
    agent = started.stdout.strip()
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        state = env.api.inspect_container(agent)["State"]
        assert state["Running"], env.api.logs(agent).decode(errors="replace")
        try:
            return requests.get(f"{url}/healthz", timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    wait_until(healthy, AGENT_START_SECONDS, "the agent in the image to answer /healthz", 0.5)
    return url


def test_agent_in_the_image_names_a_flow_between_two_containers(docker_env, agent_image):
    url = start_agent(docker_env, agent_image, documented_run_flags())
    assert_names_a_flow_between_two_containers(docker_env, url)


def test_agent_in_the_image_names_containerd_pods_through_its_ctr(docker_env, agent_image, containerd_env):
    """A Kubernetes node's containerd at the socket the chart mounts: the image's own `ctr` reads the pods,
    so a pod's calls are counted under their workloads, exactly, from both ends (Docker followed beside)."""
    flags = documented_run_flags() + ["-v", f"{containerd_env.socket}:{CONTAINERD_SOCKET}"]
    url = start_agent(docker_env, agent_image, flags)
    web, _, _, api_ip, _ = shop(containerd_env, "cgroupfs")
    containerd_env.exec(web, *wget_loop(f"http://{api_ip}:{PORT}/", CALLS))
    edge = {"client": "web", "client_namespace": "shop", "server": "api", "server_namespace": "shop"}
    assert_opened(url, [{**edge, "reporter": "client"}, {**edge, "reporter": "server"}], CALLS)
