"""The agent's YAML configuration: every key optional, every wrong key or value an error naming it.

    listen: 127.0.0.1:9470
    window_seconds: 10            # sliding window behind the map's rates
    ghost_seconds: 900            # how long a node or edge that went silent stays on the map as a ghost
    history: {interval_seconds: 10, retention_seconds: 3600}
    caps: {max_edges: 1000, max_statuses_per_edge: 32, samples_per_edge: 20}
    redaction: true               # request samples are redacted before they are stored
    metrics: {service_graph: false}
    auth: {mode: none}            # or {mode: basic, username: u, password: p} or {mode: bearer, token: t}
    capture: {max_sockets: 65536, max_flows: 16384, ring_buffer_pages: 64, l7: true,
              tls: true,                  # TLS plaintext through uprobes on OpenSSL (with l7)
              samples_per_second: 20, sample_bytes: 256,
              program_cache: /var/cache/intuition}   # compiled programs kept for the next start; "": none
    cluster: {prometheus: "", refresh_seconds: 30}   # the Prometheus scraping every node: names their peers
    external_names: 10            # outside peers shown by their DNS names (the busiest); the rest are INTERNET
"""
from __future__ import annotations

import dataclasses
import ipaddress
import os
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import yaml

from .capture.loader import CaptureConfig

class ConfigError(ValueError):
    """A configuration key or value is wrong; the message names the key."""


class Listen(NamedTuple):
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"


@dataclass(frozen=True)
class HistoryConfig:
    interval_seconds: int = 10
    retention_seconds: int = 3600


@dataclass(frozen=True)
class CapsConfig:
    max_edges: int = 1000
    max_statuses_per_edge: int = 32
    samples_per_edge: int = 20


@dataclass(frozen=True)
class MetricsConfig:
    service_graph: bool = False  # also export Tempo's traces_service_graph_* names for Grafana's service map


@dataclass(frozen=True)
class AuthConfig:
    mode: str = "none"  # none | basic | bearer
    username: str = ""
    password: str = ""
    token: str = ""


@dataclass(frozen=True)
class ClusterConfig:
    prometheus: str = ""  # URL of the Prometheus that scrapes every node's agent; "" reads nothing
    refresh_seconds: int = 30


@dataclass  # not frozen: command line flags such as --listen override the file
class Config:
    listen: Listen = Listen("127.0.0.1", 9470)
    window_seconds: int = 10
    ghost_seconds: int = 900
    history: HistoryConfig = field(default_factory=HistoryConfig)
    caps: CapsConfig = field(default_factory=CapsConfig)
    redaction: bool = True
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    capture: CaptureConfig = field(default_factory=CaptureConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    external_names: int = 10


def parse_listen(text: str, key: str = "listen") -> Listen:
    """'host:port' or '[v6]:port' to a Listen; the error names `key`."""
    if not isinstance(text, str):
        raise ConfigError(f"{key}: expected 'host:port', got {text!r}")
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{key}: expected 'host:port' with a port from 1 to 65535, got {text!r}")
    return Listen(host, int(port))


def load_config(path: str | None) -> Config:
    """The configuration in the YAML file at `path`, or the defaults when path is None."""
    if path is None:
        return Config()
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {e}") from e
    return parse_config({} if data is None else data)


def parse_config(data: Any) -> Config:
    """A Config from already-parsed YAML; raises ConfigError naming the first wrong key."""
    config = _build(Config, data, "")
    _check(config)
    return config


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if key not in fields:
            raise ConfigError(f"{name}: unknown key (known here: {', '.join(fields)})")
        default = fields[key].default if fields[key].default is not dataclasses.MISSING else fields[key].default_factory()
        values[key] = _value(default, value, name)
    return cls(**values)


def _value(default: Any, value: Any, name: str) -> Any:
    if isinstance(default, Listen):
        return parse_listen(value, name)
    if dataclasses.is_dataclass(default):
        return _build(type(default), value, f"{name}.")
    # bool is an int in Python: check it first so that `max_edges: true` is refused
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{name}: expected true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{name}: expected a positive whole number, got {value!r}")
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{name}: expected a string, got {value!r}")
    return value


# Upper bounds: beyond these a kernel map or the agent's memory grows past what one host agent should hold.
MAXIMA = {
    "window_seconds": 3600,
    "ghost_seconds": 86400,
    "history.interval_seconds": 3600,
    "history.retention_seconds": 7 * 86400,
    "caps.max_edges": 100_000,
    "caps.max_statuses_per_edge": 1000,
    "caps.samples_per_edge": 1000,
    "capture.max_sockets": 1 << 20,
    "capture.max_flows": 1 << 18,
    "capture.ring_buffer_pages": 1 << 14,
    "capture.samples_per_second": 10_000,
    "cluster.refresh_seconds": 3600,  # names learned from other nodes would lag behind their containers
    "external_names": 1000,  # a map with more outside nodes than that is unreadable
}


def _check(config: Config) -> None:
    for key, maximum in MAXIMA.items():
        value = config
        for part in key.split("."):
            value = getattr(value, part)
        if value > maximum:
            raise ConfigError(f"{key}: at most {maximum}, got {value}")
    history = config.history
    if history.retention_seconds < history.interval_seconds:
        raise ConfigError(
            f"history.retention_seconds: {history.retention_seconds} is shorter than "
            f"history.interval_seconds ({history.interval_seconds})"
        )
    cache = config.capture.program_cache
    if cache and not os.path.isabs(cache):
        raise ConfigError(f"capture.program_cache: expected an absolute directory path or \"\", got {cache!r}")
    url = config.cluster.prometheus
    if url and (urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc):
        raise ConfigError(f"cluster.prometheus: expected an http:// or https:// URL, got {url!r}")
    auth = config.auth
    if auth.mode not in ("none", "basic", "bearer"):
        raise ConfigError(f"auth.mode: expected none, basic or bearer, got {auth.mode!r}")
    if auth.mode == "basic" and not (auth.username and auth.password):
        raise ConfigError("auth.username, auth.password: basic auth needs both")
    if auth.mode == "bearer" and not auth.token:
        raise ConfigError("auth.token: bearer auth needs a token")
