"""The YAML configuration: defaults, every section, and errors that name the wrong key."""
import pytest

from tracer.config import Config, ConfigError, Listen, load_config, parse_config, parse_listen
from tracer.capture.loader import CaptureConfig


def test_defaults_match_the_contract():
    config = load_config(None)
    assert config == parse_config({})
    assert config.listen == Listen("127.0.0.1", 9470) and config.listen.loopback
    assert config.window_seconds == 10 and config.ghost_seconds == 900
    assert (config.history.interval_seconds, config.history.retention_seconds) == (10, 3600)
    assert config.redaction is True and config.metrics.service_graph is False and config.auth.mode == "none"
    assert config.external_names == 10
    assert config.capture == CaptureConfig(max_sockets=65536, max_flows=16384, ring_buffer_pages=64, l7=True,
                                           tls=True, samples_per_second=20, sample_bytes=256,
                                           program_cache="/var/cache/intuition")


def test_full_file(tmp_path):
    path = tmp_path / "intuition.yaml"
    path.write_text(
        "listen: 0.0.0.0:9000\n"
        "window_seconds: 30\n"
        "ghost_seconds: 120\n"
        "history: {interval_seconds: 5, retention_seconds: 600}\n"
        "caps: {max_edges: 10, max_statuses_per_edge: 4, samples_per_edge: 2}\n"
        "redaction: false\n"
        "metrics: {service_graph: true}\n"
        "auth: {mode: bearer, token: s3cret}\n"
        "capture: {max_flows: 1024, l7: false, tls: false}\n"
        "external_names: 25\n"
    )
    config = load_config(str(path))
    assert config.listen == Listen("0.0.0.0", 9000) and not config.listen.loopback
    assert config.window_seconds == 30 and config.ghost_seconds == 120 and config.history.retention_seconds == 600
    assert config.caps.max_statuses_per_edge == 4 and config.redaction is False
    assert config.metrics.service_graph and config.auth.token == "s3cret"
    assert config.capture.max_flows == 1024 and config.capture.l7 is False and config.capture.max_sockets == 65536
    assert config.external_names == 25
    assert config.capture.tls is False


def test_empty_file_is_the_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_config(str(path)) == Config()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"listne": "1.2.3.4:5"}, "listne: unknown key"),
        ({"caps": {"max_edgez": 1}}, "caps.max_edgez: unknown key"),
        ({"capture": {"l8": True}}, "capture.l8: unknown key"),
        ({"window_seconds": 0}, "window_seconds: expected a positive whole number"),
        ({"window_seconds": "10"}, "window_seconds: expected a positive whole number"),
        ({"caps": {"max_edges": True}}, "caps.max_edges: expected a positive whole number"),
        ({"redaction": "off"}, "redaction: expected true or false"),
        ({"capture": {"l7": 1}}, "capture.l7: expected true or false"),
        ({"capture": {"tls": "off"}}, "capture.tls: expected true or false"),
        ({"capture": {"program_cache": "cache"}}, "capture.program_cache: expected an absolute directory path"),
        ({"capture": {"program_cache": False}}, "capture.program_cache: expected a string"),
        ({"metrics": []}, "metrics: expected a mapping"),
        ({"listen": "localhost"}, "listen: expected 'host:port'"),
        ({"listen": "127.0.0.1:70000"}, "listen: expected 'host:port'"),
        ({"auth": {"mode": "oauth"}}, "auth.mode: expected none, basic or bearer"),
        ({"auth": {"mode": "bearer"}}, "auth.token: bearer auth needs a token"),
        ({"auth": {"mode": "basic", "username": "u"}}, "auth.username, auth.password"),
        ({"auth": {"token": 5}}, "auth.token: expected a string"),
        ({"history": {"interval_seconds": 60, "retention_seconds": 30}}, "history.retention_seconds"),
        ({"cluster": {"prometheus": "prometheus:9090"}}, "cluster.prometheus: expected an http:// or https:// URL"),
        ({"cluster": {"refresh_seconds": 0}}, "cluster.refresh_seconds: expected a positive whole number"),
        ({"cluster": {"refresh_seconds": 3601}}, "cluster.refresh_seconds: at most 3600"),
        ({"cluster": {"prometheus": "http://"}}, "cluster.prometheus: expected an http:// or https:// URL"),
        (["listen"], "config: expected a mapping"),
        ({"capture": {"max_sockets": 1 << 30}}, "capture.max_sockets: at most 1048576, got 1073741824"),
        ({"capture": {"ring_buffer_pages": 100_000}}, "capture.ring_buffer_pages: at most 16384"),
        ({"caps": {"max_edges": 10**9}}, "caps.max_edges: at most 100000"),
        ({"history": {"retention_seconds": 10**9}}, "history.retention_seconds: at most 604800"),
        ({"ghost_seconds": 0}, "ghost_seconds: expected a positive whole number, got 0"),
        ({"ghost_seconds": 86401}, "ghost_seconds: at most 86400"),
        ({"external_names": 0}, "external_names: expected a positive whole number, got 0"),
        ({"external_names": 1001}, "external_names: at most 1000, got 1001"),
    ],
)
def test_wrong_keys_and_values_are_named(data, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_config(data)


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file .*missing.yaml"):
        load_config(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("listen: [\n")
    with pytest.raises(ConfigError, match="bad.yaml is not valid YAML"):
        load_config(str(bad))


def test_listen_forms():
    assert parse_listen("[::1]:9470") == Listen("::1", 9470)
    assert str(Listen("::1", 9470)) == "[::1]:9470" and Listen("::1", 1).loopback
    assert str(Listen("127.0.0.1", 9470)) == "127.0.0.1:9470"
    assert Listen("localhost", 1).loopback
    with pytest.raises(ConfigError, match="--listen"):
        parse_listen("nope", "--listen")
