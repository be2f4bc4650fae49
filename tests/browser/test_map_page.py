"""The map page in real headless Chromium, against the real dashboard app fed with synthetic traffic
(tests/browser/synthetic_agent.py).

These check the page's own logic: drawing, navigation and history, panels, escaping, CSP, freshness,
filter, search and replay. tests/browser/test_live_map.py runs the same page against a live agent.
"""
from __future__ import annotations

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser.map_page import MapPage, drawn_fraction
from tests.browser.synthetic_agent import (GHOST_SECONDS, LONG_SERVICE, LOSSY_EDGE, REDIS_EDGE, SAMPLED_EDGE, SQL_EDGE,
                                          XSS_PATH, XSS_REDIS_KEY, XSS_SERVICE, XSS_SQL_TABLE)

pytestmark = pytest.mark.browser

DOM_MODULE = "/ui/static/js/dom.js"  # imported by main.js's imports: a page without it runs none of them
SHOP = {"INTERNET", "web", "api", "cache", "db", XSS_SERVICE, LONG_SERVICE, "billing/payments"}


@pytest.fixture
def page(chromium, site) -> MapPage:
    return MapPage(chromium, site)


def test_global_view_draws_regions_with_moving_traffic(page, artifacts):
    page.open("#/")
    page.wait_for_names({"INTERNET", "shop", "billing"})
    page.node_point("shop")  # laid out and settled
    before = page.canvas()
    assert drawn_fraction(before) > 0.01, "the canvas is blank"
    page.wait_for_moving_dots()
    assert page.freshness()[0] == "live"
    page.save(artifacts / "synthetic-global.png")


def test_clicking_a_region_opens_it_and_back_returns(page):
    page.open("#/")
    page.click_at(page.node_point("shop"))
    page.wait_for_view(["shop"])
    assert page.hash() == "#/shop"
    page.wait_for_names(SHOP)
    assert SHOP <= page.drawn_names()
    assert page.texts("#breadcrumbs .crumb") == ["all namespaces", "shop"]

    page.driver.back()
    page.wait_for_view([])
    assert page.hash() == "#/"


def test_double_click_focuses_a_service_and_back_and_escape_go_up(page):
    page.open("#/shop")
    page.click_at(page.node_point("api"), double=True)
    page.wait_for_view(["shop", "api"])
    assert page.hash() == "#/shop/api"
    page.wait_for_panel("api-1")  # the focused service's panel

    page.driver.back()
    page.wait_for_view(["shop"])
    page.driver.forward()
    page.wait_for_view(["shop", "api"])

    page.driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    page.wait_for_view(["shop"])
    assert page.hash() == "#/shop"


def test_clicking_a_service_shows_its_containers_and_edges(page, artifacts):
    page.open("#/shop")
    page.click_at(page.node_point("web"))
    text = page.wait_for_panel("web-2")
    assert page.hash() == "#/shop?service=web"
    for expected in ["web\nservice in shop", "web-1 shop/web:1.4 running synthetic-host 1h 02m", "from", "INTERNET", "to", "api"]:
        assert expected in text
    page.save(artifacts / "synthetic-service.png")

    # the URL alone opens the same panel
    page.open("#/shop?service=web")
    page.wait_for_panel("web-2")


def test_clicking_an_edge_shows_its_recent_requests(page, artifacts):
    page.open("#/shop")
    page.click_at(page.edge_point("web", "api"))
    text = page.wait_for_panel("Recent requests".upper())
    assert page.hash() == "#/shop?client=web&server=api"
    assert "POST /orders 201 Created 18.7 ms" in text
    assert f"GET {XSS_PATH} 200 OK 3.4 ms" in text
    assert "http 404" in text
    page.save(artifacts / "synthetic-edge.png")


def test_an_edge_that_lost_samples_says_so_in_its_panel(page):
    lost = "request samples or TCP events lost in the window: the kernel's ring buffer was full"
    client, server = LOSSY_EDGE
    page.open(f"#/shop?client={client}&server={server}")
    text = page.wait_for_panel(lost)
    assert text.index("NOTICES") < text.index("REQUESTS"), text   # above the figures it qualifies
    client, server = SAMPLED_EDGE
    page.open(f"#/shop?client={client}&server={server}")
    text = page.wait_for_panel("Recent requests".upper())
    assert lost not in text and "NOTICES" not in text, text


def test_escape_closes_the_panel_then_goes_up(page):
    page.open("#/shop?service=api")
    page.wait_for_panel("api-1")
    body = page.driver.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ESCAPE)
    page.wait(lambda: not page.panel().is_displayed(), "the panel to close")
    assert page.hash() == "#/shop"
    body.send_keys(Keys.ESCAPE)
    page.wait_for_view([])


def test_hostile_names_paths_redis_keys_sql_and_notices_show_as_text(page, agent):
    page.open("#/shop")
    page.wait_for_names(SHOP)
    # the hover card shows names and notices as text
    evil = page.node_point(XSS_SERVICE)
    page.hover_at(evil)
    card = page.wait(lambda: page.hover_card(), "the hover card")
    assert card.startswith(XSS_SERVICE)
    assert f"100% of requests to {XSS_SERVICE} fail" in card

    page.click_at(evil)
    text = page.wait_for_panel("evil-1")
    assert text.startswith(f"×\nPause\n{XSS_SERVICE}\n")
    assert f"100% of requests to {XSS_SERVICE} fail" in text

    page.click_at(page.edge_point("web", "api"))
    assert XSS_PATH in page.wait_for_panel("/orders")
    assert_no_script_ran(page)

    # a Redis key and a SQL table name survive redaction (tracer/protocols/redact.py), so they carry the payload
    for (client, server), shown in ((REDIS_EDGE, f'GET "{XSS_REDIS_KEY}"'),
                                    (SQL_EDGE, f"SELECT * FROM {XSS_SQL_TABLE} WHERE id = ?")):
        page.open(f"#/shop?client={client}&server={server}")
        page.wait_for_panel(shown)
        assert_no_script_ran(page)
    assert "/x" not in agent.paths  # no <img src=x> ever loaded


def assert_no_script_ran(page: MapPage) -> None:
    """No element made from hostile text in the panel, the hover card or the summary; no alert, no CSP report."""
    counts = page.js("return ['img', 'script'].map((t) => document.querySelectorAll("
                     "'#details ' + t + ', #hover-card ' + t + ', #map-summary ' + t).length)")
    assert counts == [0, 0]
    assert page.alerts() == []
    assert page.csp_violations() == []


def test_page_is_served_with_a_csp_that_lets_the_layout_worker_run(page, site):
    policy = requests.get(site + "/", timeout=10).headers["Content-Security-Policy"]
    assert "worker-src 'self' blob:" in policy
    assert "script-src 'self'" in policy
    page.open("#/shop")
    page.wait_for_names(SHOP)
    points = {name: page.node_point(name) for name in ["web", "api", "db"]}
    assert len(set(points.values())) == 3, f"the layout worker did not place the nodes: {points}"
    assert page.csp_violations() == []


def test_data_turns_stale_without_updates_and_live_again(page, agent):
    page.open("#/")
    page.wait(lambda: page.freshness()[0] == "live", "live data")
    agent.frozen = True
    _, text = page.wait(lambda: page.freshness()[0] == "stale" and page.freshness(), "stale data", timeout=20)
    assert text.startswith("stale · no update for 1")  # 10 s or more
    agent.frozen = False
    page.wait(lambda: page.freshness()[0] == "live", "live data again")


def test_a_request_the_agent_never_answers_fails_and_polling_goes_on(page, agent):
    page.open("#/")
    page.wait(lambda: page.freshness()[0] == "live", "live data")
    agent.answering.clear()
    try:
        page.wait(lambda: page.freshness()[0] == "error", "an error for the unanswered poll", timeout=30)
        banner = page.driver.find_element(By.ID, "map-banner").text
        assert "api/graph not answered within 10 s" in banner
    finally:
        agent.answering.set()
    page.wait(lambda: page.freshness()[0] == "live", "live data again")


def test_a_page_whose_module_failed_to_load_reloads_itself_once(page, agent):
    agent.failures[DOM_MODULE] = 1
    page.open("#/")  # the map's data, after the reload
    assert agent.paths.count("/") == 2
    assert agent.paths.count(DOM_MODULE) == 2


def test_a_page_whose_module_fails_twice_says_so_and_reloads_no_more(page, agent):
    agent.failures[DOM_MODULE] = 2
    page.driver.get(f"{page.base_url}/#/")
    message = page.wait(lambda: page.js("return document.getElementById('map-message').textContent"),
                        "the page's message")
    assert message.startswith("The map's scripts did not load, twice: reload the page")
    assert agent.paths.count("/") == 2
    assert "/api/graph" not in agent.paths


def test_filter_hides_quiet_edges_keeps_failing_ones_and_lives_in_the_url(page):
    page.open("#/shop")
    page.wait_for_names(SHOP)
    web_before = page.node_point("web")
    visible = "return Object.values(window.__viz.currentGraph.connections).filter((c) => c.isVisible()).map((c) => c.getName()).sort()"
    assert "api--db" in page.js(visible)

    threshold = page.driver.find_element(By.ID, "min-rate")
    threshold.clear()
    threshold.send_keys("20")
    shown = page.wait(lambda: "api--db" not in page.js(visible) and page.js(visible), "api -> db to hide")
    # api -> the hostile service carries 3 req/s, all 500s: trouble is never filtered away
    assert shown == ["INTERNET--web", f"api--{XSS_SERVICE}", "api--cache", "web--api"]
    assert page.node_point("web") == pytest.approx(web_before, abs=1)
    assert page.js("return document.getElementById('filter-note').textContent") == "hides 3 quiet edges; failing ones stay"
    assert page.hash() == "#/shop?min=20"

    # the URL alone brings the same filter back
    page.open("#/shop?min=20")
    assert page.wait(lambda: "api--db" not in page.js(visible) and page.js(visible), "the filter from the URL") == shown
    assert page.driver.find_element(By.ID, "min-rate").get_property("value") == "20"

    page.driver.find_element(By.ID, "min-rate").send_keys(Keys.BACKSPACE, Keys.BACKSPACE, "0")
    page.wait(lambda: "api--db" in page.js(visible), "api -> db to show again")
    assert page.hash() == "#/shop"


def test_search_locates_a_service_in_another_namespace(page):
    page.open("#/shop")
    search = page.driver.find_element(By.ID, "search")
    search.send_keys("ledg")
    results = page.wait(lambda: page.js("return [...document.querySelectorAll('#search-results .result')]"
                                        ".map((r) => r.innerText.split(/\\s+/))"), "search results")
    assert results == [["ledger", "billing"]]
    search.send_keys(Keys.ENTER)
    page.wait_for_view(["billing"])
    page.wait_for_panel("ledger-1")
    assert page.hash() == "#/billing?service=ledger"
    page.wait(lambda: page.js("const h = window.__viz.currentGraph.highlightedObject; return h && h.getName()") == "ledger",
              "ledger highlighted on the map")


def test_live_refresh_keeps_the_layout_and_a_returning_service_gets_its_place(page, agent):
    page.open("#/shop")
    page.wait_for_names(SHOP)
    before = {name: page.node_point(name) for name in ["web", "api", "cache"]}
    volume = "return window.__viz.currentGraph.connections['web--api'].getVolumeTotal()"
    first = page.js(volume)
    page.wait(lambda: page.js(volume) != first, "rates to refresh")
    for name, point in before.items():
        assert page.node_point(name) == pytest.approx(point, abs=1), f"{name} moved on refresh"

    # a service that stops stays as a ghost for a while, then leaves (GHOST_SECONDS); Netflix/vizceral#131:
    # one that comes back must not be drawn at (0,0) over another
    agent.stopped = {"cache"}
    page.wait(lambda: "cache" not in page.drawn_names(), "cache to leave", timeout=GHOST_SECONDS + 30)
    agent.stopped = set()
    page.wait(lambda: "cache" in page.drawn_names(), "cache to come back")
    assert page.node_point("cache") == pytest.approx(before["cache"], abs=1)


def test_failing_edge_turns_red_with_a_notice(page, agent):
    page.open("#/shop")
    page.wait_for_names(SHOP)
    agent.failing = True
    danger = "return window.__viz.currentGraph.connections['api--db'].getVolume('danger')"
    page.wait(lambda: page.js(danger) > 0, "red dots on api -> db")
    page.wait(lambda: page.js("return window.__viz.currentGraph.nodes.db.getClass()") == "danger", "db in danger")
    page.click_at(page.node_point("db"))
    page.wait_for_panel("db-1")
    page.wait_for_panel("of requests to db fail")


def test_replay_shows_earlier_edges_and_returns_to_live(page):
    page.open("#/shop")
    page.wait_for_names(SHOP)
    assert "legacy" not in page.shown_names()

    slider = page.driver.find_element(By.ID, "history")
    page.wait(lambda: slider.is_enabled(), "the timeline to know the history")
    assert slider.get_property("value") == "0"  # live sits on the slider's step grid
    slider.send_keys(Keys.HOME)  # an hour ago: before `legacy` went away
    page.wait_for_names(SHOP | {"legacy"})
    assert "at=" in page.hash()
    assert page.freshness()[0] == "replay"
    assert "legacy" in page.drawn_names()

    page.click("#live")
    page.wait(lambda: "legacy" not in page.shown_names(), "live data without legacy")
    assert page.hash() == "#/shop"
    assert page.freshness()[0] == "live"
