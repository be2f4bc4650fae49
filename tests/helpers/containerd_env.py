"""A private containerd for tests, and Kubernetes-style pods made in it with `ctr`, as the CRI plugin would.

The daemon has its own root, state directory and socket (Docker's containerd, if any, is never touched);
runc keeps its state under the same directory. No image can be pulled: containers run on the Docker tests'
offline root filesystem (tests/helpers/docker_env.py), unpacked into a directory, with the host's /usr
bind-mounted read-only. A pod is a sandbox container (the pod's labels, its network namespace) and app
containers labelled with the pod's name, namespace and UID, each in a pod cgroup of the layout asked for.

    env = ContainerdEnv()                  # skips (or fails in CI) without root or containerd
    pod = env.pod("shop", "web-5d9c7b8f4-x7k2p", {"pod-template-hash": "5d9c7b8f4"}, netns)
    env.container(pod, "web", "sleep", "600")
    ...
    env.close()                            # removes every task, container, cgroup and the daemon

The `containerd_env` fixture gives one for a test; `shop(env, layout)` makes the two pods most tests need.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import uuid
from typing import NamedTuple, Optional

import pytest

from tests.conftest import skip_or_fail
from tests.helpers.docker_env import rootfs_tar, wait_until
from tests.helpers.netns import NetNS, veth_pair

NAMESPACE = "k8s.io"
# The two pods of shop(): what their controllers would have named and labelled them.
DEPLOYMENT_POD = ("web-5d9c7b8f4-x7k2p", {"pod-template-hash": "5d9c7b8f4"})
STATEFUL_POD = ("api-0", {"statefulset.kubernetes.io/pod-name": "api-0", "controller-revision-hash": "api-6b8f5"})
PORT = 8080  # where shop's api pod serves HTTP
START_SECONDS = 30
# Where the two kubelet cgroup drivers put a pod's container, here made as plain directories by runc's
# cgroupfs manager (systemd expands the slice names of the second into exactly these directories).
LAYOUTS = {
    "cgroupfs": "/kubepods/besteffort/pod{uid}/{id}",
    "systemd": "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid_}.slice/"
               "cri-containerd-{id}.scope",
}
CONFIG = """version = 2
root = "{dir}/root"
state = "{dir}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{dir}/containerd.sock"
[ttrpc]
  address = "{dir}/containerd.sock.ttrpc"
"""


class Pod(NamedTuple):
    namespace: str
    name: str
    uid: str
    sandbox_id: str
    netns: NetNS
    layout: str


class Task(NamedTuple):
    id: str
    pid: int


class ContainerdEnv:
    def __init__(self):
        if os.geteuid() != 0:
            skip_or_fail("containerd tests need root")
        missing = [b for b in ("containerd", "ctr", "runc", "containerd-shim-runc-v2") if not shutil.which(b)]
        if missing:
            skip_or_fail(f"containerd tests need {', '.join(missing)} (Debian's containerd and runc)")
        self.dir = tempfile.mkdtemp(prefix="k8s-ctd-")
        self.socket = f"{self.dir}/containerd.sock"
        self.rootfs = f"{self.dir}/rootfs"
        self._tasks: list[str] = []  # container ids, in creation order
        self._cgroups: list[str] = []
        self._netns: list[NetNS] = []
        self._daemon: Optional[subprocess.Popen] = None
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        with tarfile.open(fileobj=io.BytesIO(rootfs_tar())) as tar:
            tar.extractall(self.rootfs)  # our own tar: no member leaves the directory
        with open(f"{self.dir}/config.toml", "w") as f:
            f.write(CONFIG.format(dir=self.dir))
        self._log = open(f"{self.dir}/containerd.log", "wb")
        self._daemon = subprocess.Popen(["containerd", "--config", f"{self.dir}/config.toml"],
                                        stdout=self._log, stderr=self._log, stdin=subprocess.DEVNULL)
        wait_until(self._answers, START_SECONDS, f"containerd to answer (its log: {self.dir}/containerd.log)", 0.2)

    def _answers(self) -> bool:
        if self._daemon.poll() is not None:
            raise AssertionError(f"containerd exited: see {self.dir}/containerd.log")
        return subprocess.run(["ctr", "--address", self.socket, "version"], capture_output=True).returncode == 0

    def ctr(self, *args: str) -> str:
        done = subprocess.run(["ctr", "--address", self.socket, "--namespace", NAMESPACE, *args],
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def netns(self) -> NetNS:
        ns = NetNS("k8s-pod")
        self._netns.append(ns)
        return ns

    def pod(self, namespace: str, name: str, labels: dict[str, str], netns: NetNS, layout: str = "cgroupfs") -> Pod:
        """A running pod sandbox (a sleeping process, as the pause container) in netns."""
        uid = str(uuid.uuid4())
        pod = Pod(namespace, name, uid, uuid.uuid4().hex * 2, netns, layout)
        self._run(pod, pod.sandbox_id, {**labels, "io.cri-containerd.kind": "sandbox"}, "sleep", "3600")
        return pod

    def container(self, pod: Pod, name: str, *command: str) -> Task:
        """An app container of the pod, in its network namespace, running command."""
        container_id = uuid.uuid4().hex * 2
        pid = self._run(pod, container_id, {"io.cri-containerd.kind": "container",
                                            "io.kubernetes.container.name": name}, *command)
        return Task(container_id, pid)

    def exec(self, task: Task, *command: str) -> str:
        """Run command in the container (in its cgroup and namespaces) to its end; its output."""
        return self.ctr("tasks", "exec", "--exec-id", f"intu-{uuid.uuid4().hex[:8]}", task.id, *_absolute(command))

    def listening(self, task: Task, port: int) -> bool:
        """Whether a TCP socket listens on port in the task's network namespace."""
        with open(f"/proc/{task.pid}/net/tcp") as f:
            rows = [line.split() for line in f.read().splitlines()[1:]]
        return any(r[1].endswith(f":{port:04X}") and r[3] == "0A" for r in rows)

    def remove(self, container_id: str) -> None:
        subprocess.run(["ctr", "--address", self.socket, "--namespace", NAMESPACE, "tasks", "kill", "--signal",
                        "KILL", container_id], capture_output=True)
        wait_until(lambda: subprocess.run(["ctr", "--address", self.socket, "--namespace", NAMESPACE, "tasks",
                                           "delete", container_id], capture_output=True, text=True).returncode == 0
                   or container_id not in self.ctr("tasks", "list"), 30, f"task {container_id[:12]} to go")
        subprocess.run(["ctr", "--address", self.socket, "--namespace", NAMESPACE, "containers", "delete",
                        container_id], capture_output=True)
        if container_id in self._tasks:
            self._tasks.remove(container_id)

    def _run(self, pod: Pod, container_id: str, labels: dict[str, str], *command: str) -> int:
        cgroup = LAYOUTS[pod.layout].format(uid=pod.uid, uid_=pod.uid.replace("-", "_"), id=container_id)
        pod_labels = {"io.kubernetes.pod.name": pod.name, "io.kubernetes.pod.namespace": pod.namespace,
                      "io.kubernetes.pod.uid": pod.uid, **labels}
        label_args = [arg for key, value in pod_labels.items() for arg in ("--label", f"{key}={value}")]
        self.ctr("run", "--detach", "--null-io", "--rootfs", "--runc-root", f"{self.dir}/runc",
                 "--mount", "type=bind,src=/usr,dst=/usr,options=rbind:ro",
                 "--with-ns", f"network:/var/run/netns/{pod.netns.name}", "--cgroup", cgroup,
                 *label_args, self.rootfs, container_id, *_absolute(command))
        self._tasks.append(container_id)
        self._cgroups.append(cgroup)
        rows = [line.split() for line in self.ctr("tasks", "list").splitlines()[1:]]
        return next(int(r[1]) for r in rows if r[0] == container_id)

    def close(self) -> None:
        if self._daemon is not None:
            for container_id in reversed(self._tasks):
                self.remove(container_id)
            self._daemon.terminate()
            self._daemon.wait(timeout=30)
            self._log.close()
        for cgroup in self._cgroups:  # runc removed the containers' own; their pod's parents stay behind
            _remove_parents(cgroup)
        for ns in self._netns:
            ns.delete()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def containerd_env():
    env = ContainerdEnv()
    yield env
    env.close()


class Shop(NamedTuple):
    web: Task
    api: Task
    api_sandbox: str
    api_ip: str
    web_ns: NetNS


def shop(env: ContainerdEnv, layout: str) -> Shop:
    """shop/api (a StatefulSet's pod serving HTTP) and shop/web (a Deployment's pod), linked by a veth pair."""
    web_ns, api_ns = env.netns(), env.netns()
    subnet = f"10.{200 + uuid.uuid4().int % 50}.{uuid.uuid4().int % 250}"
    veth_pair(web_ns, api_ns, f"{subnet}.1", f"{subnet}.2")
    api_pod = env.pod("shop", *STATEFUL_POD, api_ns, layout)
    api = env.container(api_pod, "api", "python3", "-m", "http.server", str(PORT))
    web = env.container(env.pod("shop", *DEPLOYMENT_POD, web_ns, layout), "web", "sleep", "600")
    wait_until(lambda: env.listening(api, PORT), 30, "the api pod to listen")
    return Shop(web, api, api_pod.sandbox_id, f"{subnet}.2", web_ns)


def _absolute(command: tuple[str, ...]) -> list[str]:
    """runc finds nothing on the rootfs's PATH before /usr is mounted: name the program by its path."""
    program = command[0] if command[0].startswith("/") else shutil.which(command[0], path="/usr/bin:/usr/sbin")
    return [program, *command[1:]]


def _remove_parents(cgroup: str) -> None:
    """rmdir the cgroup's parent directories in every hierarchy, deepest first, where they are empty."""
    parts = cgroup.strip("/").split("/")
    for hierarchy in os.listdir("/sys/fs/cgroup"):
        for depth in range(len(parts) - 1, 0, -1):
            path = os.path.join("/sys/fs/cgroup", hierarchy, *parts[:depth])
            try:
                os.rmdir(path)
            except OSError:
                pass  # absent, not empty (another pod of the layout), or not a hierarchy at all
