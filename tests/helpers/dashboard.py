"""`intuition dashboard --prometheus URL` as a user runs it: the real CLI, as user nobody (it needs no root)."""
from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tests.helpers.servers import free_port, wait_answering

REPO = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def running_dashboard(prometheus_url: str, log: Path) -> Iterator[str]:
    """The dashboard reading `prometheus_url`, healthy; yields its URL and checks it stops cleanly."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tracer", "dashboard", "--prometheus", prometheus_url, "--listen", f"127.0.0.1:{port}"],
        cwd=REPO, user="nobody", stdout=subprocess.DEVNULL, stderr=open(log, "wb"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_answering(f"{url}/healthz", process, log, 60, "a healthy dashboard")
        yield url
    finally:
        process.terminate()
        assert process.wait(30) == 0, log.read_text()
