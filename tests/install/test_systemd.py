"""The systemd unit as scripts/install-systemd.sh installs it: `systemd-analyze verify` accepts it, and its
ExecStart line, run with the unit's environment, starts an agent that serves /metrics, its probes loaded from the
program cache the install filled (the host's cache is set aside meanwhile, so that the install starts from none).
systemd is not PID 1 here, so the script installs without starting, and the test starts the service's command
itself."""
import configparser
import os
import shlex
import shutil
import subprocess
import tempfile
from typing import Iterator

import pytest
import requests

from tests.conftest import skip_or_fail
from tests.helpers.docker_env import wait_until
from tests.helpers.servers import free_port
from tests.install.conftest import ROOT

pytestmark = [pytest.mark.kernel]
UNIT = "/etc/systemd/system/intuition.service"
INSTALLED = (UNIT, "/etc/intuition", "/opt/intuition")  # what scripts/install-systemd.sh writes
PROGRAM_CACHE = "/var/cache/intuition"  # the unit's CacheDirectory, where `intuition doctor` leaves the probes
AGENT_START_SECONDS = 120


@pytest.fixture(scope="module")
def installed_unit() -> Iterator[configparser.ConfigParser]:
    if os.geteuid() != 0:
        skip_or_fail("installing the systemd unit needs root")
    created = [path for path in INSTALLED if not os.path.exists(path)]  # removed again after the tests
    aside = tempfile.mkdtemp(prefix="intuition-cache-aside-", dir="/var/cache")
    hosts_cache = os.path.join(aside, "intuition")  # the host's cache while the test installs from none
    if os.path.exists(PROGRAM_CACHE):
        os.rename(PROGRAM_CACHE, hosts_cache)
    try:
        yield _install()
    finally:
        for path in created:
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
        shutil.rmtree(PROGRAM_CACHE, ignore_errors=True)
        if os.path.exists(hosts_cache):
            os.rename(hosts_cache, PROGRAM_CACHE)
        os.rmdir(aside)


def _install() -> configparser.ConfigParser:
    result = subprocess.run([os.path.join(ROOT, "scripts", "install-systemd.sh")], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    unit = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    unit.optionxform = str  # keys are case-sensitive
    unit.read(UNIT)
    return unit


def test_systemd_analyze_verify_accepts_the_unit(installed_unit):
    result = subprocess.run(["systemd-analyze", "verify", UNIT], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    service = installed_unit["Service"]
    assert service["Restart"] == "on-failure"
    assert "docker.service" in installed_unit["Unit"]["After"] and "Requires" not in installed_unit["Unit"]


def test_the_units_execstart_runs_the_agent(installed_unit):
    service = installed_unit["Service"]
    command = shlex.split(service["ExecStart"])
    assert command[-2:] == ["--config", "/etc/intuition/config.yaml"]
    environment = dict(os.environ, **dict(pair.split("=", 1) for pair in shlex.split(service["Environment"])))
    port = free_port()  # not the config's 9470, which another agent on this host may hold
    agent = subprocess.Popen([*command, "--listen", f"127.0.0.1:{port}"], env=environment,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def metrics() -> bool:
            assert agent.poll() is None, agent.stdout.read()
            try:
                return "intuition_build_info" in requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            except requests.ConnectionError:
                return False

        wait_until(metrics, AGENT_START_SECONDS, "the unit's agent to serve /metrics", 0.5)
    finally:
        agent.terminate()
        output, _ = agent.communicate(timeout=30)
    # the install's doctor compiled them: the service's first start runs no compiler
    for module in ("start", "parsers"):
        assert f"probes loaded from the program cache {PROGRAM_CACHE}/{module}-" in output, output
