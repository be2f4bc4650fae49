"""The cgroup id in flow records, on both cgroup versions: the inode of the process's cgroup directory."""
import os
import subprocess
import sys
import uuid

import pytest

from tests.conftest import skip_or_fail

from tests.helpers.cgroups import cgroup2_hierarchy
from tests.helpers.tcp_server import Server, exchange
from tracer.capture.collector import Collector
from tracer.capture.kernel import CgroupLayout

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def client_flow_in(capture, cgroup_dir: str):
    """Run the helper client moved into cgroup_dir before it connects; returns its flow key and pid."""
    with Server(exchange(100, 10)) as server:
        script = f'echo $$ > "{cgroup_dir}/cgroup.procs" && exec "$@"'
        proc = subprocess.Popen(
            ["sh", "-c", script, "sh", sys.executable, "-m", "tests.helpers.tcp_client", "intu-cgroup", "exchange",
             "127.0.0.1", str(server.port), "100", "10"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        flow = dict(tgid=proc.pid, role="client", server_port=server.port)
        capture.wait_for(lambda c: c.total(**flow).closes == 1, what="the client's connection closed")
    (key, _), = capture.matching(**flow).items()
    return key, proc.pid


@pytest.fixture
def child_cgroup():
    made = []

    def make(hierarchy: str) -> str:
        path = os.path.join(hierarchy, f"intu-test-{uuid.uuid4().hex[:8]}")
        os.mkdir(path)
        made.append(path)
        return path

    yield make
    for path in made:
        os.rmdir(path)  # empty again: the client process has exited


@pytest.mark.kernel
def test_cgroup_v2_id_is_the_directory_inode(collector, child_cgroup):
    from tests.helpers.capture import Capture

    with cgroup2_hierarchy() as hierarchy:
        v2 = Collector(cgroup_layout=CgroupLayout("v2", hierarchy))
        try:
            v2.start()
            capture = Capture(v2)
            cgroup_dir = child_cgroup(hierarchy)
            key, _ = client_flow_in(capture, cgroup_dir)
            assert key.cgroup_id == os.stat(cgroup_dir).st_ino
        finally:
            v2.close()


@pytest.mark.kernel
def test_cgroup_v1_process_told_apart_by_tgid_and_cgroup(capture, child_cgroup):
    info = capture.collector.probe_info
    if info.cgroup_mode != "v1":
        skip_or_fail("this host has no cgroup v1 memory hierarchy (pure cgroup v2)")
    cgroup_dir = child_cgroup(info.cgroup_root)
    key, pid = client_flow_in(capture, cgroup_dir)
    assert key.cgroup_id == os.stat(cgroup_dir).st_ino
    assert key.tgid == pid
