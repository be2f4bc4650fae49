"""The containerd source's bookkeeping against a stand-in for ctr: listing, events, reconciliation."""
import json

from tracer.identity.containerd_source import ContainerdSource, NotFound
from tracer.identity.registry import ContainerRegistry

UID = "3f1c2e8a-6b0d-4c1e-9a57-2d8e6f4b1c90"
SANDBOX, WEB, LATE = "a" * 64, "b" * 64, "c" * 64
POD = {"io.kubernetes.pod.name": "web-5d9c7b8f4-x7k2p", "io.kubernetes.pod.namespace": "shop",
       "io.kubernetes.pod.uid": UID}


class FakeCtr:
    def __init__(self):
        self.containers = {
            SANDBOX: {"ID": SANDBOX, "Labels": {**POD, "pod-template-hash": "5d9c7b8f4",
                                                "io.cri-containerd.kind": "sandbox"}},
            WEB: {"ID": WEB, "Labels": {**POD, "io.kubernetes.container.name": "web",
                                        "io.cri-containerd.kind": "container"},
                  "Spec": {"linux": {"cgroupsPath": f"/kubepods/pod{UID}/{WEB}"}}},
            "d" * 64: {"ID": "d" * 64, "Labels": {"made": "by hand"}},  # not Kubernetes's: not named
        }
        self.task_pids = {SANDBOX: 100, WEB: 101}
        self.infos = 0

    def container_ids(self):
        return list(self.containers)

    def info(self, container_id):
        self.infos += 1
        if container_id not in self.containers:
            raise NotFound(container_id)
        return self.containers[container_id]

    def tasks(self):
        return dict(self.task_pids)


def source(tmp_path):
    learned = []
    registry = ContainerRegistry()
    src = ContainerdSource(registry, "node-1", "/nonexistent.sock", str(tmp_path),
                           lambda cid, pid, paths: learned.append((cid, pid, tuple(paths))),
                           lambda key, job: job(), kube_api=None)
    src._ctr = FakeCtr()
    return src, registry, learned


def services(registry):
    return {(s.namespace, s.service): sorted((c.name, c.state) for c in s.containers) for s in registry.services()}


def event(topic, **payload):
    return f"2026-11-27 13:36:47.5 +0000 UTC k8s.io {topic} {json.dumps(payload)}\n"


def test_a_full_resync_names_the_pod_from_its_sandbox(tmp_path):
    src, registry, learned = source(tmp_path)
    assert src._resync(full=True) == 2
    assert services(registry) == {("shop", "web"): [("web-5d9c7b8f4-x7k2p", "running"),
                                                    ("web-5d9c7b8f4-x7k2p/web", "running")]}
    assert (WEB, 101, (f"/kubepods/pod{UID}/{WEB}",)) in learned


def test_events_add_start_stop_and_remove_containers(tmp_path):
    src, registry, learned = source(tmp_path)
    src._resync(full=True)
    src.connected = True
    src._ctr.containers[LATE] = {"ID": LATE, "Labels": {**POD, "io.kubernetes.container.name": "sidecar"}}
    src._handle(event("/containers/create", id=LATE))
    assert ("web-5d9c7b8f4-x7k2p/sidecar", "created") in services(registry)[("shop", "web")]
    src._handle(event("/tasks/start", container_id=LATE, pid=202))
    assert (LATE, 202, ()) in learned  # named by its cgroup at once
    assert ("web-5d9c7b8f4-x7k2p/sidecar", "running") in services(registry)[("shop", "web")]
    src._handle(event("/tasks/exit", container_id=LATE, id=LATE, pid=202, exit_status=1))
    assert ("web-5d9c7b8f4-x7k2p/sidecar", "exited") in services(registry)[("shop", "web")]
    src._handle(event("/containers/delete", id=LATE))
    assert LATE not in registry.known_ids("containerd")
    src._handle(event("/tasks/start", container_id=WEB, pid=101).replace("k8s.io", "moby"))  # Docker's namespace
    assert learned.count((WEB, 101, ())) == 0


def test_a_reconciliation_catches_what_events_missed_and_describes_only_that(tmp_path):
    src, registry, _ = source(tmp_path)
    src._resync(full=True)
    src._ctr.containers[LATE] = {"ID": LATE, "Labels": {**POD, "io.kubernetes.container.name": "sidecar"}}
    del src._ctr.containers[WEB]
    src._ctr.task_pids = {SANDBOX: 100, LATE: 0}  # the sidecar ran and stopped unseen
    src._ctr.infos = 0
    src._resync(full=False)
    assert services(registry) == {("shop", "web"): [("web-5d9c7b8f4-x7k2p", "running"),
                                                    ("web-5d9c7b8f4-x7k2p/sidecar", "exited")]}
    assert src._ctr.infos == 2  # the new one, and the hand-made one that is never recorded; not the sandbox
