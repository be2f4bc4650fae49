"""Each container's own health: CPU, memory and its limit from the cgroup files, restarts, OOM kills and exit
codes from Docker's events."""
from .cgroup_stats import CgroupStats, Usage
from .tracker import ContainerHealth

__all__ = ["CgroupStats", "ContainerHealth", "Usage"]
