"""`intuition doctor`: checks what the agent needs, one line each with the fix, exit 1 if it cannot run."""
from __future__ import annotations

import contextlib
import os
import platform
from dataclasses import dataclass
from typing import Callable

from . import btf, kernel, loader

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


def check_kernel() -> Check:
    return Check("kernel", OK, f"Linux {platform.release()}")


def check_btf(path: str = btf.VMLINUX_BTF) -> Check:
    try:
        with btf.KernelBTF(path) as b:
            b.offset("sock", "sk_err")
    except btf.BTFError as e:
        return Check("BTF", WARN, f"{e}: the agent runs on tracepoint fields only (no request parsing, "
                     "connect failure reasons unknown)", "use a kernel built with CONFIG_DEBUG_INFO_BTF=y")
    return Check("BTF", OK, f"{path} (struct offsets are read from it)")


def check_headers(release: str = platform.release(), modules: str = "/lib/modules") -> Check:
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


def check_hooks() -> list[Check]:
    """Load and attach trivial programs of each kind: a kernel may list a hook type and still refuse it."""
    checks = []
    tracepoints = kernel.REQUIRED_TRACEPOINTS + kernel.OPTIONAL_TRACEPOINTS
    missing = [f"{c}:{e}" for c, e in tracepoints if not kernel.tracepoint_exists(c, e)]
    if missing:
        needs_fail = any(not kernel.tracepoint_exists(c, e) for c, e in kernel.REQUIRED_TRACEPOINTS)
        checks.append(Check("tracepoints", FAIL if needs_fail else WARN, "missing " + ", ".join(missing),
                            "Intuition needs Linux 4.16+; byte counting uses kprobes where the sock length tracepoints (6.3+) are absent"))
    else:
        checks.append(Check("tracepoints", OK, "all present: " + ", ".join(f"{c}:{e}" for c, e in tracepoints)))
    try:
        bcc = loader._bcc()
    except loader.ProbeError:
        return checks
    with open(os.path.join(loader.PROBES_DIR, "capabilities.c")) as f:
        text = f.read().encode()
    holder = {}
    err = _attach(lambda: holder.setdefault("b", bcc.BPF(text=text)))
    if err:
        checks.append(Check("BPF programs", FAIL, f"cannot compile a trivial program: {err}",
                            "check the kernel headers and BCC installation"))
        return checks
    b = holder["b"]
    try:
        err = _attach(lambda: b.attach_tracepoint(tp=b"sock:inet_sock_set_state", fn_name=b"try_tracepoint"))
        checks.append(Check("tracepoint attach", FAIL if err else OK, err or "works", "" if not err else "needs root and tracefs"))
        err = _attach(lambda: b.attach_kprobe(event=b"tcp_sendmsg", fn_name=b"try_kprobe"))
        checks.append(Check("kprobes", WARN if err else OK, f"refused: {err}" if err else "work",
                            "kernel built without CONFIG_KPROBES: bytes come from the sock length tracepoints"))
    finally:
        b.cleanup()
    with open(os.path.join(loader.PROBES_DIR, "capability_fentry.c")) as f:
        fentry = f.read().encode()
    err = _attach(lambda: bcc.BPF(text=fentry).cleanup())
    checks.append(Check("fentry", WARN if err else OK, f"refused: {err}" if err else "works",
                        "not needed: Intuition uses tracepoints or kprobes"))
    return checks


def run_checks(docker_url: str | None = None) -> list[Check]:
    checks = [check_kernel(), check_root(), check_btf(), check_headers(), check_bcc(), check_tracefs(), check_cgroups()]
    if all(c.status != FAIL for c in checks):
        checks += check_hooks()
    checks.append(check_docker(docker_url))
    return checks
