"""Containers' own health, end to end: a container that allocates past its memory limit is OOM-killed and
restarted, and the running agent's service data says so within 10 s; CPU and memory figures agree with the
container's cgroup files."""
from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.docker_env import DockerEnv, wait_until

MiB = 1 << 20
LIMIT = 64 * MiB
# on its first run it fills 200 MiB and is killed; the restarted container finds /tmp/ate and just waits
EATER = r"""
import os, time
if not os.path.exists("/tmp/ate"):
    open("/tmp/ate", "w").close()
    food = b"x" * (200 << 20)
time.sleep(3600)
"""
# holds 40 MiB and keeps one core busy for at most 15 s
BUSY = r"""
import time
held = b"x" * (40 << 20)
deadline = time.monotonic() + 15
while time.monotonic() < deadline:
    pass
time.sleep(3600)
"""
NOTICE_DEADLINE = 10


@pytest.fixture
def env():
    env = DockerEnv()
    try:
        yield env
    finally:
        env.close()


def service(url: str, name: str, namespace: str) -> dict | None:
    answer = requests.get(f"{url}/api/services/{name}", params={"namespace": namespace}, timeout=10)
    return answer.json() if answer.status_code == 200 else None


def container_metrics(url: str, namespace: str) -> dict[str, float]:
    text = requests.get(f"{url}/metrics", timeout=10).text
    return {s.name: s.value for f in text_string_to_metric_families(text) if f.name.startswith("intuition_container_")
            for s in f.samples if s.labels.get("namespace") == namespace}


@pytest.mark.docker
def test_an_oom_killed_container_shows_the_kill_and_its_restart(agent_url, env):
    namespace = env.name("health")
    env.run("eater", "python3", "-c", EATER, compose=(namespace, "eater"), mem_limit=LIMIT, restart="on-failure")

    def killed_and_restarted():
        found = service(agent_url, "eater", namespace)
        titles = [n["title"] for n in found["notices"]] if found else []
        return found if any("was OOM-killed" in t for t in titles) and any(
            "restarted after exiting with code 137" in t for t in titles) else None

    found = wait_until(killed_and_restarted, NOTICE_DEADLINE, "the OOM kill and the restart on the service", 0.5)
    (container,) = found["containers"]
    health = container["health"]
    assert (health["oom_kills"], health["restarts"], health["exit_code"]) == (1, 1, 137)
    assert health["memory_limit_bytes"] == LIMIT
    metrics = container_metrics(agent_url, namespace)
    assert metrics["intuition_container_oom_kills_total"] == 1
    assert metrics["intuition_container_restarts_total"] == 1
    assert metrics["intuition_container_memory_limit_bytes"] == LIMIT
    graph = requests.get(f"{agent_url}/api/graph", timeout=10).json()
    region = next(n for n in graph["nodes"] if n["name"] == namespace)
    (node,) = [n for n in region["nodes"] if n["name"] == "eater"]
    assert node["class"] == "danger" and any("was OOM-killed" in n["title"] for n in node["notices"])


def cgroup_file(pid: int, controller: str, name: str) -> int:
    with open(f"/proc/{pid}/cgroup") as f:
        path = next(line.split(":", 2)[2].strip() for line in f if controller in line.split(":")[1].split(","))
    with open(f"/sys/fs/cgroup/{controller}{path}/{name}") as f:
        return int(f.read())


@pytest.mark.docker
def test_cpu_and_memory_agree_with_the_cgroup_files(agent_url, env):
    namespace = env.name("health")
    busy = env.run("busy", "python3", "-c", BUSY, compose=(namespace, "busy"), mem_limit=128 * MiB)

    def cpu_seconds() -> float:
        return cgroup_file(busy.pid, "cpuacct", "cpuacct.usage") / 1e9

    wait_until(lambda: cpu_seconds() > 2 and service(agent_url, "busy", namespace), 30, "two seconds of CPU", 0.5)
    memory_before, cpu_before = cgroup_file(busy.pid, "memory", "memory.usage_in_bytes"), cpu_seconds()
    health = service(agent_url, "busy", namespace)["containers"][0]["health"]
    memory_after, cpu_after = cgroup_file(busy.pid, "memory", "memory.usage_in_bytes"), cpu_seconds()
    assert 0.95 * cpu_before <= health["cpu_seconds"] <= 1.05 * cpu_after
    assert 0.95 * min(memory_before, memory_after) <= health["memory_bytes"] <= 1.05 * max(memory_before, memory_after)
    assert health["memory_bytes"] > 40 * MiB and health["memory_limit_bytes"] == 128 * MiB
    metrics = container_metrics(agent_url, namespace)
    assert 0.95 * cpu_before <= metrics["intuition_container_cpu_seconds_total"] <= 1.05 * cpu_seconds()
