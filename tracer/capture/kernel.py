"""What the running kernel offers, found by looking (never by version guessing).

Used by the loader to pick hooks and by `intuition doctor` to report. Nothing here imports bcc.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

TRACEFS_CANDIDATES = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
CGROUP_FS = "/sys/fs/cgroup"
# The v1 hierarchy whose cgroup names a container: every runtime puts containers in the memory controller.
CGROUP_V1_CONTROLLER = "memory"


def tracefs() -> str | None:
    for path in TRACEFS_CANDIDATES:
        if os.path.isdir(os.path.join(path, "events")):
            return path
    return None


# The oldest kernel the probes load on: their events go through a BPF ring buffer (Linux 5.8), which is newer
# than the batch map reads the drain uses (5.6) and the tracepoints below. Distributions may backport it, so
# `intuition doctor` loads the probes rather than trusting the version.
MIN_KERNEL = (5, 8)
# The sock length tracepoints: bytes and request parsing; without them bytes come from kprobes, unparsed.
SOCK_LENGTH_KERNEL = (6, 3)


def version_text(version: tuple[int, int]) -> str:
    return f"Linux {version[0]}.{version[1]}"


def release_version(release: str) -> tuple[int, int] | None:
    """(major, minor) of a release string such as "6.1.0-13-amd64"; None if it does not start with one."""
    match = re.match(r"(\d+)\.(\d+)", release)
    return (int(match.group(1)), int(match.group(2))) if match else None


# Tracepoints the probes attach to unconditionally; the sock length ones have a kprobe fallback.
REQUIRED_TRACEPOINTS = (("sock", "inet_sock_set_state"), ("tcp", "tcp_destroy_sock"), ("tcp", "tcp_retransmit_skb"),
                        ("tcp", "tcp_send_reset"), ("tcp", "tcp_receive_reset"))
OPTIONAL_TRACEPOINTS = (("sock", "sock_send_length"), ("sock", "sock_recv_length"))


def tracepoint_exists(category: str, event: str) -> bool:
    root = tracefs()
    return bool(root) and os.path.isdir(os.path.join(root, "events", category, event))


def tracepoint_has_field(category: str, event: str, name: str) -> bool:
    """Whether the tracepoint's format names the field (its arguments changed across kernel versions)."""
    root = tracefs()
    try:
        with open(os.path.join(root or "", "events", category, event, "format")) as f:
            return any(f" {name};" in line for line in f if line.strip().startswith("field:"))
    except OSError:
        return False


def kprobes_available() -> bool:
    """kprobes through the perf PMU (what BCC uses first) or the legacy tracefs interface."""
    if os.path.exists("/sys/bus/event_source/devices/kprobe/type"):
        return True
    root = tracefs()
    return bool(root) and os.path.exists(os.path.join(root, "kprobe_events"))


@dataclass(frozen=True)
class CgroupLayout:
    mode: str  # "v2": pure unified hierarchy; "v1": legacy or hybrid (containers named by a v1 controller)
    root: str  # the hierarchy whose directory inodes the probes report as cgroup ids


def mount_points(mountinfo: str = "/proc/self/mountinfo") -> list[tuple[str, str, list[str]]]:
    """(mount point, fs type, super options) for every mount."""
    out = []
    with open(mountinfo) as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if len(fields) >= 5 and len(rfields) >= 3:
                out.append((fields[4], rfields[0], rfields[2].split(",")))
    return out


def cgroup_layout(mountinfo: str = "/proc/self/mountinfo") -> CgroupLayout | None:
    mounts = mount_points(mountinfo)
    for point, fstype, _ in mounts:
        if fstype == "cgroup2" and point == CGROUP_FS:
            return CgroupLayout("v2", point)
    for point, fstype, options in mounts:
        if fstype == "cgroup" and CGROUP_V1_CONTROLLER in options:
            return CgroupLayout("v1", point)
    return None
