"""The cgroup v2 path: processes in cgroup2 directories named like the systemd driver's
(system.slice/docker-<id>.scope) and the cgroupfs driver's (docker/<id>) are named by that container id."""
import os
import subprocess
import uuid

import pytest

from tests.conftest import skip_or_fail
from tests.helpers.docker_env import wait_until
from tests.helpers.cgroups import cgroup2_hierarchy
from tracer.identity import Endpoint, Identity

pytestmark = pytest.mark.docker
LAYOUTS = ("system.slice/docker-{}.scope", "docker/{}")


@pytest.fixture
def cgroup2():
    if os.geteuid() != 0:
        skip_or_fail("cgroup v2 tests need root")
    with cgroup2_hierarchy() as root:
        made: list[str] = []
        yield root, made
        for path in reversed(made):
            os.rmdir(path)


def make_cgroup(cgroup2, relative: str) -> str:
    root, made = cgroup2
    path = root
    for part in relative.split("/"):
        path = os.path.join(path, part)
        if not os.path.isdir(path):
            os.mkdir(path)
            made.append(path)
    return path


def process_in(path: str) -> subprocess.Popen:
    """A sleeping process moved into the cgroup before it execs."""
    proc = subprocess.Popen(["sh", "-c", f'echo $$ > "{path}/cgroup.procs" && exec sleep 600'])
    wait_until(lambda: os.path.basename(path) in open(f"/proc/{proc.pid}/cgroup").read()
               and open(f"/proc/{proc.pid}/comm").read().strip() == "sleep", 10, "the process in its cgroup")
    return proc


def end(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_v2_cgroup_ids_of_both_drivers_name_the_container(cgroup2, layout, tmp_path):
    root, _ = cgroup2
    live_id, gone_id = uuid.uuid4().hex * 2, uuid.uuid4().hex * 2
    live_dir, gone_dir = make_cgroup(cgroup2, layout.format(live_id)), make_cgroup(cgroup2, layout.format(gone_id))
    identity = Identity(root, "v2", docker_url=f"unix://{tmp_path}/no-docker.sock")  # Docker knows neither id
    identity.start()
    live, gone = process_in(live_dir), process_in(gone_dir)
    try:
        # no record: named by its container id, provisionally (the graph waits a few drains for Docker's name)
        named_live = Endpoint(live_id[:12], "default", live_id, provisional=True)
        assert identity.local(os.stat(live_dir).st_ino, live.pid, "sleep") == named_live
        end(live)
        assert identity.local(os.stat(live_dir).st_ino, live.pid, "sleep") == named_live  # remembered

        end(gone)  # gone before its first lookup: its cgroup id is searched for in the tree
        gone_cgroup = os.stat(gone_dir).st_ino
        named_gone = Endpoint(gone_id[:12], "default", gone_id, provisional=True)
        wait_until(lambda: identity.local(gone_cgroup, gone.pid, "sleep") == named_gone, 10, "the background search")
    finally:
        end(live)
        end(gone)
        identity.stop()


def test_v2_systemd_layout_names_the_docker_container(cgroup2, docker_env):
    root, _ = cgroup2
    container = docker_env.run("v2", "sleep", "600", compose=("shop", "v2"))
    scope = make_cgroup(cgroup2, f"system.slice/docker-{container.id}.scope")
    identity = Identity(root, "v2")  # over the cgroup2 hierarchy, whatever the collector uses here
    identity.start()
    proc = process_in(scope)
    try:
        wait_until(lambda: identity.docker_connected, 30, "identity to connect to Docker")
        assert identity.local(os.stat(scope).st_ino, proc.pid, "sleep") == Endpoint("v2", "shop", container.id)
    finally:
        end(proc)
        identity.stop()
