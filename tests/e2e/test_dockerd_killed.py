"""dockerd killed (issue 11): with live-restore on, SIGKILL the daemon and start it again while two containers
keep talking. The running agent keeps serving, resyncs within 5 s of the daemon answering again, and the edge
between the two containers stays named the same with counters that only grow."""
from __future__ import annotations

import os
import signal

import pytest
import requests

from tests.helpers.agent import running_agent
from tests.helpers.agent_metrics import scrape
from tests.helpers.docker_env import DockerEnv, daemon_answers, dockerd_pid, ensure_dockerd, live_restore, wait_until, \
    wget_loop

pytestmark = [pytest.mark.docker, pytest.mark.kernel]
OPENED = "intuition_tcp_connections_opened_total"
RESYNCS = ("intuition_docker_resyncs_total", frozenset())
RESYNC_SECONDS = 5
REQUESTS, PAUSE = 1500, 0.1  # bounded: the client's loop ends after a few minutes at most


class EdgeWatch:
    """The namespace's TCP edges as /metrics shows them, scraped over and over: each scrape must keep the
    edge's name and never lower a counter."""

    def __init__(self, url: str, namespace: str):
        self.url, self.namespace = url, namespace
        self.last: dict[str, float] = {}  # reporter -> connections opened on the edge
        self.resyncs = 0.0

    def scrape(self) -> dict[str, float]:
        samples = scrape(self.url)
        opened: dict[str, float] = {}
        for (name, labels), value in samples.items():
            labels = dict(labels)
            if name != OPENED or self.namespace not in (labels["client_namespace"], labels["server_namespace"]):
                continue
            edge = (labels["client"], labels["client_namespace"], labels["server"], labels["server_namespace"])
            assert edge == ("web", self.namespace, "api", self.namespace), f"the edge was renamed: {labels}"
            opened[labels["reporter"]] = value
        assert not any(name == OPENED and ("client", "host:wget") in labels for name, labels in samples), \
            "the client container lost its name"
        for reporter, value in self.last.items():
            assert opened.get(reporter, 0) >= value, f"{reporter}'s count went down: {value} -> {opened.get(reporter)}"
        self.last = opened
        self.resyncs = samples.get(RESYNCS, 0)
        return opened

    def wait_growth(self, what: str) -> None:
        """Until both ends have counted more connections than now."""
        before = dict(self.last) or {"client": 0, "server": 0}
        wait_until(lambda: (now := self.scrape()) and all(now.get(r, 0) > v for r, v in before.items()), 30,
                   f"the edge to grow {what}", 0.3)


def test_dockerd_sigkill_and_restart_keeps_the_edge_named_and_resyncs():
    env = DockerEnv(exclusive=True)
    try:
        with live_restore():
            namespace = env.name("ftkill")
            network = env.network("ftkill")
            api = env.run("api", "python3", "-m", "http.server", "80", compose=(namespace, "api"), network=network)
            env.wait_listening(api, 80)
            with running_agent({}) as url:
                env.run("web", *wget_loop(f"http://{api.ip}/", REQUESTS, PAUSE), compose=(namespace, "web"),
                        network=network)
                watch = EdgeWatch(url, namespace)
                watch.wait_growth("before the kill")

                resyncs = watch.resyncs
                pid = dockerd_pid()
                os.kill(pid, signal.SIGKILL)
                wait_until(lambda: not daemon_answers(), 30, "dockerd to stop answering", 0.2)
                # dockerd refuses to start while the pid in its pid file exists, even as an unreaped zombie
                wait_until(lambda: not os.path.exists(f"/proc/{pid}"), 30, "the killed dockerd to be reaped", 0.2)
                watch.wait_growth("while dockerd is dead")

                def resynced() -> bool:
                    watch.scrape()
                    return watch.resyncs > resyncs

                ensure_dockerd()  # returns once the daemon answers
                wait_until(resynced, RESYNC_SECONDS, f"a resync within {RESYNC_SECONDS} s of the daemon answering", 0.2)
                watch.wait_growth("after the restart")
                assert requests.get(f"{url}/healthz", timeout=10).status_code == 200
    finally:
        env.close()
