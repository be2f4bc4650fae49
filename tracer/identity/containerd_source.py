"""containerd: the containers Kubernetes runs on a node without Docker, through containerd's socket.

Only containerd's `k8s.io` namespace is read (Docker's own containers live in `moby` and are named by the
Docker source). The talking is done by `ctr`, the client containerd ships with every install: it speaks
the API of the daemon it came with, and its `containers info` and `events` print JSON. There is no
maintained Python client (PyPI's `containerd` stubs were generated in 2021 for protobuf 3 and fail to import
under today's protobuf), and generating our own stubs would mean vendoring containerd's protos.

As for Docker: every (re)connection starts the event stream first, then lists every container; calls that
events cause run on identity's background worker, in order. A start event names the task's cgroup at once.
Events cannot be replayed, so a short reconciliation (the container and task lists, and a look at what
changed) runs every RECONCILE_SECONDS as well.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import shutil
import subprocess
import threading
import time
from typing import Any, Callable, Hashable, Optional, Sequence

from . import cri
from .addresses import netns_addresses
from .kube_api import KubeApi, PodFacts
from .kube_naming import POD_NAME_LABEL, POD_NAMESPACE_LABEL
from .registry import ContainerRegistry

log = logging.getLogger(__name__)

NAMESPACE = "k8s.io"  # where the CRI plugin keeps the pods' containers
CTR_TIMEOUT_SECONDS = 10
BACKOFF_FIRST_SECONDS = 0.25
BACKOFF_MAX_SECONDS = 2.0
RECONCILE_SECONDS = 30.0

Schedule = Callable[[Hashable, Callable[[], None]], None]  # (key, job): run job on the background worker
Learn = Callable[[str, int, Sequence[str]], None]  # (container id, pid or 0, its cgroup paths)


class CtrError(Exception):
    pass


class NotFound(CtrError):
    pass


class Ctr:
    """containerd's command-line client on one socket, in the k8s.io namespace."""

    def __init__(self, socket: str, binary: str):
        self._base = [binary, "--address", socket, "--namespace", NAMESPACE]

    def server_version(self) -> str:
        """The daemon's version, from `ctr version` (a `Client:` then a `Server:` section, `Version:` in each)."""
        server = self._run("version").partition("Server:")[2]
        return next((line.split(":", 1)[1].strip() for line in server.splitlines()
                     if line.strip().startswith("Version:")), "?")

    def container_ids(self) -> list[str]:
        return self._run("containers", "list", "--quiet").split()

    def info(self, container_id: str) -> dict[str, Any]:
        return json.loads(self._run("containers", "info", container_id))

    def tasks(self) -> dict[str, int]:
        """container id -> pid of its task, 0 for a task that has stopped (`ctr tasks list`: TASK PID STATUS)."""
        tasks = {}
        for line in self._run("tasks", "list").splitlines()[1:]:
            fields = line.split()
            if len(fields) == 3 and fields[1].isdigit():
                tasks[fields[0]] = int(fields[1]) if fields[2] == "RUNNING" else 0
        return tasks

    def events(self) -> subprocess.Popen:
        """The event stream of every namespace, one line an event, until the daemon goes or we stop it."""
        return subprocess.Popen(self._base + ["events"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True)

    def _run(self, *args: str) -> str:
        try:
            done = subprocess.run(self._base + list(args), capture_output=True, text=True,
                                  timeout=CTR_TIMEOUT_SECONDS, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise CtrError(f"ctr {' '.join(args)} took over {CTR_TIMEOUT_SECONDS} s") from None
        if done.returncode != 0:
            message = done.stderr.strip() or f"exit status {done.returncode}"
            raise (NotFound if "not found" in message else CtrError)(f"ctr {' '.join(args)}: {message}")
        return done.stdout


class ContainerdSource:
    def __init__(self, registry: ContainerRegistry, node: str, socket: str, proc_root: str, learn: Learn,
                 schedule: Schedule, kube_api: Optional[KubeApi], ctr_binary: str = "ctr"):
        self._registry = registry
        self._node = node
        self._socket = socket
        self._ctr = Ctr(socket, ctr_binary)
        self._ctr_found = shutil.which(ctr_binary) is not None
        self._proc_root = proc_root
        self._learn = learn
        self._schedule = schedule
        self._kube_api = kube_api  # None: pods are named from their labels alone
        self._stopping = threading.Event()
        self._stream: Optional[subprocess.Popen] = None
        self._thread: Optional[threading.Thread] = None
        # Read and written under the lock: by the worker's jobs, and by the full resync on the event thread.
        self._lock = threading.Lock()
        self._pods: dict[str, tuple[cri.Pod, bool]] = {}  # pod uid -> (its sandbox's facts, host network)
        self._pids: dict[str, int] = {}  # container id -> its running task's pid, as last recorded
        self._started: dict[str, float] = {}  # container id -> when its task started, from the event
        self._ran: set[str] = set()  # containers whose task ran and ended ("exited" rather than "created")
        self._last_reconcile = 0.0
        self.connected = False

    def start(self) -> None:
        if not self._ctr_found:
            log.warning("containerd socket %s found but no ctr command: its pods go unnamed", self._socket)
            return
        self._thread = threading.Thread(target=self._run, name="identity-containerd", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        stream = self._stream
        if stream is not None and stream.poll() is None:
            stream.terminate()
        if self._thread is not None:
            self._thread.join()

    def inspect_later(self, container_id: str) -> None:
        if self.connected:
            self._schedule(("containerd-inspect", container_id), lambda: self._job(self._inspect, container_id))

    def periodic(self) -> None:
        """Called every few seconds by identity: queue a reconciliation when one is due."""
        if self.connected and time.monotonic() - self._last_reconcile >= RECONCILE_SECONDS:
            self._schedule("containerd-reconcile", lambda: self._job(self._resync, False))

    def _run(self) -> None:
        backoff, outage_logged = BACKOFF_FIRST_SECONDS, False
        while not self._stopping.is_set():
            reason = self._follow()
            was_connected, self.connected = self.connected, False
            if self._stopping.is_set():
                break
            if was_connected or not outage_logged:
                log.warning("containerd at %s unreachable (%s): its pods go unnamed until it returns",
                            self._socket, reason)
                outage_logged = True
            if was_connected:
                backoff = BACKOFF_FIRST_SECONDS
            self._stopping.wait(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)

    def _follow(self) -> str:
        """Follow the event stream until it ends; why it ended."""
        self._stream = stream = self._ctr.events()
        try:
            if self._stopping.is_set():
                return "stopping"
            try:
                with self._lock:
                    count = self._resync(full=True)
            except CtrError as err:
                return str(err)
            self.connected = True
            log.info("containerd at %s connected: %d Kubernetes containers", self._socket, count)
            for line in stream.stdout:
                self._handle(line)
            return stream.stderr.read().strip() or "event stream ended"
        except Exception:  # a bug here must not end naming for good: report it, reconnect
            log.exception("containerd event handling failed")
            return "internal error"
        finally:
            if stream.poll() is None:
                stream.terminate()
            stream.wait()
            stream.stdout.close()
            stream.stderr.close()

    def _handle(self, line: str) -> None:
        event = cri.event_from_line(line.rstrip("\n"))
        if event is None or event[0] != NAMESPACE:
            return
        _, topic, payload = event
        container_id = payload.get("container_id") or payload.get("id") or ""
        if not container_id:
            return
        if topic == "/tasks/start":
            pid = int(payload.get("pid") or 0)
            self._learn(container_id, pid, ())  # at once: the task may run for a moment only
            started = time.time()
            self._schedule(("containerd-started", container_id),
                           lambda: self._job(self._task_started, container_id, pid, started))
        elif topic in ("/tasks/exit", "/tasks/delete"):
            if payload.get("id", container_id) == container_id:  # the task's main process, not an exec
                self._schedule(("containerd-exit", container_id), lambda: self._job(self._task_ended, container_id))
        elif topic in ("/containers/create", "/containers/update"):
            self.inspect_later(container_id)
        elif topic == "/containers/delete":
            self._schedule(("containerd-remove", container_id), lambda: self._job(self._forget, container_id))

    def _task_started(self, container_id: str, pid: int, started: float) -> None:
        self._pids[container_id] = pid
        self._ran.add(container_id)
        self._started[container_id] = started
        self._inspect(container_id)

    def _task_ended(self, container_id: str) -> None:
        if self._pids.pop(container_id, 0):
            self._inspect(container_id)

    def _forget(self, container_id: str) -> None:
        self._pids.pop(container_id, None)
        self._started.pop(container_id, None)
        self._ran.discard(container_id)
        self._registry.remove(container_id, cri.RUNTIME)

    def _resync(self, full: bool) -> int:
        """List containers and tasks; describe what is new or changed (everything when full)."""
        self._last_reconcile = time.monotonic()
        tasks = self._ctr.tasks()
        ids = self._ctr.container_ids()
        known = self._registry.known_ids(cri.RUNTIME)
        changed = [i for i in ids if full or i not in known or tasks.get(i, 0) != self._pids.get(i, 0)]
        infos = []
        for container_id in changed:
            try:
                infos.append(self._ctr.info(container_id))
            except NotFound:
                continue  # removed since the listing
        self._pids = {i: pid for i, pid in tasks.items() if pid}
        self._ran.update(tasks)
        # sandboxes first: their pods name the app containers
        for info in sorted(infos, key=lambda i: not cri.is_sandbox(i)):
            self._describe(info)
        for container_id in known - set(ids):
            self._forget(container_id)
        return len(self._registry.known_ids(cri.RUNTIME))

    def _inspect(self, container_id: str) -> None:
        try:
            info = self._ctr.info(container_id)
        except NotFound:
            self._forget(container_id)
            return
        self._describe(info)

    def _describe(self, info: dict[str, Any]) -> None:
        if not cri.is_pod_container(info):
            return
        container_id, uid = info["ID"], cri.pod_uid(info)
        pid = self._pids.get(container_id, 0)
        addresses: tuple[str, ...] = ()
        if cri.is_sandbox(info):
            addresses, host_network = pod_addresses(self._proc_root, pid)
            pod = cri.pod_of(info, self._api_facts(info, uid))
            if uid:
                self._pods[uid] = (pod, host_network)
        else:
            pod, host_network = self._pods.get(uid, (None, False))
        try:
            state = "running" if pid else "exited" if container_id in self._ran else "created"
            record = cri.record_from_info(info, pod, self._node, pid, state, self._started.get(container_id),
                                          addresses, host_network)
            path = cri.cgroup_path(info)
        except ValueError as err:
            log.error("skipping containerd container %s: %s", container_id[:12], err)
            return
        self._registry.upsert(record)
        self._learn(container_id, pid, (path,) if path else ())

    def _api_facts(self, sandbox: dict[str, Any], uid: str) -> Optional[PodFacts]:
        """The API server's word on the pod: asked once per pod, and again while it could not tell."""
        known = self._pods.get(uid)
        if known is not None and known[0].owners is not None:
            return PodFacts(dict(known[0].annotations), list(known[0].owners), dict(known[0].labels))
        if self._kube_api is None:
            return None
        labels = sandbox.get("Labels") or {}
        return self._kube_api.pod(labels[POD_NAMESPACE_LABEL], labels[POD_NAME_LABEL])

    def _job(self, job: Callable[..., Any], *args: Any) -> None:
        """A job on the worker; quiet when containerd is down (the event thread says so)."""
        try:
            with self._lock:
                job(*args)
        except CtrError as err:
            log.debug("containerd call from the background failed: %s", err)


def pod_addresses(proc_root: str, pid: int) -> tuple[tuple[str, ...], bool]:
    """(the pod's IPs, whether it shares the host's network) from its sandbox's process: the addresses of
    the network namespace the process is in. The host's is pid 1's; a gone process tells nothing."""
    if not pid:
        return (), False
    try:
        found = netns_addresses(f"{proc_root}/{pid}/net")
    except (FileNotFoundError, ProcessLookupError):
        return (), False
    if found == netns_addresses(f"{proc_root}/1/net"):
        return (), True
    # loopback and link-local addresses are the same in every pod: they name none
    ips = (ipaddress.ip_address(a) for a in found)
    return tuple(sorted(str(ip) for ip in ips if not (ip.is_loopback or ip.is_link_local))), False
