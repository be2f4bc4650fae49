"""The command line as a user runs it (no root: these paths load no probes)."""
import socket
import subprocess
import sys

import pytest
import yaml

from tracer import __version__, cli


def intuition(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tracer", *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("command", [[], ["run"], ["agent"], ["dashboard"], ["doctor"]])
def test_help_and_version_everywhere(command):
    shown = intuition(*command, "--help")
    assert shown.returncode == 0 and "usage: intuition" in shown.stdout
    version = intuition(*command, "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"intuition {__version__}"


def test_a_wrong_config_key_is_named(tmp_path):
    config = tmp_path / "intuition.yaml"
    config.write_text("listen: 127.0.0.1:9470\ncaps: {max_edgez: 10}\n")
    result = intuition("run", "--config", str(config))
    assert result.returncode == 2
    assert "caps.max_edgez" in result.stderr


def test_a_taken_listen_address_is_one_clear_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = intuition("dashboard", "--prometheus", "http://127.0.0.1:1", "--listen", f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"intuition: cannot serve on 127.0.0.1:{port}")


@pytest.mark.parametrize("listen, auth, warned", [
    ("0.0.0.0:9470", {"mode": "none"}, True),
    ("127.0.0.1:9470", {"mode": "none"}, False),
    ("0.0.0.0:9470", {"mode": "bearer", "token": "t"}, False),
])
def test_listening_beyond_loopback_without_auth_warns_at_start(tmp_path, monkeypatch, caplog, listen, auth, warned):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"auth": auth}))
    monkeypatch.setattr(cli, "_dashboard", lambda config, url: 0)  # start nothing: only the checks at start
    assert cli.main(["dashboard", "--prometheus", "http://127.0.0.1:9090", "--config", str(config),
                     "--listen", listen]) == 0
    assert any("without auth" in r.getMessage() for r in caplog.records) == warned


def test_the_agent_command_imports_neither_flask_nor_the_graph_before_its_load_starts():
    # they import beside the probes' load instead (cli.AFTER_LOAD_MODULES; docs/performance.md, "The agent's
    # imports beside the probes' load")
    probe = "import sys, tracer.cli; print(' '.join(sorted(set(sys.argv[1:]) & set(sys.modules))))"
    imported = subprocess.run([sys.executable, "-c", probe, "flask", *cli.AFTER_LOAD_MODULES],
                              capture_output=True, text=True, timeout=60, check=True)
    assert imported.stdout.strip() == ""
