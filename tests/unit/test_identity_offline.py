"""Identity without Docker: it starts without blocking, names host processes, and says so once."""
import logging
import os
import time

from tests.helpers.docker_env import wait_until
from tracer.identity import Endpoint, Identity
from tracer.identity.docker_source import BACKOFF_MAX_SECONDS


def test_without_docker_host_processes_are_named_and_the_outage_logged_once(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="tracer.identity")
    (tmp_path / "memory").mkdir()
    identity = Identity(str(tmp_path / "memory"), "v1", docker_url=f"unix://{tmp_path}/no-docker.sock")
    started = time.monotonic()
    identity.start()
    try:
        assert time.monotonic() - started < 1.0  # never waits for Docker
        assert identity.local(0, os.getpid(), "pytest") == Endpoint("host:pytest", "host", None)
        assert identity.services() == [] and identity.endpoints() == []
        wait_until(lambda: len(caplog.records) >= 1, 10, "the outage to be logged")
        time.sleep(2 * BACKOFF_MAX_SECONDS)  # several reconnect attempts: still one message
        assert not identity.docker_connected and identity.resyncs == 0
    finally:
        identity.stop()
    unreachable = [r for r in caplog.records if "Docker unreachable" in r.getMessage()]
    assert len(unreachable) == 1, [r.getMessage() for r in caplog.records]
