"""Headless Debian Chromium driven by selenium, and a way to serve a Flask app on loopback for it."""
from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from werkzeug.serving import make_server

from tests.browser.synthetic_agent import SyntheticAgent

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--enable-unsafe-swiftshader",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
    "--window-size=1400,900",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# Runs in the page before its own scripts: keeps the Vizceral instance reachable for the tests (to find
# where a node is drawn) and records CSP violations, alert() calls and uncaught errors.
PAGE_PROBE = """
window.__cspViolations = [];
window.__alerts = [];
window.__pageErrors = [];
window.addEventListener('error', (e) => window.__pageErrors.push(`${e.message} at ${e.filename}:${e.lineno}`));
window.addEventListener('unhandledrejection', (e) => window.__pageErrors.push(String(e.reason)));
document.addEventListener('securitypolicyviolation',
  (e) => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));
window.alert = (message) => window.__alerts.push(String(message));
let vizceralModule;
Object.defineProperty(window, 'Vizceral', {
  configurable: true,
  get() { return vizceralModule; },
  set(module) {
    const Base = module.default;
    class Recorded extends Base {
      constructor(...args) { super(...args); window.__viz = this; }
    }
    vizceralModule = Object.assign({}, module, { default: Recorded });
  },
});
"""


@contextlib.contextmanager
def open_chromium(*probes: str) -> Iterator[webdriver.Chrome]:
    """Headless Chromium with PAGE_PROBE and these scripts run in every page before its own."""
    with tempfile.TemporaryDirectory(prefix="intuition-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # network events, for MapPage.state
        options.unhandled_prompt_behavior = "ignore"  # an alert stays open for the test to see
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            for probe in (PAGE_PROBE, *probes):
                driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": probe})
            yield driver
        finally:
            driver.quit()


@pytest.fixture
def chromium() -> Iterator[webdriver.Chrome]:
    with open_chromium() as driver:
        yield driver


class LoopbackServer:
    """A WSGI app served on 127.0.0.1 on a free port, in a thread."""

    def __init__(self, app) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="loopback-server", daemon=True)

    def __enter__(self) -> "LoopbackServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def agent() -> Iterator[SyntheticAgent]:
    with SyntheticAgent() as running:
        yield running


@pytest.fixture
def site(agent: SyntheticAgent) -> Iterator[str]:
    with LoopbackServer(agent.app) as server:
        yield server.url


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
