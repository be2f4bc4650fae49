"""Containers' own health from crafted cgroup trees (v1 and v2) and Docker events."""
import errno
import os

from tests.unit.graph_fakes import Clock, FakeIdentity, container
from tracer.container_health import CgroupStats, ContainerHealth, Usage
from tracer.graph.view import ERROR, WARN, GraphView, NodeView, Notice
from tracer.identity import ServiceInfo
from tracer.metrics import container_health_families

CID = "a" * 64
MiB = 1 << 20


def write(root, rel: str, files: dict[str, str]) -> None:
    os.makedirs(root / rel, exist_ok=True)
    for name, text in files.items():
        (root / rel / name).write_text(text)


def test_cgroup_v1_files_under_each_controller(tmp_path):
    write(tmp_path, f"memory/docker/{CID}", {"memory.usage_in_bytes": "52428800\n",
                                              "memory.limit_in_bytes": "67108864\n",
                                              "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"})
    write(tmp_path, f"cpuacct/docker/{CID}", {"cpuacct.usage": "2500000000\n"})
    assert CgroupStats("v1", str(tmp_path)).read(CID) == Usage(2.5, 50 * MiB, 64 * MiB, 2)


def test_cgroup_v1_without_a_limit_and_the_systemd_driver(tmp_path):
    scope = f"system.slice/docker-{CID}.scope"
    write(tmp_path, f"memory/{scope}", {"memory.usage_in_bytes": "1000\n",
                                         "memory.limit_in_bytes": "9223372036854771712\n",
                                         "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\n"})
    write(tmp_path, f"cpuacct/{scope}", {"cpuacct.usage": "0\n"})
    assert CgroupStats("v1", str(tmp_path)).read(CID) == Usage(0.0, 1000, None, 0)


def test_cgroup_v2_one_directory(tmp_path):
    write(tmp_path, f"docker/{CID}", {"cpu.stat": "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n",
                                      "memory.current": "4096\n", "memory.max": "max\n",
                                      "memory.events": "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"})
    assert CgroupStats("v2", str(tmp_path)).read(CID) == Usage(1.5, 4096, None, 1)


def test_a_container_without_a_cgroup_has_no_usage(tmp_path):
    assert CgroupStats("v2", str(tmp_path)).read(CID) is None


def test_a_cgroup_being_removed_has_no_usage(tmp_path, monkeypatch):
    """Reading a cgroup v1 file while Docker removes the container fails with ENODEV, seen in a churn."""
    write(tmp_path, f"memory/docker/{CID}", {"memory.limit_in_bytes": "67108864\n"})
    stats = CgroupStats("v1", str(tmp_path))

    def removed(*args):
        raise OSError(errno.ENODEV, "No such device")

    monkeypatch.setattr(stats, "_file", removed)
    assert stats.read(CID) is None


class FixedStats:
    def __init__(self, usage):
        self.usage = usage

    def read(self, container_id):
        return self.usage


def event(action: str, t: float, **attributes) -> dict:
    return {"Type": "container", "Action": action, "Actor": {"ID": CID, "Attributes": attributes},
            "timeNano": int(t * 1e9)}


def test_oom_kill_and_restart_from_docker_events_give_notices():
    clock = Clock()
    health = ContainerHealth(FixedStats(Usage(1.0, 10 * MiB, 64 * MiB, 1)), 10, clock)
    health.on_event(event("start", clock.now - 100))  # a first start is no restart
    health.on_event(event("oom", clock.now - 2))
    health.on_event(event("die", clock.now - 2, exitCode="137"))
    health.on_event(event("start", clock.now - 1))
    assert health.counts(CID) == (1, 1)
    shop = container(CID, "shop-eater-1")
    assert health.notices([shop]) == (Notice("container shop-eater-1 was OOM-killed", ERROR),
                                      Notice("container shop-eater-1 restarted after exiting with code 137", WARN))
    clock.now += 601  # ten minutes later they are history
    assert health.notices([shop]) == ()
    assert health.container_json(CID)["exit_code"] == 137


def test_memory_at_its_limit_gives_a_notice_and_annotates_the_service():
    health = ContainerHealth(FixedStats(Usage(1.0, 62 * MiB, 64 * MiB, 0)), 10, Clock())
    view = GraphView(0.0, 10.0, (NodeView("eater", "shop"), NodeView("other", "shop")), ())
    services = [ServiceInfo("eater", "shop", [container(CID, "shop-eater-1")])]
    nodes = health.annotate(view, services).nodes
    assert nodes[0].notices == (Notice("container shop-eater-1 uses 97% of its memory limit", WARN),)
    assert nodes[1].notices == ()


def test_series_of_cpu_cores_and_memory_every_interval():
    clock = Clock()
    stats = FixedStats(Usage(1.0, MiB, None, 0))
    health = ContainerHealth(stats, 10, clock)
    for cpu in (1.0, 3.0, 3.5):
        stats.usage = Usage(cpu, MiB, None, 0)
        health.sample_if_due([CID])
        clock.now += 5
        health.sample_if_due([CID])  # not due: half an interval
        clock.now += 5
    assert [(s["cpu_cores"], s["memory_bytes"]) for s in health.container_json(CID)["series"]] == [
        (0.2, MiB), (0.05, MiB)]


def test_metrics_per_container():
    health = ContainerHealth(FixedStats(Usage(2.5, 50 * MiB, 64 * MiB, 0)), 10, Clock())
    health.on_event(event("oom", 1.0))
    identity = FakeIdentity(services=[ServiceInfo("eater", "shop", [container(CID, "shop-eater-1")])])
    samples = {s.name: (s.labels, s.value) for f in container_health_families(identity, health) for s in f.samples}
    labels = {"service": "eater", "namespace": "shop", "container": "shop-eater-1"}
    assert samples == {
        "intuition_container_cpu_seconds_total": (labels, 2.5),
        "intuition_container_memory_bytes": (labels, 50 * MiB),
        "intuition_container_memory_limit_bytes": (labels, 64 * MiB),
        "intuition_container_restarts_total": (labels, 0),
        "intuition_container_oom_kills_total": (labels, 1),
    }
