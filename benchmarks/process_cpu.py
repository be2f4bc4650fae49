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


def machine_task_cpu_seconds() -> float:
    """User and system time of every task on the machine, both CPUs; softirq and irq time apart (loopback's
    softirq work is counted there, not in the tasks that cause it)."""
    with open("/proc/stat") as f:
        user, nice, system = (int(field) for field in f.readline().split()[1:4])
    return (user + nice + system) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def nginx_workers(master: int) -> list[int]:
    with open(f"/proc/{master}/task/{master}/children") as f:
        return [int(pid) for pid in f.read().split()]


def nginx_cpu_seconds(master: int) -> float:
    """nginx's master and its workers."""
    return sum(cpu_seconds(pid) for pid in nginx_workers(master)) + cpu_seconds(master)
