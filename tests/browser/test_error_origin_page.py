"""Where errors start and containers' own health on the map page, in headless Chromium against the real
dashboard app fed with synthetic traffic (tests/browser/synthetic_agent.py): api -> db fails, and db's
container was OOM-killed and restarted."""
from __future__ import annotations

import pytest

from tests.browser.map_page import MapPage
from tests.browser.synthetic_agent import XSS_SERVICE

pytestmark = pytest.mark.browser


@pytest.fixture
def page(chromium, site) -> MapPage:
    return MapPage(chromium, site)


def test_origin_notice_blast_radius_and_oom_notice(page, agent):
    agent.failing = True  # api -> db: half of its requests answer 500
    agent.container_event("oom", "db-1")
    agent.container_event("die", "db-1", exitCode="137")
    agent.container_event("start", "db-1")
    page.open("#/shop?service=db")
    (caller,) = page.wait(lambda: page.texts(".blast-radius tbody tr"), "db's blast radius in the panel")
    assert caller.startswith("api") and caller.endswith("%")
    text = page.wait_for_panel("was OOM-killed")
    assert "errors start here: " in text and "of requests fail, its dependencies are healthy" in text
    assert "container db-1 was OOM-killed" in text
    assert "container db-1 restarted after exiting with code 137" in text
    # name, CPU, memory, limit (none of these ids has a cgroup here), restarts, OOM kills, last exit
    cells = page.texts(".container-health tbody td")
    assert [c.strip() for c in cells] == ["db-1", "–", "–", "–", "1", "1", "137"]

    page.open("#/shop?service=api")
    origins = page.wait(lambda: page.texts(".error-origins tbody tr .name"), "api's error origins in the panel")
    assert sorted(origins) == sorted(["db", XSS_SERVICE])
    assert "errors come from " in page.panel_text()
