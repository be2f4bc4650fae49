"""The `intuition` command line, and the one place that puts the pieces together.

The agent (tracer/agent.py) knows nothing of the dashboard and the dashboard knows nothing of the probes:
here the agent's graph, or a Prometheus server, becomes the dashboard's source, and the app is served.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
import threading

from . import __version__
from .agent import Agent
from .capture.loader import ProbeError
from .config import Config, ConfigError, load_config, parse_listen
from .web import ListenError, serve_until_signal

log = logging.getLogger(__name__)
# what the agent's app and graph need once the probes are loaded (~0.3 s of imports, Flask the most): imported in a
# thread while the load compiles, so that the load starts first and these use the time clang leaves the GIL free
AFTER_LOAD_MODULES = ("dashboard.app", "dashboard.sources", "tracer.metrics", "tracer.graph", "tracer.identity",
                      "tracer.container_health")

EPILOG = """examples:
  intuition doctor                       check that this host can run the agent
  intuition run                          agent + dashboard on http://127.0.0.1:9470/
  intuition run --config intuition.yaml  the same, configured
  intuition agent --listen 0.0.0.0:9470  node agent for a cluster (/metrics and /api/*)
  intuition dashboard --prometheus http://prometheus:9090   cluster view built from Prometheus
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="intuition", description="Live map of the traffic between Docker services, from eBPF.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"intuition {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("--version", action="version", version=f"intuition {__version__}")
        p.add_argument("-v", "--verbose", action="store_true", help="log debug details")
        return p

    for name, help in (("run", "run the agent and its dashboard on this host"),
                       ("agent", "run the node agent for a cluster: /metrics and /api/* (the page too)")):
        p = command(name, help)
        p.add_argument("--config", metavar="FILE", help="YAML configuration (every key optional)")
        p.add_argument("--listen", metavar="HOST:PORT", help="address to serve on (default 127.0.0.1:9470)")
    p = command("dashboard", "serve the map for a whole cluster from Prometheus")
    p.add_argument("--prometheus", metavar="URL", required=True, help="Prometheus server that scrapes the agents")
    p.add_argument("--config", metavar="FILE", help="YAML configuration (every key optional)")
    p.add_argument("--listen", metavar="HOST:PORT", help="address to serve on (default 127.0.0.1:9470)")
    p = command("doctor", "check that this host can run the agent, and say how to fix what is missing")
    p.add_argument("--docker-url", metavar="URL", help="Docker engine to check (default: the environment's)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "doctor":
        from . import doctor  # its Docker and Kubernetes clients are no part of the agent's start
        checks = doctor.run_checks(args.docker_url)
        print(doctor.render(checks))
        return doctor.exit_code(checks)

    try:
        config = load_config(args.config)
        if args.listen:
            config.listen = parse_listen(args.listen, "--listen")
    except ConfigError as e:
        print(f"intuition: {e}", file=sys.stderr)
        return 2
    if not config.listen.loopback and config.auth.mode == "none":
        log.warning("listening on %s without auth: anyone who reaches it sees the service map", config.listen)
    try:
        if args.command == "dashboard":
            return _dashboard(config, args.prometheus)
        return _agent(config)
    except ProbeError as e:
        print(f"intuition: the probes cannot run: {e}\n(run `intuition doctor` for a full check)", file=sys.stderr)
        return 1
    except ListenError as e:
        print(f"intuition: {e}", file=sys.stderr)
        return 1


def agent_app(agent: Agent):
    """The dashboard's app over a started agent's graph, its metrics behind /metrics."""
    # imported here, not at the top, so that the agent's load starts before them (AFTER_LOAD_MODULES)
    from dashboard.app import create_app
    from dashboard.sources import GraphSource

    from .metrics import IntuitionCollector
    metrics = IntuitionCollector(agent.graph, agent.identity, agent.self_stats, agent.config.metrics.service_graph,
                                 agent.container_health)
    return create_app(GraphSource(agent.graph, agent.identity, agent.health, [metrics], agent.container_health),
                      agent.config)


def _agent(config: Config) -> int:
    """`intuition run` and `intuition agent`: probes, graph and app in one process."""
    agent = Agent(config)
    importer = threading.Thread(target=_import_after_load, name="intuition-import")
    importer.start()
    agent.start()
    importer.join()
    try:
        serve_until_signal(agent_app(agent), config.listen)
    finally:
        agent.stop()
    return 0


def _import_after_load() -> None:
    for name in AFTER_LOAD_MODULES:
        importlib.import_module(name)


def _dashboard(config: Config, prometheus: str) -> int:
    """The cluster view from Prometheus: no probes, so no root."""
    from dashboard.app import create_app
    from dashboard.prometheus_source import PrometheusSource
    try:
        source = PrometheusSource(prometheus)
    except ValueError as e:
        log.error("%s", e)
        return 2
    healthy, detail = source.health()
    if not healthy:  # it may come up later; until then the page shows no data and /healthz says why
        log.warning("%s", detail)
    serve_until_signal(create_app(source, config), config.listen)
    return 0
