"""cgroup path parsing and cgroup id -> container resolution, on a directory tree shaped like each layout."""
import os

import pytest

from tracer.identity.cgroups import (CgroupEntry, CgroupFs, container_id_from_path, hierarchy_path,
                                     parse_proc_cgroup)
from tracer.identity.local import LocalResolver

CID = "0123456789abcdef" * 4
OTHER = "fedcba9876543210" * 4

V1_CGROUPFS = f"""12:pids:/docker/{CID}
11:cpu,cpuacct:/docker/{CID}
4:memory:/docker/{CID}
1:name=systemd:/docker/{CID}
0::/docker/{CID}
"""
V1_SYSTEMD = f"""11:cpu,cpuacct:/system.slice/docker-{CID}.scope
4:memory:/system.slice/docker-{CID}.scope
1:name=systemd:/system.slice/docker-{CID}.scope
0::/system.slice/docker-{CID}.scope
"""
V2_SYSTEMD = f"0::/system.slice/docker-{CID}.scope\n"
V2_PRIVATE_NS = f"0::/../../system.slice/docker-{CID}.scope\n"
HOST_V1 = "4:memory:/process_api/2347aae3573272bfcc1e7d5f53bb2c71\n1:name=systemd:/\n0::/\n"


@pytest.mark.parametrize("path, expected", [
    (f"/docker/{CID}", CID),
    (f"/system.slice/docker-{CID}.scope", CID),
    (f"/../../system.slice/docker-{CID}.scope", CID),
    (f"/kubepods/burstable/pod1234/cri-containerd-{CID}.scope", CID),
    (f"/docker/{OTHER}/docker/{CID}", CID),  # Docker in Docker: the innermost container
    (f"/system.slice/docker-{CID}.scope/init.scope", CID),
    ("/", None),
    ("/user.slice/user-0.slice/session-3.scope", None),
    ("/process_api/2347aae3573272bfcc1e7d5f53bb2c71", None),  # 32 hex digits
    (f"/docker/{CID}0", None),  # 65 hex digits is not an id
    (f"/docker/{CID.upper()}", None),
    ("/docker/buildkit/k2x9ch3yzv4fmn1sb7wqe5ldo", None),
])
def test_container_id_from_path(path, expected):
    assert container_id_from_path(path) == expected


def test_parse_proc_cgroup_v1_controllers_and_v2_line():
    entries = parse_proc_cgroup(V1_CGROUPFS)
    assert entries[1] == CgroupEntry(11, frozenset({"cpu", "cpuacct"}), f"/docker/{CID}")
    assert entries[-1] == CgroupEntry(0, frozenset(), f"/docker/{CID}")


def test_parse_proc_cgroup_keeps_colons_in_paths():
    assert parse_proc_cgroup("0::/a:b\n") == [CgroupEntry(0, frozenset(), "/a:b")]


@pytest.mark.parametrize("bad", ["garbage", "x:memory:/", "4:memory:relative"])
def test_parse_proc_cgroup_rejects_malformed_lines(bad):
    with pytest.raises(ValueError, match="malformed /proc/<pid>/cgroup line"):
        parse_proc_cgroup(bad)


@pytest.mark.parametrize("text, root, mode, expected", [
    (V1_CGROUPFS, "/sys/fs/cgroup/memory", "v1", f"/docker/{CID}"),
    (V1_CGROUPFS, "/sys/fs/cgroup/cpu,cpuacct", "v1", f"/docker/{CID}"),
    (V1_CGROUPFS, "/sys/fs/cgroup/cpu", "v1", f"/docker/{CID}"),  # what the cpu symlink points into
    (V1_SYSTEMD, "/sys/fs/cgroup/systemd/", "v1", f"/system.slice/docker-{CID}.scope"),
    (V1_SYSTEMD, "/sys/fs/cgroup/unified", "v2", f"/system.slice/docker-{CID}.scope"),
    (V2_SYSTEMD, "/sys/fs/cgroup", "v2", f"/system.slice/docker-{CID}.scope"),
    (HOST_V1, "/sys/fs/cgroup/memory", "v1", "/process_api/2347aae3573272bfcc1e7d5f53bb2c71"),
    (HOST_V1, "/sys/fs/cgroup/blkio", "v1", None),
    (V2_SYSTEMD, "/sys/fs/cgroup/memory", "v1", None),
])
def test_hierarchy_path_picks_the_line_of_the_root(text, root, mode, expected):
    assert hierarchy_path(parse_proc_cgroup(text), root, mode) == expected


@pytest.fixture
def tree(tmp_path):
    """A cgroup-like tree with both drivers' container directories, and a proc root beside it."""
    root = tmp_path / "memory"
    for rel in (f"docker/{CID}", f"system.slice/docker-{OTHER}.scope", "system.slice/cron.service", "process_api"):
        (root / rel).mkdir(parents=True)
    (tmp_path / "proc").mkdir()
    return tmp_path


def write_proc(tree, pid: int, text: str) -> None:
    (tree / "proc" / str(pid)).mkdir()
    (tree / "proc" / str(pid) / "cgroup").write_text(text)


def ino(tree, rel: str) -> int:
    return os.stat(tree / "memory" / rel).st_ino


def test_cgroupfs_rejects_bad_configuration(tree):
    with pytest.raises(ValueError, match="cgroup_mode must be one of"):
        CgroupFs(str(tree / "memory"), "v3", str(tree / "proc"))
    with pytest.raises(ValueError, match="is not a directory"):
        CgroupFs(str(tree / "nothing"), "v1", str(tree / "proc"))


def test_inode_and_find_agree_for_both_driver_layouts(tree):
    fs = CgroupFs(str(tree / "memory"), "v1", str(tree / "proc"))
    for rel in (f"/docker/{CID}", f"/system.slice/docker-{OTHER}.scope", "/"):
        assert fs.find(fs.inode(rel)) == rel
    assert fs.find(1) is None
    assert fs.inode("/docker/missing") is None
    assert fs.inode(f"/../../docker/{CID}") is None  # private cgroup namespace: names nothing here


def test_container_inodes_include_the_process_cgroup_and_driver_layouts(tree):
    write_proc(tree, 10, f"4:memory:/docker/{CID}\n")
    fs = CgroupFs(str(tree / "memory"), "v1", str(tree / "proc"))
    assert fs.container_inodes(CID, 10) == {ino(tree, f"docker/{CID}")}
    assert fs.container_inodes(OTHER, 0) == {ino(tree, f"system.slice/docker-{OTHER}.scope")}
    assert fs.container_inodes("a" * 64, 0) == set()


def test_container_inodes_include_the_paths_the_runtime_gives(tree):
    pod_path = f"kubepods/burstable/pod3f1c2e8a-6b0d/{'a' * 64}"
    (tree / "memory" / pod_path).mkdir(parents=True)
    fs = CgroupFs(str(tree / "memory"), "v1", str(tree / "proc"))
    assert fs.container_inodes("a" * 64, 0, ["/" + pod_path, "/kubepods/gone"]) == {ino(tree, pod_path)}


class Resolver:
    def __init__(self, tree, mode="v1"):
        self.searches = []
        self.fs = CgroupFs(str(tree / "memory"), mode, str(tree / "proc"))
        self.local = LocalResolver(self.fs, self.searches.append)


def test_live_process_resolves_by_cgroup_id_and_is_remembered_after_it_exits(tree):
    write_proc(tree, 20, f"4:memory:/docker/{CID}\n")
    r = Resolver(tree)
    cgroup_id = ino(tree, f"docker/{CID}")
    assert r.local.resolve(cgroup_id, 20, "python3") == CID
    (tree / "proc" / "20" / "cgroup").unlink()
    assert r.local.resolve(cgroup_id, 20, "python3") == CID
    assert r.searches == []


def test_a_forgotten_container_leaves_no_cache_entry_and_the_host_keeps_its_own(tree):
    write_proc(tree, 20, f"4:memory:/docker/{CID}\n")
    write_proc(tree, 22, "4:memory:/system.slice/cron.service\n")
    r = Resolver(tree)
    r.local.resolve(ino(tree, f"docker/{CID}"), 20, "python3")
    r.local.resolve(ino(tree, "system.slice/cron.service"), 22, "cron")
    r.local.remember(12345, CID)   # the container's cgroup in another hierarchy, as cgroup_watch learns it
    assert r.local.cache_entries() == {"cgroups": 3, "tasks": 2}
    r.local.forget(CID)
    assert r.local.cache_entries() == {"cgroups": 1, "tasks": 1}
    assert r.local.resolve(ino(tree, "system.slice/cron.service"), 22, "cron") is None


def test_exited_host_processes_leave_the_cache_and_still_resolve_to_the_host(tree):
    write_proc(tree, 20, f"4:memory:/docker/{CID}\n")
    write_proc(tree, 22, "4:memory:/system.slice/cron.service\n")
    write_proc(tree, 23, "4:memory:/system.slice/sshd.service\n")
    r = Resolver(tree)
    for tgid, comm in ((20, "python3"), (22, "cron"), (23, "sshd")):
        r.local.resolve(0, tgid, comm)
    for tgid in (20, 22):
        (tree / "proc" / str(tgid) / "cgroup").unlink()
        (tree / "proc" / str(tgid)).rmdir()
    r.local.forget_exited_host_processes()
    # cron has gone; sshd runs; the container's process stays with its container (forget)
    assert r.local.cache_entries()["tasks"] == 2
    assert r.local.resolve(0, 22, "cron") is None
    assert r.local.resolve(0, 20, "python3") == CID


def test_v2_systemd_layout(tree):
    write_proc(tree, 21, f"0::/system.slice/docker-{OTHER}.scope\n")
    r = Resolver(tree, mode="v2")
    assert r.local.resolve(ino(tree, f"system.slice/docker-{OTHER}.scope"), 21, "nginx") == OTHER


def test_host_process(tree):
    write_proc(tree, 22, "4:memory:/system.slice/cron.service\n")
    r = Resolver(tree)
    assert r.local.resolve(ino(tree, "system.slice/cron.service"), 22, "cron") is None


def test_without_cgroup_id_the_tgid_and_command_are_remembered(tree):
    write_proc(tree, 23, f"4:memory:/docker/{CID}\n")
    r = Resolver(tree)
    assert r.local.resolve(0, 23, "redis-server") == CID
    (tree / "proc" / "23" / "cgroup").unlink()
    assert r.local.resolve(0, 23, "redis-server") == CID
    assert r.local.resolve(0, 23, "other") is None  # same pid, another program: not trusted


def test_container_learned_at_start_names_a_process_that_is_already_gone(tree):
    write_proc(tree, 24, f"4:memory:/docker/{CID}\n")
    r = Resolver(tree)
    r.local.learn_container(CID, 24)
    (tree / "proc" / "24" / "cgroup").unlink()
    assert r.local.resolve(ino(tree, f"docker/{CID}"), 31337, "curl") == CID


def test_gone_process_with_unknown_cgroup_id_is_searched_in_the_background(tree):
    r = Resolver(tree)
    cgroup_id = ino(tree, f"system.slice/docker-{OTHER}.scope")
    assert r.local.resolve(cgroup_id, 25, "sh") is None
    assert r.searches == [cgroup_id]
    r.local.search(cgroup_id)
    assert r.local.resolve(cgroup_id, 25, "sh") == OTHER


def test_reused_tgid_in_another_cgroup_does_not_name_the_flow(tree):
    write_proc(tree, 26, "4:memory:/system.slice/cron.service\n")
    r = Resolver(tree)
    cgroup_id = ino(tree, f"docker/{CID}")  # the kernel saw the old process in the container
    assert r.local.resolve(cgroup_id, 26, "cron") is None
    assert r.searches == [cgroup_id]


def test_search_for_a_removed_cgroup_settles_on_the_host(tree):
    r = Resolver(tree)
    r.local.search(999_999_999)
    assert r.local.resolve(999_999_999, 27, "sh") is None
    assert r.searches == []
