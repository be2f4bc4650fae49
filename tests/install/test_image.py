"""The agent's image run as the README says: `doctor` passes inside it, and the agent in it names a flow
between two other containers, with its exact count on /metrics."""
import subprocess

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.docker_env import DOCKER_CLI, TEST_LABEL, DockerEnv, wait_until
from tests.helpers.servers import free_port
from tests.install.conftest import documented_run_flags

pytestmark = [pytest.mark.docker, pytest.mark.kernel]
CALLS = 5
AGENT_START_SECONDS = 120  # compiling the probes takes a while on 2 busy cores


@pytest.fixture
def docker_env():
    env = DockerEnv()
    yield env
    env.close()


def docker_run(env: DockerEnv, image: str, *command: str, detach: bool = False) -> subprocess.CompletedProcess:
    name = env.name("install-agent")
    run = [DOCKER_CLI, "run", "--label", f"{TEST_LABEL}={env.run_id}", "--name", name,
           *(["-d"] if detach else ["--rm"]), *documented_run_flags(), image, *command]
    return subprocess.run(run, capture_output=True, text=True, timeout=AGENT_START_SECONDS)


def test_doctor_passes_inside_the_image(docker_env, agent_image):
    result = docker_run(docker_env, agent_image, "doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("the agent can run on this host")
    assert "FAIL" not in result.stdout


def opened(metrics: str, **labels: str) -> float:
    """The intuition_tcp_connections_opened_total sample with exactly these labels' values, else 0."""
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == "intuition_tcp_connections_opened_total" and all(
                    sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def test_agent_in_the_image_names_a_flow_between_two_containers(docker_env, agent_image):
    port = free_port()
    started = docker_run(docker_env, agent_image, "agent", "--listen", f"127.0.0.1:{port}", detach=True)
    assert started.returncode == 0, started.stderr
    agent = started.stdout.strip()
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        state = docker_env.api.inspect_container(agent)["State"]
        assert state["Running"], docker_env.api.logs(agent).decode(errors="replace")
        try:
            return requests.get(f"{url}/healthz", timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    wait_until(healthy, AGENT_START_SECONDS, "the agent in the image to answer /healthz", 0.5)

    project = docker_env.name("instshop")
    net = docker_env.network("shop")
    api = docker_env.run("api", "python3", "-m", "http.server", "80", compose=(project, "api"), network=net)
    docker_env.wait_listening(api, 80)
    web = docker_env.run("web", "sleep", "600", compose=(project, "web"), network=net)
    docker_env.exec(web.id, "sh", "-c", f"for i in $(busybox seq {CALLS}); do "
                                        f"busybox wget -q -O /dev/null http://{api.ip}/ || exit 1; done")

    edge = {"client": "web", "client_namespace": project, "server": "api", "server_namespace": project}
    both = ({**edge, "reporter": "client"}, {**edge, "reporter": "server"})

    def counted() -> str:
        return requests.get(f"{url}/metrics", timeout=10).text

    try:
        wait_until(lambda: all(opened(counted(), **labels) >= CALLS for labels in both), 60,
                   f"{CALLS} connections web -> api in {project} from both ends", 0.5)
    except AssertionError as e:
        lines = [line for line in counted().splitlines() if "opened_total{" in line]
        raise AssertionError(f"{e}; the agent's counters:\n" + "\n".join(lines)) from None
    metrics = counted()
    assert [opened(metrics, **labels) for labels in both] == [CALLS, CALLS]
