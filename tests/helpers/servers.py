"""Real servers from Debian, run as host processes on loopback with temporary data, for request tests."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile

import pytest

PG_BIN = "/usr/lib/postgresql/15/bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_port():
    """A throwaway PostgreSQL 15 cluster (trust auth) on 127.0.0.1; yields its port."""
    if not os.path.exists(f"{PG_BIN}/initdb"):
        pytest.skip("postgresql 15 is not installed")
    base = tempfile.mkdtemp(prefix="intuition-pg-")
    shutil.chown(base, "postgres")
    port = free_port()
    as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(as_postgres + [f"{PG_BIN}/initdb", "-D", f"{base}/data", "-A", "trust"],
                   check=True, capture_output=True, timeout=120)
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1"
    subprocess.run(as_postgres + [f"{PG_BIN}/pg_ctl", "-D", f"{base}/data", "-o", options, "-l", f"{base}/log",
                                  "-w", "-t", "60", "start"], check=True, capture_output=True, timeout=90)
    try:
        yield port
    finally:
        subprocess.run(as_postgres + [f"{PG_BIN}/pg_ctl", "-D", f"{base}/data", "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=90)
        shutil.rmtree(base, ignore_errors=True)
