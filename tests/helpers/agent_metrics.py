"""A running agent's /metrics as a test reads it."""
from __future__ import annotations

import requests
from prometheus_client.parser import text_string_to_metric_families


def scrape(url: str) -> dict[tuple, float]:
    """Every sample of /metrics by (name, labels)."""
    text = requests.get(f"{url}/metrics", timeout=10).text
    return {(s.name, frozenset(s.labels.items())): s.value for f in text_string_to_metric_families(text)
            for s in f.samples}


def families(url: str):
    return text_string_to_metric_families(requests.get(f"{url}/metrics", timeout=10).text)


def requests_between(url: str, namespace: str, client: str, server: str) -> dict[tuple[str, str, str], float]:
    """(protocol, status, reporter) -> requests from client to server in namespace."""
    return {(s.labels["protocol"], s.labels["status"], s.labels["reporter"]): s.value
            for f in families(url) if f.name == "intuition_requests" for s in f.samples
            if s.name.endswith("_total") and s.labels["client_namespace"] == namespace
            and (s.labels["client"], s.labels["server"]) == (client, server)}


def named_services(url: str, namespace: str) -> set[str]:
    return {s.labels["service"] for f in families(url) if f.name == "intuition_container_info"
            for s in f.samples if s.labels["namespace"] == namespace}
