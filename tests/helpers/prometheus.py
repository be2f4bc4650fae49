"""Debian's Prometheus on loopback, scraping the session's agent, for the end-to-end tests (a pytest plugin)."""
from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import skip_or_fail
from tests.helpers.servers import free_port, wait_answering


def query_api(url: str):
    """The instant-query function of a Prometheus-compatible server at `url`, with `url` as its attribute."""
    def query(promql: str, at: float | None = None) -> list:
        params = {"query": promql} if at is None else {"query": promql, "time": at}
        body = requests.get(f"{url}/api/v1/query", params=params, timeout=10).json()
        assert body["status"] == "success", body
        return body["data"]["result"]

    query.url = url  # for tests that point a dashboard at this server
    return query


@contextlib.contextmanager
def running_prometheus(home: Path, config: str, port: int | None = None) -> Iterator:
    """Prometheus with the YAML `config` (scraping every 2 s unless it says otherwise: a scrape may take a
    second on a busy 2-core host), its data in `home`; yields its query function."""
    binary = shutil.which("prometheus")
    if binary is None:
        skip_or_fail("Debian's prometheus is not installed (scripts/setup.sh --test installs it)")
    (home / "prometheus.yml").write_text(
        "global: {scrape_interval: 2s, scrape_timeout: 2s, evaluation_interval: 2s}\n" + config)
    port = port or free_port()
    with query_server([binary, f"--config.file={home / 'prometheus.yml'}", f"--storage.tsdb.path={home / 'data'}",
                       f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                      f"http://127.0.0.1:{port}", "/-/ready", home / "prometheus.log", "Prometheus") as query:
        yield query


@contextlib.contextmanager
def query_server(command: list[str], url: str, ready_path: str, log: Path, name: str) -> Iterator:
    """A Prometheus-compatible server run as `command`, its output in `log`; yields its query function
    once `ready_path` answers, and stops it after."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(log, "wb"))
    try:
        wait_answering(f"{url}{ready_path}", process, log, 60, f"{name} to be ready")
        yield query_api(url)
    finally:
        process.terminate()
        process.wait(30)


@pytest.fixture(scope="module")
def prometheus(agent_url, tmp_path_factory):
    """Prometheus on loopback, scraping the session's agent; yields its query function."""
    target = agent_url.removeprefix("http://")
    config = f"scrape_configs:\n  - job_name: intuition\n    static_configs: [{{targets: ['{target}']}}]\n"
    with running_prometheus(tmp_path_factory.mktemp("prometheus"), config) as query:
        yield query


def scalar(result: list) -> float | None:
    return float(result[0]["value"][1]) if result else None
