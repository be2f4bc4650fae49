"""The network namespaces the agent marks as known at its start (port 0 in the listeners map,
tracer/capture/loader.py, store_listeners) leave the map once they are gone (issue 11), and the ones still
there keep their mark (tracer/capture/known_namespaces.py)."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.conftest import skip_or_fail
from tests.helpers.agent_process import AgentProcess
from tests.helpers.docker_env import wait_until
from tracer.capture.collector import MAP_COUNT_INTERVAL
from tracer.capture.probe_constants import LISTENERS_KNOWN_PORT

pytestmark = pytest.mark.kernel
# the collector looks for gone namespaces on its map-count pass; six passes leave room for a busy host
FORGET_SECONDS = 6 * MAP_COUNT_INTERVAL


def netns_inode(pid: int | str) -> int:
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def process_in_own_netns() -> tuple[subprocess.Popen, int]:
    """A sleeping process alone in a new network namespace (unshare execs sleep in the same process; the
    namespace goes with it), and that namespace's inode once it is in it."""
    process = subprocess.Popen(["unshare", "--net", "sleep", "600"])
    host = netns_inode("self")
    netns = wait_until(lambda: (inode := netns_inode(process.pid)) != host and inode, 30,
                       "the process to enter its own network namespace")
    return process, netns


def stop(process: subprocess.Popen) -> None:
    process.kill()
    process.wait(30)


def test_a_namespace_known_at_start_leaves_the_listeners_map_once_it_is_gone():
    if os.geteuid() != 0:
        skip_or_fail("the agent needs root to load its probes, unshare to make a network namespace")
    if shutil.which("bpftool") is None:
        skip_or_fail("bpftool is not installed (scripts/setup.sh --test installs it)")
    going, going_netns = process_in_own_netns()
    staying, staying_netns = process_in_own_netns()
    agent = None
    try:
        agent = AgentProcess()
        marks = {(going_netns, LISTENERS_KNOWN_PORT), (staying_netns, LISTENERS_KNOWN_PORT),
                 (netns_inode("self"), LISTENERS_KNOWN_PORT)}
        assert marks <= agent.listeners()
        stop(going)
        wait_until(lambda: (going_netns, LISTENERS_KNOWN_PORT) not in agent.listeners(), FORGET_SECONDS,
                   "the gone namespace's mark to leave the listeners map")
        # the namespace that still has its process, and the host's, keep their marks
        assert marks - {(going_netns, LISTENERS_KNOWN_PORT)} <= agent.listeners()
    finally:
        stop(going)
        stop(staying)
        if agent is not None:
            agent.kill()
