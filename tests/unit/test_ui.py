"""The page blueprint: what it serves and the headers that keep the page safe."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import dashboard.ui
from dashboard.ui import VIZCERAL_DIST
from tests.unit.graph_fakes import FakeIdentity, client_for, make_graph

OUR_JS = Path(dashboard.ui.__file__).parent / "static" / "js"
STATIC_JS = sorted(p.name for p in OUR_JS.glob("*.js"))


@pytest.fixture
def client():
    """The real application (its factory sets the security headers), over an empty graph."""
    identity = FakeIdentity(processes={})
    graph, _ = make_graph(identity)
    return client_for(graph, identity)


def test_page_loads_its_boot_script_vizceral_and_our_module_from_this_server(client):
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', page)
    assert scripts == ["/ui/static/js/boot.js", "/ui/vendor/vizceral.min.js", "/ui/static/js/main.js"]
    assert 'rel="stylesheet" href="/ui/static/map.css"' in page
    assert "<script>" not in page and "style=" not in page  # nothing inline: the CSP forbids it


def test_every_response_carries_the_content_security_policy(client):
    for path in ["/", "/ui/static/js/main.js", "/ui/vendor/vizceral.min.js"]:
        headers = client.get(path).headers
        policy = dict(part.split(" ", 1) for part in headers["Content-Security-Policy"].split("; "))
        assert policy["worker-src"] == "'self' blob:", path
        assert policy["script-src"] == "'self'", path
        assert policy["default-src"] == "'none'", path
        assert policy["frame-ancestors"] == "'none'", path
        assert headers["X-Content-Type-Options"] == "nosniff"


def test_vizceral_bundle_is_served_from_node_modules(client):
    response = client.get("/ui/vendor/vizceral.min.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.get_data() == (VIZCERAL_DIST / "vizceral.min.js").read_bytes()


def test_missing_bundle_names_the_fix(client, monkeypatch, tmp_path):
    monkeypatch.setattr(dashboard.ui, "VIZCERAL_DIST", tmp_path)
    response = client.get("/ui/vendor/vizceral.min.js")
    assert response.status_code == 404
    assert "run `npm ci` in dashboard/" in response.get_data(as_text=True)


@pytest.mark.parametrize("name", STATIC_JS)
def test_our_modules_are_served_as_javascript(client, name):
    response = client.get(f"/ui/static/js/{name}")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"


HTML_SINKS = re.compile(r"\.(innerHTML|outerHTML)\b|insertAdjacentHTML|document\.write|\beval\(|new Function|DOMParser")


def test_our_javascript_never_parses_data_as_html():
    for name in STATIC_JS:
        found = HTML_SINKS.search((OUR_JS / name).read_text())
        assert found is None, f"{name} uses {found.group(0)}"
