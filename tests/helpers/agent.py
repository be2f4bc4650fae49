"""A running agent (probes, identity, graph, web server on a free loopback port) for end-to-end tests."""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import requests

from tests.helpers.docker_env import wait_until


@contextlib.contextmanager
def running_agent(config: dict) -> Iterator[str]:
    """The agent's base URL while it runs with this configuration (parsed as the YAML file would be)."""
    from tracer.agent import Agent
    from tracer.cli import agent_app
    from tracer.config import Listen, parse_config
    from tracer.web import WebServer

    agent = Agent(parse_config(config))
    agent.start()
    try:
        server = WebServer(agent_app(agent), Listen("127.0.0.1", 0))
        thread = threading.Thread(target=server.serve, name="e2e-web", daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{server.port}"
            wait_until(lambda: requests.get(f"{url}/healthz", timeout=5).status_code == 200, 30, "a healthy agent")
            yield url
        finally:
            server.stop()
            thread.join(10)
    finally:
        agent.stop()
