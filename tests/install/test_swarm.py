"""deploy/swarm/stack.yml on a one-node Swarm: the global agent's task loads its probes with the capabilities
Swarm grants (cap_add), serves /metrics and names a flow between two containers without the host's pid
namespace; Prometheus with deploy/swarm/prometheus.yml finds it through Swarm service discovery (role nodes)
and scrapes it."""
import json
import os
import shutil
import subprocess

import pytest
import requests
import yaml

from tests.conftest import skip_or_fail
from tests.helpers.docker_env import DOCKER_CLI, DockerEnv, wait_until
from tests.helpers.servers import free_port
from tests.install.conftest import ROOT, assert_names_a_flow_between_two_containers

pytestmark = [pytest.mark.docker, pytest.mark.kernel]
STACK = os.path.join(ROOT, "deploy", "swarm", "stack.yml")
SCRAPE_CONFIG = os.path.join(ROOT, "deploy", "swarm", "prometheus.yml")
TASK_START_SECONDS = 180  # the task's container compiles the probes before it listens


def test_stack_deploy_runs_the_agent_and_prometheus_scrapes_it(agent_image, tmp_path):
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        skip_or_fail("Debian's prometheus is not installed (scripts/setup.sh --test installs it)")
    port = free_port()
    env = DockerEnv(exclusive=True)
    stack = env.name("instswarm")
    # the stack file as shipped, with the agent on a free port: another agent may hold this host's 9470
    spec = yaml.safe_load(open(STACK))
    agent = spec["services"]["agent"]
    assert agent["image"] == agent_image
    agent["command"] = ["agent", "--listen", f"127.0.0.1:{port}"]
    stack_file = tmp_path / "stack.yml"
    stack_file.write_text(yaml.safe_dump(spec))
    try:
        with env.swarm():
            deployed = subprocess.run([DOCKER_CLI, "stack", "deploy", "-c", str(stack_file), stack],
                                      capture_output=True, text=True, timeout=120)
            assert deployed.returncode == 0, deployed.stderr
            try:
                check_agent_and_scrape(stack, port, prometheus, tmp_path)
                assert_names_a_flow_between_two_containers(env, f"http://127.0.0.1:{port}")
            finally:
                subprocess.run([DOCKER_CLI, "stack", "rm", stack], capture_output=True, timeout=120)
                wait_until(lambda: not env.api.containers(
                    all=True, filters={"label": f"com.docker.stack.namespace={stack}"}), 60, "the stack's tasks to go")
    finally:
        env.close()


def check_agent_and_scrape(stack: str, port: int, prometheus: str, home) -> None:
    service = f"{stack}_agent"
    spec = json.loads(subprocess.run([DOCKER_CLI, "service", "inspect", service], capture_output=True, text=True,
                                     check=True).stdout)[0]["Spec"]
    assert spec["Mode"] == {"Global": {}}
    assert spec["TaskTemplate"]["ContainerSpec"]["CapabilityAdd"] == ["CAP_SYS_ADMIN"]

    def metrics_answer() -> bool:
        try:
            return "intuition_build_info" in requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        except requests.ConnectionError:
            return False

    try:
        wait_until(metrics_answer, TASK_START_SECONDS, f"the task of {service} to serve /metrics", 1)
    except AssertionError as e:
        tasks = subprocess.run([DOCKER_CLI, "service", "ps", "--no-trunc", service], capture_output=True, text=True)
        logs = subprocess.run([DOCKER_CLI, "service", "logs", "--tail", "30", service], capture_output=True, text=True)
        raise AssertionError(f"{e}\n{tasks.stdout}\n{logs.stdout}{logs.stderr}") from None

    config = home / "prometheus.yml"
    config.write_text("global: {scrape_interval: 2s, scrape_timeout: 2s}\n"
                      + open(SCRAPE_CONFIG).read().replace("9470", str(port)))
    web = free_port()
    process = subprocess.Popen([prometheus, f"--config.file={config}", f"--storage.tsdb.path={home / 'data'}",
                                f"--web.listen-address=127.0.0.1:{web}", "--log.level=warn"],
                               stdout=subprocess.DEVNULL, stderr=open(home / "prometheus.log", "wb"))
    try:
        def scraped_up() -> list:
            try:
                body = requests.get(f"http://127.0.0.1:{web}/api/v1/targets", timeout=5).json()["data"]
            except requests.ConnectionError:
                assert process.poll() is None, (home / "prometheus.log").read_text()
                return []
            return [t for t in body["activeTargets"] if t["labels"]["job"] == "intuition" and t["health"] == "up"]

        try:
            up = wait_until(scraped_up, 60, "Prometheus to discover and scrape the agent's task", 1)
        except AssertionError as e:
            body = requests.get(f"http://127.0.0.1:{web}/api/v1/targets?state=any", timeout=5).text
            raise AssertionError(f"{e}\n{body[:3000]}\n{(home / 'prometheus.log').read_text()}") from None
        assert [t["scrapeUrl"] for t in up] == [f"http://127.0.0.1:{port}/metrics"]
    finally:
        process.terminate()
        process.wait(30)
