"""The page's pure JavaScript (routes, notice escaping, formats), imported as modules in real Chromium."""
from __future__ import annotations

import pytest

from tests.browser.synthetic_agent import XSS_SERVICE

pytestmark = pytest.mark.browser


@pytest.fixture
def run_module(chromium, site):
    """Runs `body` with the named module bound to `m` and returns what it returns."""
    chromium.get(site + "/ui/static/map.css")  # any page of the site, so module imports are same-origin

    def run(module: str, body: str, *args):
        script = f"""
            const done = arguments[arguments.length - 1];
            const args = Array.from(arguments).slice(0, -1);
            import('/ui/static/js/{module}').then((m) => done({{ value: (function () {{ {body} }})() }}),
                                                   (e) => done({{ error: String(e) }}));
        """
        result = chromium.execute_async_script(script, *args)
        assert "error" not in result, result.get("error")
        return result["value"]

    return run


ROUTES = [
    {"view": [], "selection": None, "at": None, "minRate": 0, "changes": None},
    {"view": ["shop"], "selection": {"kind": "service", "name": XSS_SERVICE}, "at": None, "minRate": 2.5, "changes": "hour"},
    {"view": ["shop", "a/b c?#&"], "selection": {"kind": "edge", "client": "web", "server": "x&y=z"}, "at": 1700000000,
     "minRate": 0, "changes": 1699990000},
]


@pytest.mark.parametrize("route", ROUTES)
def test_routes_survive_the_url(run_module, route):
    parsed = run_module("route.js", "return m.parseRoute(m.formatRoute(args[0]));", route)
    assert parsed == route


def test_route_formats_are_readable_and_garbage_is_ignored(run_module):
    assert run_module("route.js", "return m.formatRoute({view: ['shop'], selection: null, at: 5});") == "#/shop?at=5"
    parsed = run_module("route.js", "return m.parseRoute('#/a/b/c/d?at=soon&client=x&min=-3&changes=later');")
    assert parsed == {"view": ["a", "b"], "selection": None, "at": None, "minRate": 0, "changes": None}
    assert run_module("route.js", "return m.formatRoute({view: ['shop'], selection: null, at: null, minRate: 5, changes: 'hour'});") \
        == "#/shop?min=5&changes=hour"


def test_notices_reach_vizceral_escaped_exactly_once_and_without_links(run_module):
    graph = {
        "renderer": "global", "name": "edge",
        "nodes": [{"renderer": "region", "name": "shop", "nodes": [
            {"name": "escaped", "notices": [{"title": "&lt;b&gt; &amp; &#x27;x&#x27;", "severity": 2}]},
            {"name": "raw", "notices": [{"title": "<img src=x onerror=alert(1)>", "link": "javascript:alert(1)"}]},
        ], "connections": []}],
        "connections": [],
    }
    prepared = run_module("graphdata.js", "return m.prepareForVizceral(args[0]);", graph)
    nodes = prepared["nodes"][0]["nodes"]
    assert nodes[0]["notices"] == [{"title": "&#60;b&#62; &#38; &#39;x&#39;", "severity": 2}]
    assert nodes[1]["notices"] == [{"title": "&#60;img src=x onerror=alert(1)&#62;", "severity": 0}]
    assert all(n["renderer"] == "focusedChild" for n in nodes)
    assert run_module("graphdata.js", "return m.unescapeHtml(args[0]);", "&lt;script&gt;&#39;&amp;amp;&bogus;") == "<script>'&amp;&bogus;"


def test_numbers_read_well(run_module):
    values = run_module("format.js", """return [m.rate(1234.5), m.rate(0.25), m.percent(0.125), m.seconds(0.0004),
        m.seconds(0.0123), m.seconds(2.5), m.bytesRate(1536), m.age(3725), m.age(59), m.rate(undefined)];""")
    assert values == ["1,235/s", "0.25/s", "12.5%", "400 µs", "12.3 ms", "2.5 s", "1.5 KiB/s", "1h 02m", "59s", "–"]


def test_a_dot_is_a_request_failures_get_their_share_and_a_rare_one_is_seen(run_module):
    share = "return m.shareDots(args[0], args[1] ?? undefined).map((r) => [r.name, Math.round(r.releasesPerTick * 6000) / 100]);"
    # the edge: 16.6 ok, 2 404s and 2 500s a second, which Vizceral drew as 654 white, 3 orange, 2 red
    assert dict(run_module("particles.js", share, {"normal": 16.6, "warning": 2, "danger": 2}, None)) == {
        "normal": 16.6, "warning": 2, "danger": 2}  # dots a second
    # 1% errors: at least one red dot a second; what the edge can hold caps the whole
    assert dict(run_module("particles.js", share, {"normal": 30, "danger": 0.3}, None)) == {"normal": 30, "danger": 1}
    assert dict(run_module("particles.js", share, {"normal": 99, "danger": 1}, 1)) == {"normal": 59.4, "danger": 1}
    assert run_module("particles.js", share, {"normal": 0, "danger": 0}, None) == []


def test_a_graph_vizceral_threw_on_is_offered_again(run_module):
    calls = run_module("map.js", """
        const map = { signature: '', calls: 0, quietly: (action) => action(), refilterIfRatesCrossed() {},
                      viz: { updateData() { map.calls += 1; if (map.calls === 1) throw new Error('not ready'); } } };
        let threw = false;
        try { m.ServiceMap.prototype.update.call(map, args[0]); } catch (error) { threw = true; }
        m.ServiceMap.prototype.update.call(map, args[0]);  // the same graph: offered again
        m.ServiceMap.prototype.update.call(map, args[0]);  // drawn already: not offered
        return [threw, map.calls];
    """, {"nodes": [{"name": "shop"}], "updated": 1})
    assert calls == [True, 2]
