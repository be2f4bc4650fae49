"""A real agent stopped under the open page: the indicator turns to error within one poll and the map says
it is frozen (tests/browser/test_map_trust.py checks the same against a synthetic agent in detail)."""
from __future__ import annotations

import contextlib
import os
import time

import pytest
from selenium.webdriver.common.by import By

from tests.browser.map_page import ERROR_SHOWN, MapPage
from tests.conftest import skip_or_fail
from tests.helpers.agent import running_agent

pytestmark = [pytest.mark.browser, pytest.mark.kernel]

POLL_SECONDS = 2.0  # the page's refresh interval (dashboard/static/js/main.js)


def test_stopping_the_agent_turns_the_indicator_to_error_within_one_poll(chromium):
    if os.geteuid() != 0:
        skip_or_fail("the agent needs root to load its probes")
    with contextlib.ExitStack() as running:
        url = running.enter_context(running_agent({}))
        page = MapPage(chromium, url)
        page.open("#/")
        page.wait(lambda: page.freshness()[0] == "live", "live data")
        error = page.watch(ERROR_SHOWN)
        running.close()  # the agent's web server and probes are gone
        stopped = time.time()
        assert page.seen_at(error, "the error state") - stopped <= POLL_SECONDS + 1.5, "the indicator took longer than one poll"
        banner = page.driver.find_element(By.ID, "map-banner")
        assert banner.is_displayed() and banner.text.startswith("Frozen: the agent did not answer")
