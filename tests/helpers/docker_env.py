"""Real Docker for tests: a running dockerd, an image built offline, and containers, networks and Swarm
services that carry a per-run label, so that cleanup removes exactly what one test run made.

No registry is reachable, so the image is a tiny root filesystem (busybox and a usr-merged skeleton) made
with `docker import`; containers get the host's /usr bind-mounted read-only, which brings python3,
redis-server, nginx and postgres without copying them.

    env = DockerEnv()                      # skips (or fails in CI) without root or dockerd
    net = env.network("shop")
    api = env.run("api", "python3", "-m", "http.server", "80", compose=("shop", "api"), network=net)
    ...
    env.close()                            # removes every container, service and network of this run

Tests that restart dockerd, change its live-restore setting or use Swarm take the daemon exclusively
(DockerEnv(exclusive=True)); other DockerEnvs, in this run or another, wait for them.
"""
from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import signal
import subprocess
import tarfile
import time
import uuid
from typing import Callable, Iterator, NamedTuple, Optional

import docker
import requests

from tests.conftest import skip_or_fail
from tests.helpers.agent_metrics import named_services

IMAGE = "intuition-test:1"
TEST_LABEL = "intuition.test"  # value: the run id of the DockerEnv that made the object
DOCKERD_LOG = "/var/log/intuition-test-dockerd.log"
DOCKER_PIDFILE = "/var/run/docker.pid"
DAEMON_JSON = "/etc/docker/daemon.json"
LOCK_FILE = "/run/intuition-test-docker.lock"
DOCKER_CLI = "/usr/bin/docker"  # Debian's client matches Debian's dockerd (the one in /usr/local is newer)
HOST_USR = "/usr"
BUSYBOX = "/bin/busybox"  # Debian busybox-static: runs without any library
DAEMON_START_SECONDS = 60
LOCK_WAIT_SECONDS = 900


def wait_until(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.1):
    """Poll until condition() is truthy and return it; fail naming what did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def wait_equal(read: Callable[[], object], wanted: object, timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll until read() == wanted; fail showing the last value read. For numbers of a live agent, which its
    next drain may still complete: a first read that differs is not yet a failure."""
    last: list[object] = [None]

    def equal() -> bool:
        last[0] = read()
        return last[0] == wanted
    try:
        wait_until(equal, timeout, what, interval)
    except AssertionError as error:
        raise AssertionError(f"{error}: read {last[0]!r}, wanted {wanted!r}") from None


def wget_loop(url: str, count: int, pause: float = 0) -> list[str]:
    """A shell loop in a container: `count` HTTP GETs of url (bounded: count times at most)."""
    return ["sh", "-c", f"i=0; while [ $i -lt {count} ]; do busybox wget -q -O /dev/null {url} || exit 1; "
                        f"i=$((i+1)); sleep {pause}; done"]


# --- the daemon ------------------------------------------------------------------------------------

def _api() -> docker.APIClient:
    return docker.APIClient(version="auto", timeout=60)


def daemon_answers() -> bool:
    try:
        return _api().ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return False


def dockerd_pid() -> Optional[int]:
    try:
        with open(DOCKER_PIDFILE) as f:
            pid = int(f.read().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _alive(pid) else None


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def ensure_dockerd() -> None:
    """Start dockerd in the background (it outlives the tests, log in DOCKERD_LOG) unless it answers."""
    if daemon_answers():
        return
    if dockerd_pid() is None:
        with open(DOCKERD_LOG, "ab") as log:
            # setsid -f forks: dockerd belongs to init, not to this test process, which would leave it a zombie
            subprocess.run(["setsid", "-f", "dockerd"], stdout=log, stderr=log, stdin=subprocess.DEVNULL, check=True)
    wait_until(daemon_answers, DAEMON_START_SECONDS, f"dockerd to answer (its log: {DOCKERD_LOG})", 0.2)


def stop_dockerd() -> None:
    pid = dockerd_pid()
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not _alive(pid), DAEMON_START_SECONDS, "dockerd to exit")


def require_docker() -> None:
    """Skip the calling test without root or a startable dockerd; with INTUITION_REQUIRE_KERNEL=1, fail."""
    if os.geteuid() != 0:
        skip_or_fail("Docker tests need root")
    try:
        ensure_dockerd()
    except (OSError, AssertionError) as err:
        skip_or_fail(f"dockerd cannot start: {err}")


@contextlib.contextmanager
def live_restore() -> Iterator[None]:
    """dockerd with live-restore on (containers survive a daemon restart), then as it was before.
    Swarm refuses live-restore: use it outside `DockerEnv.swarm()`. Needs an exclusive DockerEnv."""
    _reload_live_restore(True)
    try:
        yield
    finally:
        ensure_dockerd()  # the test may have left it stopped
        _reload_live_restore(False)


def _reload_live_restore(enabled: bool) -> None:
    config = {}
    if os.path.exists(DAEMON_JSON):
        with open(DAEMON_JSON) as f:
            config = json.load(f)
    config["live-restore"] = enabled  # must be explicit: a reload without the key keeps the old value
    os.makedirs(os.path.dirname(DAEMON_JSON), exist_ok=True)
    with open(DAEMON_JSON, "w") as f:
        json.dump(config, f)
    os.kill(dockerd_pid(), signal.SIGHUP)
    wait_until(lambda: _api().info().get("LiveRestoreEnabled") == enabled, 30, f"live-restore={enabled}")


# --- the image -------------------------------------------------------------------------------------

def ensure_image(api: docker.APIClient) -> str:
    """The offline test image: busybox and a usr-merged skeleton whose /usr the host lends at run time."""
    if api.images(name=IMAGE):
        return IMAGE
    api.import_image_from_data(rootfs_tar(), repository=IMAGE.split(":")[0], tag=IMAGE.split(":")[1],
                               changes=['CMD ["sh"]'])
    return IMAGE


def rootfs_tar() -> bytes:
    """The test image's root filesystem as a tar: busybox and a usr-merged skeleton for the host's /usr."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for name in ("usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "etc", "proc", "sys", "dev", "run", "root",
                     "var/run", "var/log", "var/lib"):
            _add_dir(tar, name, 0o755)
        for name in ("tmp", "var/tmp"):
            _add_dir(tar, name, 0o1777)
        for name in ("bin", "sbin", "lib", "lib64"):
            _add_link(tar, name, f"usr/{name}")
        tar.add(BUSYBOX, "usr/bin/busybox")
        _add_link(tar, "usr/bin/sh", "busybox")
        _add_file(tar, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/sh\n"
                                     "postgres:x:999:999::/var/lib/postgresql:/bin/sh\n")
        _add_file(tar, "etc/group", "root:x:0:\nnogroup:x:65534:\npostgres:x:999:\n")
    return data.getvalue()


def _add_dir(tar: tarfile.TarFile, name: str, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, mode
    tar.addfile(info)


def _add_link(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    tar.addfile(info)


def _add_file(tar: tarfile.TarFile, name: str, text: str) -> None:
    body = text.encode()
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(body), 0o644
    tar.addfile(info, io.BytesIO(body))


# --- what one test run creates ---------------------------------------------------------------------

class Container(NamedTuple):
    id: str
    name: str
    pid: int  # main process on the host; 0 once it has exited
    ip: str  # on the network it was started on; "" without one


_held_locks: dict[str, int] = {"shared": 0, "exclusive": 0}  # in this process, to refuse self-deadlock


class DockerEnv:
    def __init__(self, exclusive: bool = False):
        require_docker()
        self.run_id = uuid.uuid4().hex[:10]
        self.exclusive = exclusive
        self._lock_fd = self._lock(exclusive)
        self.api = _api()
        self.image = ensure_image(self.api)
        self._swarm_started = False

    @property
    def labels(self) -> dict[str, str]:
        return {TEST_LABEL: self.run_id}

    def name(self, base: str) -> str:
        """A name unique to this run (tests of several engineers share one daemon)."""
        return f"{base}-{self.run_id}"

    def network(self, base: str, subnet: Optional[str] = None) -> str:
        """A bridge network; with a subnet, containers can be given addresses of their own (run's ip)."""
        name = self.name(base)
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)]) if subnet else None
        self.api.create_network(name, driver="bridge", labels=self.labels, ipam=ipam)
        return name

    def network_of_free_subnet(self, base: str, candidates: Iterator[str]) -> tuple[str, str]:
        """A network on the first candidate subnet that no other network on the host overlaps: (name, subnet)."""
        for subnet in candidates:
            try:
                return self.network(base, subnet), subnet
            except docker.errors.APIError as err:
                if "overlap" not in str(err):
                    raise
        raise AssertionError("every candidate subnet overlaps a network on this host")

    def run(self, base: str, *command: str, compose: Optional[tuple[str, str]] = None,
            labels: Optional[dict[str, str]] = None, network: Optional[str] = None,
            ports: Optional[dict[int, tuple[str, int]]] = None, binds: tuple[str, ...] = (),
            auto_remove: bool = False, mem_limit: Optional[int] = None, restart: Optional[str] = None,
            dns: tuple[str, ...] = (), user: Optional[str] = None, ip: Optional[str] = None) -> Container:
        """Start a container of the test image with the host's /usr and return it once it runs.

        compose=(project, service) adds the labels Compose would; ports maps container port -> (host ip,
        host port); binds are extra "host:container[:ro]" mounts; mem_limit in bytes (swap included: no swap);
        restart a restart policy's name such as "on-failure"; dns the servers Docker's resolver asks; user
        the uid (or a name in the image's /etc/passwd: root, nobody, postgres) its command runs as; ip the
        container's address on a network made with a subnet (Docker would hand a released one to the next)."""
        all_labels = dict(self.labels)
        if compose:
            all_labels.update({"com.docker.compose.project": compose[0], "com.docker.compose.service": compose[1]})
        all_labels.update(labels or {})
        host_config = self.api.create_host_config(
            binds=[f"{HOST_USR}:{HOST_USR}:ro", *binds], port_bindings=ports or {}, network_mode=network,
            auto_remove=auto_remove, mem_limit=mem_limit, memswap_limit=mem_limit,
            restart_policy={"Name": restart} if restart else None, dns=list(dns) or None)
        networking = self.api.create_networking_config(
            {network: self.api.create_endpoint_config(ipv4_address=ip)}) if ip else None
        created = self.api.create_container(
            self.image, list(command), name=self.name(base), labels=all_labels, host_config=host_config,
            ports=list(ports or {}), user=user, networking_config=networking)
        self.api.start(created["Id"])
        return self.container(created["Id"], network)

    def container(self, container_id: str, network: Optional[str] = None) -> Container:
        attrs = self.api.inspect_container(container_id)
        networks = attrs["NetworkSettings"]["Networks"] or {}
        ip = networks.get(network or "bridge", {}).get("IPAddress", "")
        return Container(attrs["Id"], attrs["Name"].lstrip("/"), attrs["State"]["Pid"], ip)

    def exec(self, container_id: str, *command: str) -> str:
        """Run a command in a running container; its output, or AssertionError with it on failure."""
        exec_id = self.api.exec_create(container_id, list(command))["Id"]
        output = self.api.exec_start(exec_id).decode(errors="replace")
        code = self.api.exec_inspect(exec_id)["ExitCode"]
        if code != 0:
            raise AssertionError(f"{' '.join(command)} exited {code} in {container_id[:12]}: {output}")
        return output

    def wait_listening(self, container: Container, port: int, timeout: float = 30) -> None:
        """Until a TCP server listens on port inside the container (read from its /proc/net/tcp*)."""
        hex_port = f":{port:04X} "

        def listening() -> bool:
            for table in ("tcp", "tcp6"):
                with open(f"/proc/{container.pid}/net/{table}") as f:
                    rows = f.read().splitlines()[1:]
                if any(hex_port in row and row.split()[3] == "0A" for row in rows):  # 0A: LISTEN
                    return True
            return False

        wait_until(listening, timeout, f"port {port} listening in {container.name}")

    @contextlib.contextmanager
    def swarm(self) -> Iterator[None]:
        """A single-node Swarm for the duration (left again if this run started it). Needs exclusive."""
        if not self.exclusive:
            raise RuntimeError("Swarm changes the daemon for everyone: use DockerEnv(exclusive=True)")
        if self.api.info()["Swarm"]["LocalNodeState"] != "active":
            self.api.init_swarm(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377")
            self._swarm_started = True
        try:
            yield
        finally:
            self._remove_services()
            if self._swarm_started:
                self.api.leave_swarm(force=True)
                self._swarm_started = False
                wait_until(lambda: self.api.info()["Swarm"]["LocalNodeState"] == "inactive", 30, "Swarm left")
                with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                    self.api.remove_network("docker_gwbridge")  # Swarm made it; nothing else uses it here

    def service(self, base: str, *command: str, replicas: int = 1, labels: Optional[dict[str, str]] = None,
                container_labels: Optional[dict[str, str]] = None, vip: bool = False,
                networks: tuple[str, ...] = ()) -> str:
        """Create a replicated Swarm service of the test image; its name. dnsrr unless vip: the overlay
        VIP is assigned here but carries no traffic."""
        spec = docker.types.ContainerSpec(
            self.image, command=list(command), labels={**self.labels, **(container_labels or {})},
            mounts=[docker.types.Mount(HOST_USR, HOST_USR, type="bind", read_only=True)])
        name = self.name(base)
        self.api.create_service(
            docker.types.TaskTemplate(spec), name=name, labels={**self.labels, **(labels or {})},
            mode=docker.types.ServiceMode("replicated", replicas=replicas), networks=list(networks),
            endpoint_spec=docker.types.EndpointSpec(mode="vip" if vip else "dnsrr"))
        return name

    def overlay_network(self, base: str) -> str:
        name = self.name(base)
        self.api.create_network(name, driver="overlay", attachable=True, labels=self.labels)
        return name

    def stack_deploy(self, stack: str, services: dict[str, list[str]]) -> None:
        """`docker stack deploy` of one-replica dnsrr services (name -> command) with the test image."""
        compose = {
            "version": "3.8",
            "services": {
                name: {
                    "image": self.image, "command": command, "labels": self.labels,
                    "volumes": [{"type": "bind", "source": HOST_USR, "target": HOST_USR, "read_only": True}],
                    "deploy": {"replicas": 1, "endpoint_mode": "dnsrr", "labels": self.labels},
                } for name, command in services.items()
            },
            "networks": {"default": {"labels": self.labels}},
        }
        subprocess.run([DOCKER_CLI, "stack", "deploy", "--compose-file", "-", stack], check=True,
                       input=json.dumps(compose), capture_output=True, text=True)

    def service_containers(self, service: str, count: int, timeout: float = 60) -> list[Container]:
        """The running containers of a Swarm service, once there are `count` of them."""
        def running():
            found = self.api.containers(filters={"label": f"com.docker.swarm.service.name={service}",
                                                 "status": "running"})
            return found if len(found) == count else None

        found = wait_until(running, timeout, f"{count} running containers of service {service}", 0.3)
        return [self.container(c["Id"]) for c in found]

    def close(self) -> None:
        """Remove every service, container and network this run labelled; release the daemon."""
        try:
            self._remove_services()
            selector = {"label": f"{TEST_LABEL}={self.run_id}"}
            for c in self.api.containers(all=True, filters=selector):
                with contextlib.suppress(docker.errors.NotFound):
                    self.api.remove_container(c["Id"], force=True)
            for n in self.api.networks(filters=selector):
                with contextlib.suppress(docker.errors.NotFound):
                    self.api.remove_network(n["Id"])
        finally:
            self._unlock()

    def _remove_services(self) -> None:
        if self.api.info()["Swarm"]["LocalNodeState"] != "active":
            return
        for s in self.api.services(filters={"label": f"{TEST_LABEL}={self.run_id}"}):
            with contextlib.suppress(docker.errors.NotFound):
                self.api.remove_service(s["ID"])
        tasks = {"label": [f"{TEST_LABEL}={self.run_id}", "com.docker.swarm.service.name"]}
        # their containers stop asynchronously, and the services' networks stay busy until they have
        wait_until(lambda: not self.api.containers(all=True, filters=tasks), 60, "Swarm tasks to go", 0.3)

    def _lock(self, exclusive: bool) -> int:
        kind = "exclusive" if exclusive else "shared"
        if _held_locks["exclusive"] or (exclusive and _held_locks["shared"]):
            raise RuntimeError("this process already holds a DockerEnv that conflicts: close it first")
        fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH

        def acquired() -> bool:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False

        wait_until(acquired, LOCK_WAIT_SECONDS, f"the {kind} Docker test lock {LOCK_FILE} (another test run "
                                                "restarting dockerd or using Swarm?)", 0.5)
        _held_locks[kind] += 1
        return fd

    def _unlock(self) -> None:
        if self._lock_fd < 0:
            return
        os.close(self._lock_fd)  # closing the descriptor releases the flock
        self._lock_fd = -1
        _held_locks["exclusive" if self.exclusive else "shared"] -= 1


def run_client_once_named(env: DockerEnv, agent_url: str, namespace: str, client, server: str) -> str:
    """Once the agent names the client and server services of namespace, lets the client container run (it
    waits for /tmp/go) and returns its output once it says "done"."""
    wait_until(lambda: named_services(agent_url, namespace) == {server, "client"}, 30, "both containers named",
               0.5)
    env.exec(client.id, "touch", "/tmp/go")
    wait_until(lambda: b"done" in env.api.logs(client.id), 120, "the client to finish", 0.5)
    return env.api.logs(client.id).decode()
