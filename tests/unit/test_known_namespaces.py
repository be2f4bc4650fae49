"""Which network namespaces known at start are gone (tracer/capture/known_namespaces.py), on a fake /proc
where a namespace is a file and a process is in it through a hard link (one inode, as nsfs shows it)."""
import os
import shutil

import pytest

from tracer.capture import known_namespaces
from tracer.capture.known_namespaces import KnownNamespaces


class FakeProc:
    def __init__(self, root):
        self.root = root
        self.path = str(root / "proc")

    def namespace(self, name: str) -> int:
        (self.root / name).write_text("")
        return (self.root / name).stat().st_ino

    def enter(self, pid: int, namespace: str) -> None:
        """Process pid is in the namespace from now on (a new process, or one that called setns)."""
        (self.root / "proc" / str(pid) / "ns").mkdir(parents=True, exist_ok=True)
        net = self.root / "proc" / str(pid) / "ns" / "net"
        net.unlink(missing_ok=True)
        os.link(self.root / namespace, net)

    def exit(self, pid: int) -> None:
        shutil.rmtree(self.root / "proc" / str(pid))


@pytest.fixture
def proc(tmp_path):
    return FakeProc(tmp_path)


@pytest.fixture
def scans(monkeypatch):
    """Counts the scans of the whole of /proc."""
    count = []
    scan = known_namespaces.pids_by_netns
    monkeypatch.setattr(known_namespaces, "pids_by_netns", lambda path: count.append(path) or scan(path))
    return count


def test_a_namespace_with_a_process_seen_at_start_is_kept_without_a_scan(proc, scans):
    host, container = proc.namespace("host"), proc.namespace("container")
    proc.enter(1, "host")
    proc.enter(300, "container")
    known = KnownNamespaces({host: [1], container: [300]}, proc.path)
    assert known.gone() == []
    assert scans == []


def test_a_namespace_whose_processes_all_exited_is_gone_once(proc, scans):
    host, container = proc.namespace("host"), proc.namespace("container")
    proc.enter(1, "host")
    proc.enter(300, "container")
    proc.enter(301, "container")
    known = KnownNamespaces({host: [1], container: [300, 301]}, proc.path)
    proc.exit(301)
    assert known.gone() == []   # 300 is still in it
    assert scans == []
    proc.exit(300)
    assert known.gone() == [container]
    assert len(scans) == 1
    assert known.gone() == []   # forgotten: its mark is deleted once
    assert len(scans) == 1


def test_a_namespace_whose_processes_of_the_start_exited_is_kept_while_a_later_one_is_in_it(proc, scans):
    container = proc.namespace("container")
    proc.enter(300, "container")
    known = KnownNamespaces({container: [300]}, proc.path)
    proc.exit(300)
    proc.enter(400, "container")   # started after the agent
    assert known.gone() == []
    assert len(scans) == 1
    assert known.gone() == []   # the scan found 400: it is the one looked at now
    assert len(scans) == 1
    proc.exit(400)
    assert known.gone() == [container]


def test_a_pid_now_in_another_namespace_does_not_keep_its_old_one(proc, scans):
    host, container = proc.namespace("host"), proc.namespace("container")
    proc.enter(1, "host")
    proc.enter(300, "container")
    known = KnownNamespaces({host: [1], container: [300]}, proc.path)
    proc.exit(300)
    proc.enter(300, "host")   # the pid was reused by a process of the host
    assert known.gone() == [container]
    assert len(scans) == 1
