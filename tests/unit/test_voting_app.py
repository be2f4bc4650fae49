"""The voting demo's files agree with each other and with what the issue promises, without Docker:
tests/e2e/test_voting_demo.py runs them for real."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "examples" / "voting-app"
SERVICES = {"vote", "redis", "worker", "db", "result", "loadgen"}


def stack() -> dict:
    return yaml.safe_load((APP / "stack.yml").read_text())["services"]


def test_every_service_resolves_by_dns_round_robin_and_restarts_at_once_on_a_switch():
    services = stack()
    assert set(services) == SERVICES
    for name, spec in services.items():
        assert spec["deploy"]["endpoint_mode"] == "dnsrr", name
        assert spec["deploy"]["update_config"]["parallelism"] == 0, name
        assert spec["init"] is True, name


def test_vote_has_two_replicas_and_vote_and_result_publish_host_ports():
    services = stack()
    assert services["vote"]["deploy"]["replicas"] == 2
    published = {name for name, spec in services.items() if spec.get("ports")}
    assert published == {"vote", "result"}
    for name in published:
        assert services[name]["ports"] == [{"target": 80, "mode": "host"}]  # dnsrr forbids ingress ports


def test_each_image_is_a_target_of_the_dockerfile_and_built_by_demo_sh():
    targets = set(re.findall(r"^FROM \S+ AS (\S+)$", (APP / "Dockerfile").read_text(), re.MULTILINE))
    assert {spec["image"] for spec in stack().values()} == {f"intuition-voting/{s}" for s in SERVICES}
    assert SERVICES <= targets
    built = re.search(r"^services=\((.*)\)$", (ROOT / "scripts" / "demo.sh").read_text(), re.MULTILINE)
    assert set(built.group(1).split()) == SERVICES


def test_the_programs_compile():
    for program in APP.rglob("*.py"):
        compile(program.read_text(), str(program), "exec")  # no .pyc left in the images' build context
