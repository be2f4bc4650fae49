"""cgroup hierarchies for tests."""
from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator

from tracer.capture import kernel


@contextlib.contextmanager
def cgroup2_hierarchy() -> Iterator[str]:
    """A mounted cgroup2 hierarchy: the host's if it has one, else a private mount removed afterwards."""
    for point, fstype, _ in kernel.mount_points():
        if fstype == "cgroup2":
            yield point
            return
    path = tempfile.mkdtemp(prefix="intu-cgroup2-")
    subprocess.run(["mount", "-t", "cgroup2", "none", path], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", path], check=False)
        os.rmdir(path)
