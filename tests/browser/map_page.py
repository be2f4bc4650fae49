"""The map page as a test drives it: open a view, find where Vizceral drew a node, click it, read panels,
and look at the canvas pixels."""
from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from PIL import Image, ImageChops
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.helpers.docker_env import wait_until

T = TypeVar("T")

BACKGROUND = (45, 45, 45)  # Vizceral's clear colour

# Screen position of a node's centre, from its three.js object and the orthographic camera.
NODE_POINT = """
const [name] = arguments;
const viz = window.__viz;
const graph = viz && viz.currentGraph;
const node = graph && graph.nodes[name];
if (!node || !node.isVisible() || !node.getView()) return null;
const object = node.getView().container;
object.updateMatrixWorld(true);
const world = object.matrixWorld.elements;
const camera = viz.camera;
const box = viz.renderer.domElement.getBoundingClientRect();
return {
  x: box.left + (world[12] - camera.left) / (camera.right - camera.left) * box.width,
  y: box.top + (camera.top - world[13]) / (camera.top - camera.bottom) * box.height,
};
"""

# Why a page may not have loaded: its readiness, the freshness it shows, the banner, what the page probe
# recorded (tests/browser/conftest.py) and the resources that failed or are still loading.
PAGE_STATE = """
const text = (id) => (document.getElementById(id) || {}).textContent;
const resources = performance.getEntriesByType('resource');
return {
  readyState: document.readyState,
  vizceral: !!window.__viz,
  freshness: text('freshness'),
  banner: text('map-banner'),
  message: text('map-message'),
  errors: window.__pageErrors || [],
  csp: window.__cspViolations || [],
  resources: resources.length,
  unfinished: resources.filter((r) => r.responseEnd === 0 || r.responseStatus >= 400).map((r) => r.name),
};
"""

# A watch for MapPage.watch, written into the script's text (the page's CSP forbids building a function from
# a string at run time; a WebDriver script is not subject to it).
WATCH = """
const watched = (window.__watched = window.__watched || []);
const id = watched.push(null) - 1;
const timer = setInterval(() => {
  if (CONDITION) {
    watched[id] = Date.now() / 1000;
    clearInterval(timer);
  }
}, 50);
return id;
"""

ERROR_SHOWN = "document.getElementById('freshness').dataset.state === 'error'"  # a condition for MapPage.watch


class MapPage:
    def __init__(self, driver: WebDriver, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def wait(self, condition: Callable[[], T], what: str, timeout: float = 30.0) -> T:
        def settled():
            try:
                return condition()
            except StaleElementReferenceException:  # the page re-rendered it meanwhile (every 2 s): look again
                return None
        return wait_until(settled, timeout, what, interval=0.2)

    def click(self, selector: str) -> None:
        """Click the element the CSS selector finds, found again where the page re-rendered it between the find and
        the click (a stale element is refused before any click is sent)."""
        def clicked() -> bool:
            self.driver.find_element(By.CSS_SELECTOR, selector).click()
            return True
        self.wait(clicked, f"a click on {selector}")

    def watch(self, condition: str) -> int:
        """Start noting when the JavaScript expression `condition` first holds, checked by the page itself every
        50 ms: a bound on how soon the page shows something then times the page, not this test's polling
        through the WebDriver. Returns the watch's number for seen_at; a page load forgets it."""
        return self.js(WATCH.replace("CONDITION", condition))

    def seen_at(self, watch: int, what: str, timeout: float = 60.0) -> float:
        """When (Unix time, the page's clock: the host's) the page first met the watch's condition."""
        return self.wait(lambda: self.js("return window.__watched[arguments[0]]", watch), what, timeout)

    def texts(self, selector: str) -> list[str]:
        """Text of every element matching selector, read at once (the page re-renders them every 2 s)."""
        return self.js("return [...document.querySelectorAll(arguments[0])].map(e => e.textContent)", selector)

    def open(self, route: str = "#/") -> None:
        self.driver.get(f"{self.base_url}/{route}")
        # generous: the first test of a module opens the page while its agent and containers are still warming up
        try:
            self.wait(lambda: self.js("return !!(window.__viz && window.__viz.currentGraph)"), "the map to load data", 90)
        except AssertionError as e:
            raise AssertionError(f"{e}; the page then: {self.state()}") from None

    def state(self) -> dict:
        """What a page that did not load shows and recorded, for the failure's message; with the requests
        Chromium saw fail, which the page's own resource timings leave out."""
        return {**self.js(PAGE_STATE), "failed_requests": failed_requests(self.driver.get_log("performance"))}

    def view(self) -> list[str]:
        return self.js("return window.__viz.currentGraph.graphIndex.slice()")

    def wait_for_view(self, view: list[str]) -> None:
        self.wait(lambda: self.view() == view, f"view {view}")

    def shown_names(self) -> list[str]:
        return self.js("return [...document.querySelectorAll('#map-summary li')].map((li) => li.dataset.name)")

    def wait_for_names(self, names: set[str]) -> None:
        self.wait(lambda: names <= set(self.shown_names()), f"{sorted(names)} in the view")

    def drawn_names(self) -> set[str]:
        """The nodes Vizceral has in its current graph."""
        return set(self.js("return Object.keys(window.__viz.currentGraph.nodes)"))

    def node_point(self, name: str) -> tuple[float, float]:
        """Where a node is drawn, once the zoom animation and layout have settled."""
        last: list[tuple[float, float] | None] = [None]

        def settled():
            point = self.js(NODE_POINT, name)
            here = (point["x"], point["y"]) if point else None
            stable = here is not None and last[0] is not None and abs(here[0] - last[0][0]) < 0.5 and abs(here[1] - last[0][1]) < 0.5
            last[0] = here
            return here if stable else None

        return self.wait(settled, f"node {name!r} to settle on the canvas")

    def edge_point(self, client: str, server: str) -> tuple[float, float]:
        (x1, y1), (x2, y2) = self.node_point(client), self.node_point(server)
        return (x1 + x2) / 2, (y1 + y2) / 2

    def pointer(self, point: tuple[float, float]):
        actions = ActionChains(self.driver)
        actions.w3c_actions.pointer_action.move_to_location(int(point[0]), int(point[1]))
        return actions

    def hover_at(self, point: tuple[float, float]) -> None:
        self.pointer(point).perform()

    def card_of(self, name: str) -> str:
        """The hover card of a node. The pointer is moved onto the node again (a pixel aside each time, so
        that it is a move) until the card shows it: a frame drawn while the pointer moved may have missed it."""
        nudge = [0]

        def shown():
            x, y = self.node_point(name)
            nudge[0] ^= 1
            self.hover_at((x + nudge[0], y))
            card = self.hover_card()
            # the name, then its badges (ghost, new, slow: dashboard/static/js/hovercard.js); a card titled
            # "web → api" is an edge's, under the pointer when it lands on the edge beside the node
            title = card.split("\n", 1)[0]
            with_badges = title.startswith(f"{name} ") and not title.startswith(f"{name} → ")
            return (title == name or with_badges) and card
        return self.wait(shown, f"the card of {name}")

    def click_at(self, point: tuple[float, float], double: bool = False) -> None:
        actions = self.pointer(point)
        if double:
            actions.w3c_actions.pointer_action.double_click()
        else:
            actions.w3c_actions.pointer_action.click()
        actions.perform()

    def panel(self):
        return self.driver.find_element(By.ID, "details")

    def panel_text(self) -> str:
        panel = self.panel()
        return panel.text if panel.is_displayed() else ""

    def wait_for_panel(self, text: str) -> str:
        return self.wait(lambda: text in self.panel_text() and self.panel_text(), f"{text!r} in the details panel")

    def hover_card(self) -> str:
        """Text of the card under the pointer, "" when none shows."""
        return self.js("const c = document.getElementById('hover-card'); return c.hidden ? '' : c.innerText")

    def hash(self) -> str:
        return self.js("return window.location.hash")

    def freshness(self) -> tuple[str, str]:
        element = self.driver.find_element(By.ID, "freshness")
        return element.get_attribute("data-state"), element.text

    def canvas(self) -> Image.Image:
        png = self.driver.find_element(By.ID, "map-canvas").screenshot_as_png
        return Image.open(io.BytesIO(png)).convert("RGB")

    def wait_for_moving_dots(self, timeout: float = 15.0) -> None:
        """Traffic dots move: the canvas comes to differ from a first picture of it by more than a few
        pixels (slow edges launch a dot only now and then, so look again rather than once)."""
        before = self.canvas()
        self.wait(lambda: changed_fraction(before, self.canvas()) > MOVED_FRACTION, "traffic dots to move", timeout)

    def save(self, path: Path) -> None:
        self.driver.save_screenshot(str(path))

    def alerts(self) -> list[str]:
        """alert() calls the page made, including any dialog left open."""
        calls = self.js("return window.__alerts")
        try:
            calls.append(self.driver.switch_to.alert.text)
        except NoAlertPresentException:
            pass
        return calls

    def csp_violations(self) -> list[str]:
        return self.js("return window.__cspViolations")


def failed_requests(performance_log: list[dict]) -> list[str]:
    """"url: error" of each request that failed, from Chromium's performance log (tests/browser/conftest.py
    turns it on): its Network events."""
    urls, failed = {}, []
    for entry in performance_log:
        event = json.loads(entry["message"])["message"]
        params = event.get("params", {})
        if event["method"] == "Network.requestWillBeSent":
            urls[params["requestId"]] = params["request"]["url"]
        elif event["method"] == "Network.loadingFailed":
            failed.append(f"{urls.get(params['requestId'], params['requestId'])}: {params['errorText']}")
    return failed


def drawn_fraction(image: Image.Image) -> float:
    """Share of pixels that are not the empty background."""
    background = Image.new("RGB", image.size, BACKGROUND)
    diff = ImageChops.difference(image, background).convert("L").point(lambda v: 255 if v > 12 else 0)
    return diff.histogram()[255] / (image.width * image.height)


MOVED_FRACTION = 0.0005  # of the canvas's pixels: a few dots' worth


def changed_fraction(before: Image.Image, after: Image.Image) -> float:
    diff = ImageChops.difference(before, after).convert("L").point(lambda v: 255 if v > 12 else 0)
    return diff.histogram()[255] / (before.width * before.height)
