"""`intuition doctor`: checks what the agent needs, one line each with the fix, exit 1 if it cannot run."""
from __future__ import annotations

import contextlib
import os
import platform
import shutil
from dataclasses import dataclass
from typing import Callable, Sequence

from .capture import btf, kernel, loader
from .identity.containerd_source import Ctr, CtrError
from .identity.identity import CONTAINERD_SOCKETS

OK, WARN, FAIL = "ok", "warn", "FAIL"


@dataclass
class Check:
    name: str
    status: str  # OK, WARN or FAIL: FAIL means the agent cannot run
    detail: str
    fix: str = ""


def render(checks: list[Check]) -> str:
    lines = []
    for c in checks:
        line = f"{c.status:<4}  {c.name}: {c.detail}"
        if c.fix and c.status != OK:
            line += f"\n      fix: {c.fix}"
        lines.append(line)
    failed = [c.name for c in checks if c.status == FAIL]
    lines.append("the agent cannot run: " + ", ".join(failed) if failed else "the agent can run on this host")
    return "\n".join(lines)


def exit_code(checks: list[Check]) -> int:
    return 1 if any(c.status == FAIL for c in checks) else 0


def check_root() -> Check:
    if os.geteuid() == 0:
        return Check("privileges", OK, "running as root")
    return Check("privileges", FAIL, "not root", "run as root (loading BPF programs needs CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN)")


FLOOR = kernel.version_text(kernel.MIN_KERNEL)
SOCK_LENGTH = kernel.version_text(kernel.SOCK_LENGTH_KERNEL)
NEEDS = (f"Intuition needs {FLOOR}+ (the BPF ring buffer; batch map reads came in 5.6) and {SOCK_LENGTH}+ "
         "to parse requests (the sock length tracepoints; before that bytes are counted with kprobes)")


def check_kernel(release: str = platform.release()) -> Check:
    """What the version promises; the probe load below is what decides (distributions backport features)."""
    version = kernel.release_version(release)
    if version is None:
        return Check("kernel", WARN, f"Linux {release}: version not understood, the probe load below decides", NEEDS)
    if version < kernel.MIN_KERNEL:
        return Check("kernel", WARN, f"Linux {release} is older than {FLOOR}: the probes load only if it "
                     "backports the BPF ring buffer (the probe load below says)", f"upgrade to {FLOOR} or newer")
    if version < kernel.SOCK_LENGTH_KERNEL:
        return Check("kernel", OK, f"Linux {release} (>= {FLOOR}; before {SOCK_LENGTH} bytes are counted with "
                     "kprobes and requests are not parsed)")
    return Check("kernel", OK, f"Linux {release} (>= {SOCK_LENGTH}: every feature of the probes)")


def check_btf(path: str = btf.VMLINUX_BTF) -> Check:
    try:
        with btf.KernelBTF(path) as b:
            b.offset("sock", "sk_err")
    except btf.BTFError as e:
        return Check("BTF", WARN, f"{e}: the agent runs on tracepoint fields only (no request parsing, "
                     "connect failure reasons unknown)", "use a kernel built with CONFIG_DEBUG_INFO_BTF=y")
    return Check("BTF", OK, f"{path} (struct offsets are read from it)")


def check_headers(release: str = platform.release(), modules: str = "/lib/modules",
                  kernel_source: str | None = None) -> Check:
    """BCC compiles against $BCC_KERNEL_SOURCE (one merged tree) when set, else the running kernel's
    build/source trees under /lib/modules."""
    kernel_source = os.environ.get("BCC_KERNEL_SOURCE") if kernel_source is None else kernel_source
    if kernel_source:
        if os.path.exists(os.path.join(kernel_source, "include", "linux", "kconfig.h")):
            return Check("kernel headers", OK, f"{kernel_source} from BCC_KERNEL_SOURCE (offsets come from BTF)")
        return Check("kernel headers", FAIL, f"BCC_KERNEL_SOURCE={kernel_source} has no include/linux/kconfig.h",
                     "point BCC_KERNEL_SOURCE at a kernel header tree, or unset it")
    for name in ("build", "source"):
        tree = os.path.join(modules, release, name)
        if os.path.exists(os.path.join(tree, "include", "linux", "kconfig.h")):
            target = os.path.realpath(tree)
            note = "" if release in target else " (another kernel's headers: fine, offsets come from BTF)"
            return Check("kernel headers", OK, f"{tree} -> {target}{note}")
    return Check("kernel headers", FAIL, f"none at {modules}/{release}/build",
                 "run scripts/setup.sh (installs linux-headers for this kernel or links Debian's 6.1 headers)")


def check_bcc() -> Check:
    try:
        bcc = loader._bcc()
    except loader.ProbeError as e:
        return Check("BCC", FAIL, str(e), "apt-get install python3-bpfcc")
    return Check("BCC", OK, f"version {getattr(bcc, '__version__', 'unknown')} from {os.path.dirname(bcc.__file__)}")


def check_tracefs() -> Check:
    path = kernel.tracefs()
    if path:
        return Check("tracefs", OK, path)
    return Check("tracefs", FAIL, "not mounted", "mount -t tracefs nodev /sys/kernel/tracing")


def check_cgroups() -> Check:
    layout = kernel.cgroup_layout()
    if layout is None:
        return Check("cgroups", WARN, "no cgroup2 at /sys/fs/cgroup and no v1 memory hierarchy",
                     "containers cannot be told apart by cgroup; mount cgroup2 on /sys/fs/cgroup")
    return Check("cgroups", OK, f"{layout.mode}, containers named from {layout.root}")


def check_docker(url: str | None = None) -> Check:
    try:
        import docker

        client = docker.DockerClient(base_url=url, timeout=3) if url else docker.from_env(timeout=3)
        version = client.version().get("Version", "?")
    except Exception as e:  # any failure means the same thing to the user
        return Check("docker", WARN, f"engine not reachable ({e.__class__.__name__})",
                     "start dockerd or mount /var/run/docker.sock; until then processes are named host:<comm>")
    return Check("docker", OK, f"engine {version}")


def check_containerd(sockets: Sequence[str] = CONTAINERD_SOCKETS, binary: str = "ctr") -> list[Check]:
    """One line per containerd socket found (a Kubernetes node's runtime): can the agent read its pods?"""
    checks = []
    for socket in (s for s in sockets if os.path.exists(s)):
        if shutil.which(binary) is None:
            checks.append(Check("containerd", WARN, f"{socket} found, but no `{binary}` command",
                                "install containerd's ctr client (Debian: the containerd package; the agent's "
                                "image carries it); until then its pods are named by container id"))
            continue
        try:
            version = Ctr(socket, binary).server_version()
        except CtrError as e:
            checks.append(Check("containerd", WARN, f"{socket} not answering ({e})",
                                "check the socket and the daemon; until then its pods are named by container id"))
            continue
        checks.append(Check("containerd", OK, f"{version} at {socket}, Kubernetes pods named by workload"))
    return checks


@contextlib.contextmanager
def _quiet_stderr():
    """libbcc writes its own diagnostics to file descriptor 2; the report already says what failed."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _attach(what: Callable[[], object]) -> str | None:
    """None if it worked, else the reason."""
    try:
        with _quiet_stderr():
            what()
    except Exception as e:
        return str(e).splitlines()[0] if str(e) else e.__class__.__name__
    return None


def check_tracepoints() -> Check:
    tracepoints = kernel.REQUIRED_TRACEPOINTS + kernel.OPTIONAL_TRACEPOINTS
    missing = [f"{c}:{e}" for c, e in tracepoints if not kernel.tracepoint_exists(c, e)]
    if not missing:
        return Check("tracepoints", OK, "all present: " + ", ".join(f"{c}:{e}" for c, e in tracepoints))
    if any(not kernel.tracepoint_exists(c, e) for c, e in kernel.REQUIRED_TRACEPOINTS):
        return Check("tracepoints", FAIL, "missing " + ", ".join(missing), f"upgrade the kernel: {NEEDS}")
    return Check("tracepoints", WARN, "missing " + ", ".join(missing),
                 f"bytes are counted with kprobes and requests are not parsed; {SOCK_LENGTH}+ has these tracepoints")


def _uses_kprobes(info: loader.ProbeInfo) -> bool:
    return "kprobe" in info.hooks.values()


def check_probes(load: Callable[[], tuple[object, loader.ProbeInfo]], kprobes: Callable[[], Check]) -> list[Check]:
    """Load and attach the agent's own probes as it does, use their ring buffer and batch map reads as its
    drain does, then detach. A kernel may list a feature and still refuse it. Where the probes count bytes
    with the tracepoints, `kprobes` tells whether the fallback path of older kernels works too."""
    holder = {}
    err = _attach(lambda: holder.update(zip(("b", "info"), load())))
    if err:
        return [Check("probes", FAIL, f"the agent's probes did not load: {err}", f"see the checks above; {NEEDS}")]
    b, info = holder["b"], holder["info"]
    try:
        checks = [Check(f"hook {hook}", OK, mechanism) for hook, mechanism in sorted(info.hooks.items())]
        err = _attach(lambda: (b[b"events"].open_ring_buffer(lambda *_: None), b.ring_buffer_consume()))
        checks.append(Check("BPF ring buffer", FAIL if err else OK, f"refused: {err}" if err else "events read back",
                            f"upgrade to {FLOOR} or newer"))
        err = _attach(lambda: list(b[b"flows"].items_lookup_batch()))
        checks.append(Check("batch map reads", FAIL if err else OK, f"refused: {err}" if err else "counters drained",
                            f"upgrade to {FLOOR} or newer (batch map reads need 5.6)"))
    finally:
        b.cleanup()
    checks.append(check_requests(info))
    if not _uses_kprobes(info):
        checks.append(kprobes())
    return checks


def check_requests(info: loader.ProbeInfo) -> Check:
    if info.l7:
        refused = sorted(set(loader.L7_PARSERS) - set(info.hooks))
        if refused:
            return Check("request parsing", WARN, "the verifier refused " + ", ".join(refused),
                         "their protocols are counted as bytes only; run the agent with --verbose for the reason")
        return Check("request parsing", OK, "every parser loaded, fed by the sock length tracepoints")
    if _uses_kprobes(info):
        return Check("request parsing", WARN, "off: bytes are counted with kprobes",
                     f"upgrade to {SOCK_LENGTH} or newer (the sock length tracepoints carry the payload path)")
    if not info.btf:
        return Check("request parsing", WARN, "off: no kernel BTF", "use a kernel built with CONFIG_DEBUG_INFO_BTF=y")
    return Check("request parsing", WARN, f"off on {platform.machine()}", "the probes read x86_64 syscall registers only")


def check_kprobes() -> Check:
    """A trivial kprobe: kprobes are the bytes path of kernels without the sock length tracepoints."""
    bcc = loader._bcc()
    with open(os.path.join(loader.PROBES_DIR, "capabilities.c")) as f:
        text = f.read().encode()

    def attach():
        b = bcc.BPF(text=text)
        try:
            b.attach_kprobe(event=b"tcp_sendmsg", fn_name=b"try_kprobe")
        finally:
            b.cleanup()

    err = _attach(attach)
    return Check("kprobes", WARN if err else OK, f"refused: {err}" if err else "work (the fallback bytes path)",
                 f"not needed here: kernels before {SOCK_LENGTH} count bytes with kprobes (CONFIG_KPROBES)")


def check_hooks() -> list[Check]:
    tracepoints = check_tracepoints()
    if tracepoints.status == FAIL:
        return [tracepoints]
    return [tracepoints] + check_probes(lambda: loader.load(loader.CaptureConfig()), check_kprobes)


def run_checks(docker_url: str | None = None) -> list[Check]:
    checks = [check_kernel(), check_root(), check_btf(), check_headers(), check_bcc(), check_tracefs(), check_cgroups()]
    if all(c.status != FAIL for c in checks):
        checks += check_hooks()
    checks.append(check_docker(docker_url))
    return checks + check_containerd()
