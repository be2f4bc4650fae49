"""Debian's Prometheus on loopback, scraping the session's agent, for the end-to-end tests (a pytest plugin)."""
from __future__ import annotations

import shutil
import subprocess

import pytest
import requests

from tests.conftest import skip_or_fail
from tests.helpers.docker_env import wait_until
from tests.helpers.servers import free_port


@pytest.fixture(scope="module")
def prometheus(agent_url, tmp_path_factory):
    """Prometheus on loopback, scraping the agent every 2 s (a scrape may take a second on a busy 2-core host);
    yields its query function."""
    binary = shutil.which("prometheus")
    if binary is None:
        skip_or_fail("Debian's prometheus is not installed (scripts/setup.sh --test installs it)")
    home = tmp_path_factory.mktemp("prometheus")
    target = agent_url.removeprefix("http://")
    (home / "prometheus.yml").write_text(
        "global: {scrape_interval: 2s, scrape_timeout: 2s, evaluation_interval: 2s}\n"
        "scrape_configs:\n"
        f"  - job_name: intuition\n    static_configs: [{{targets: ['{target}']}}]\n"
    )
    port = free_port()
    process = subprocess.Popen(
        [binary, f"--config.file={home / 'prometheus.yml'}", f"--storage.tsdb.path={home / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=open(home / "prometheus.log", "wb"),
    )
    api = f"http://127.0.0.1:{port}/api/v1/query"

    def query(promql: str, at: float | None = None) -> list:
        params = {"query": promql} if at is None else {"query": promql, "time": at}
        body = requests.get(api, params=params, timeout=10).json()
        assert body["status"] == "success", body
        return body["data"]["result"]

    def ready():
        try:
            return requests.get(f"http://127.0.0.1:{port}/-/ready", timeout=2).status_code == 200
        except requests.ConnectionError:
            assert process.poll() is None, (home / "prometheus.log").read_text()
            return False

    query.url = f"http://127.0.0.1:{port}"  # for tests that point a dashboard at this Prometheus
    try:
        wait_until(ready, 60, "Prometheus to be ready", 0.5)
        yield query
    finally:
        process.terminate()
        process.wait(30)


def scalar(result: list) -> float | None:
    return float(result[0]["value"][1]) if result else None
