"""The agent's container image, built once per test run from this checkout (Docker's layer cache makes a
build with unchanged inputs take seconds), and the `docker run` flags the README documents."""
from __future__ import annotations

import os
import re
import shlex
import subprocess

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.docker_env import DockerEnv, require_docker, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_SECONDS = 1200  # from nothing: the Debian base, BCC with LLVM, the wheels
CALLS = 5


@pytest.fixture(scope="session")
def agent_image() -> str:
    require_docker()
    build = os.path.join(ROOT, "scripts", "build-image.sh")
    result = subprocess.run([build], capture_output=True, text=True, timeout=BUILD_SECONDS)
    assert result.returncode == 0, f"{build} failed:\n{result.stdout}\n{result.stderr}"
    return subprocess.run([build, "--print"], capture_output=True, text=True, check=True).stdout.strip()


def documented_run_flags() -> list[str]:
    """The options of the README's `docker run` line for the agent, without the ones that name or detach
    the container (-d, --name, --restart) and without the image."""
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    match = re.search(r"^sudo docker run -d --name intuition (.*?)\n\s*intuition:latest\n", readme, re.S | re.M)
    assert match, "the README has no `sudo docker run -d --name intuition ... intuition:latest` block"
    words = shlex.split(match.group(1).replace("\\\n", " ").rstrip(" \\"))
    restart = words.index("--restart")
    return words[:restart] + words[restart + 2:]


def opened(metrics: str, **labels: str) -> float:
    """The intuition_tcp_connections_opened_total sample with these labels' values, else 0."""
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == "intuition_tcp_connections_opened_total" and all(
                    sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def assert_names_a_flow_between_two_containers(env: DockerEnv, agent_url: str) -> None:
    """web calls api CALLS times, two containers of one Compose project; the agent at agent_url must count
    exactly CALLS connections web -> api, seen from both ends, on its /metrics."""
    project = env.name("instshop")
    net = env.network("shop")
    api = env.run("api", "python3", "-m", "http.server", "80", compose=(project, "api"), network=net)
    env.wait_listening(api, 80)
    web = env.run("web", "sleep", "600", compose=(project, "web"), network=net)
    env.exec(web.id, "sh", "-c", f"for i in $(busybox seq {CALLS}); do "
                                 f"busybox wget -q -O /dev/null http://{api.ip}/ || exit 1; done")

    edge = {"client": "web", "client_namespace": project, "server": "api", "server_namespace": project}
    assert_opened(agent_url, [{**edge, "reporter": "client"}, {**edge, "reporter": "server"}], CALLS)


def assert_opened(agent_url: str, edges: list[dict[str, str]], count: int) -> None:
    """Each edge (its labels) reaches count opened connections on the agent's /metrics, and stays exactly there."""
    def metrics() -> str:
        return requests.get(f"{agent_url}/metrics", timeout=10).text

    what = f"{count} connections opened on each of {edges}"
    try:
        wait_until(lambda: all(opened(metrics(), **labels) >= count for labels in edges), 60, what, 0.5)
    except AssertionError as e:
        lines = [line for line in metrics().splitlines() if "opened_total{" in line]
        raise AssertionError(f"{e}; the agent's counters:\n" + "\n".join(lines)) from None
    text = metrics()
    assert [opened(text, **labels) for labels in edges] == [count] * len(edges)
