"""CPU time of processes from /proc and of this process's waited-for children (wrk, run to its end), for the
benchmarks that weigh a cost by the CPU it takes rather than by throughput."""
from __future__ import annotations

import os
import resource


def cpu_seconds(pid: int) -> float:
    """User and system time of a process, all threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")   # utime, stime


def machine_busy_seconds() -> float:
    """Busy time of the whole machine, both CPUs: user, nice, system, irq and softirq. A task's system time
    holds the irq and softirq ticks that land while it runs (loopback's softirq work, mostly), so a sum of
    tasks' times is comparable with this total, not with user and system alone."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq = (int(field) for field in f.readline().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def nginx_workers(master: int) -> list[int]:
    with open(f"/proc/{master}/task/{master}/children") as f:
        return [int(pid) for pid in f.read().split()]


def nginx_cpu_seconds(master: int) -> float:
    """nginx's master and its workers."""
    return sum(cpu_seconds(pid) for pid in nginx_workers(master)) + cpu_seconds(master)


def on_cpu_seconds(pid: int) -> float:
    """Time the scheduler ran a task (/proc/PID/schedstat, in ns): for spans too short for clock ticks."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0]) / 1e9
