"""The inotify watch that learns container cgroups as their directories appear (on a plain directory tree)."""
import os

import pytest

from tests.helpers.docker_env import wait_until
from tracer.identity.cgroup_watch import CgroupWatch
from tracer.identity.cgroups import CgroupFs

CID = "0123456789abcdef" * 4
OTHER = "fedcba9876543210" * 4


@pytest.fixture
def watched(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "proc").mkdir()
    learned = {}
    watch = CgroupWatch(CgroupFs(str(tmp_path / "root"), "v2", str(tmp_path / "proc")),
                        lambda cgroup_id, cid: learned.__setitem__(cgroup_id, cid))
    yield tmp_path / "root", watch, learned
    watch.stop()


def test_learns_container_directories_of_both_drivers(watched):
    root, watch, learned = watched
    (root / "system.slice").mkdir()
    (root / "system.slice" / "cron.service").mkdir()  # already there: not a container
    watch.start()
    (root / "system.slice" / f"docker-{CID}.scope").mkdir()
    (root / "docker").mkdir()  # the cgroupfs driver's parent appears later
    (root / "docker" / OTHER).mkdir()
    scope, plain = os.stat(root / "system.slice" / f"docker-{CID}.scope").st_ino, os.stat(root / "docker" / OTHER).st_ino
    wait_until(lambda: learned.get(scope) == CID and learned.get(plain) == OTHER, 10, "both containers")
    assert set(learned.values()) == {CID, OTHER}


def test_directories_made_before_start_are_learned_too(watched):
    root, watch, learned = watched
    (root / "docker" / CID).mkdir(parents=True)
    watch.start()
    assert learned == {os.stat(root / "docker" / CID).st_ino: CID}
