"""The HTML assignment page in a real browser: headless Chromium, driven through the DevTools protocol.

Chromium is started with ``--remote-debugging-pipe`` and spoken to over that pipe (JSON messages
ended by NUL on file descriptors 3 and 4), so the test needs no Python package beyond the standard
library and no driver binary. It loads a page written by ``diffpool plot assignments --format html``
from a briefly trained model, fails on any console error or uncaught exception, moves the mouse
over a node and over a level-1 cluster with ``Input.dispatchMouseEvent``, and checks the tooltip
against S computed again from the same checkpoint and graph.

The screenshot (tooltip showing) is written to ``$DIFFPOOL_TEST_ARTIFACTS`` when that is set,
else to the test's ``tmp_path``. Without Chromium the test skips, except when ``CI`` is set
(``scripts/ensure_browser`` installs it there): then a missing or broken browser is a failure.
``DIFFPOOL_CHROMIUM`` names the browser executable when it is not on PATH.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pytest

from test_viz import _cli, _one_thread, train_run, trained  # noqa: F401

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
VIEWPORT = (1700, 1100)
START_TIMEOUT = 60.0  # first answer from a cold browser on a busy machine
COMMAND_TIMEOUT = 20.0
TOP_PROBABILITIES = 8  # entries of S's row the tooltip lists (html._TOP_PROBABILITIES)
GRAPH_INDEX = 3  # graph of the synthetic set the page draws


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str) -> None:
    """Skip outside CI; fail in CI, where ``scripts/ensure_browser`` has installed Chromium."""
    if _in_ci():
        pytest.fail(f"{reason} (CI is set: run scripts/ensure_browser to install Chromium)")
    pytest.skip(f"{reason}; install Chromium (scripts/ensure_browser) or set DIFFPOOL_CHROMIUM")


def _find_browser() -> str | None:
    named = os.environ.get("DIFFPOOL_CHROMIUM")
    if named:
        return named if os.access(named, os.X_OK) else None
    for name in BROWSER_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _to_fixed(value: float, digits: int) -> str:
    """JavaScript's ``Number.prototype.toFixed`` for a value ≥ 0: the exact binary value, ties up."""
    return str(Decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


class BrowserError(RuntimeError):
    pass


class DevTools:
    """A headless Chromium and its DevTools connection over ``--remote-debugging-pipe``."""

    def __init__(self, executable: str, profile: Path, log_path: Path) -> None:
        # The browser reads commands on fd 3 and writes answers and events on fd 4. The pipe ends go
        # above 9 first, so that moving them to 3 and 4 in the child cannot overwrite one another.
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        child_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
        child_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
        os.close(to_browser_r)
        os.close(from_browser_w)
        flags = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
            "--force-device-scale-factor=1",
            "--hide-scrollbars",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--mute-audio",
            "about:blank",
        ]
        self.log_path = log_path
        self._log = open(log_path, "wb")
        try:
            self.process = subprocess.Popen(
                ["bash", "-c", f'exec 3<&{child_r} 4>&{child_w} {child_r}<&- {child_w}>&-; exec "$@"', "bash"]
                + [executable, *flags],
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=self._log,
                pass_fds=(child_r, child_w),
                start_new_session=True,
            )
        finally:
            os.close(child_r)
            os.close(child_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        self.session: str | None = None

    # ------------------------------------------------------------------ wire
    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("no answer from Chromium in time")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    try:
                        code = self.process.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        code = None
                    raise BrowserError(f"Chromium closed the DevTools pipe (exit code {code})")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, *, browser: bool = False, timeout=None) -> dict:
        """Send one command (to the attached page unless ``browser``) and return its result."""
        self._next_id += 1
        message: dict = {"id": self._next_id, "method": method, "params": params or {}}
        if not browser:
            message["sessionId"] = self.session
        data = json.dumps(message).encode() + b"\0"
        try:
            while data:
                data = data[os.write(self._to_browser, data) :]
        except BrokenPipeError as error:
            raise BrowserError(f"Chromium is gone (exit code {self.process.poll()})") from error
        deadline = time.monotonic() + (timeout or COMMAND_TIMEOUT)
        while True:
            answer = self._read(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            if "method" in answer:
                self.events.append(answer)

    def wait_for(self, method: str, timeout: float = COMMAND_TIMEOUT) -> dict:
        """The first event ``method`` of the attached page not yet waited for."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                if event["method"] == method and event.get("sessionId") == self.session:
                    self.events.remove(event)
                    return event
            seen = len(self.events)
            event = self._read(deadline)
            if "method" in event:
                self.events.append(event)

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise AssertionError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    # ------------------------------------------------------------------ page
    def open_page(self) -> None:
        targets = self.call("Target.getTargets", browser=True, timeout=START_TIMEOUT)["targetInfos"]
        pages = [t["targetId"] for t in targets if t["type"] == "page"]
        if pages:
            target = pages[0]
        else:
            target = self.call("Target.createTarget", {"url": "about:blank"}, browser=True)["targetId"]
        attached = self.call("Target.attachToTarget", {"targetId": target, "flatten": True}, browser=True)
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        width, height = VIEWPORT
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def navigate(self, url: str) -> None:
        answer = self.call("Page.navigate", {"url": url})
        if answer.get("errorText"):
            raise AssertionError(f"navigation to {url} failed: {answer['errorText']}")
        self.wait_for("Page.loadEventFired")

    def mouse_to(self, x: float, y: float) -> None:
        self.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})

    def problems(self) -> list[str]:
        """Console errors, failed assertions, uncaught exceptions and error log entries so far."""
        found = []
        for event in self.events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                text = details.get("exception", {}).get("description") or details.get("text")
                found.append(f"uncaught exception: {text}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                args = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                found.append(f"console.{params['type']}: {args}")
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                entry = params["entry"]
                found.append(f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}")
        return found

    def close(self) -> None:
        if self._log.closed:
            return
        if self.process.poll() is None:
            try:
                self.call("Browser.close", browser=True, timeout=5)
            except BrowserError:
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        os.close(self._to_browser)
        os.close(self._from_browser)
        self._log.close()


@pytest.fixture
def browser(tmp_path):
    executable = _find_browser()
    if executable is None:
        looked = f"{', '.join(BROWSER_NAMES)} on PATH and DIFFPOOL_CHROMIUM"
        _unavailable(f"no Chromium found (looked for {looked})")
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    tools = DevTools(executable, profile, tmp_path / "chromium.log")
    try:
        try:
            tools.open_page()
        except BrowserError as error:
            tools.close()
            log = tools.log_path.read_text(errors="replace").strip()[-2000:]
            _unavailable(f"Chromium at {executable} did not start: {error}" + (f"\n{log}" if log else ""))
        yield tools
    finally:
        tools.close()


def _artefact_dir(tmp_path: Path) -> Path:
    named = os.environ.get("DIFFPOOL_TEST_ARTIFACTS")
    folder = Path(named) if named else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _centres_js(selector: str, key: str) -> str:
    """JSON ``[[key, x, y], ...]``: the centre of every circle ``selector`` that the mouse reaches there,
    in the viewport and not under another element (labels do not catch the pointer; a neighbour may)."""
    return f"""
(() => {{
  const out = [];
  for (const c of document.querySelectorAll('{selector}')) {{
    const r = c.getBoundingClientRect(), x = r.left + r.width / 2, y = r.top + r.height / 2;
    const owner = c.closest('[{key}]');
    if (x >= 0 && y >= 0 && x < innerWidth && y < innerHeight && document.elementFromPoint(x, y) === c)
      out.push([+owner.getAttribute('{key}'), x, y]);
  }}
  return out;
}})()
"""


# JSON: every node or cluster (with its label) that is not wholly inside its panel, which clips it.
_OUTSIDE_PANELS = """
(() => {
  const out = [];
  for (const svg of document.querySelectorAll('svg.panel')) {
    const p = svg.getBoundingClientRect();
    for (const e of svg.querySelectorAll('circle.node, g.cluster')) {
      const r = e.getBoundingClientRect();
      const e_ = 0.5;  // rounding slack
      if (r.left < p.left - e_ || r.top < p.top - e_ || r.right > p.right + e_ || r.bottom > p.bottom + e_)
        out.push(svg.id + ' ' + (e.getAttribute('data-i') ?? e.getAttribute('data-k')));
    }
  }
  return out;
})()
"""

_TIP = """
(() => {
  const tip = document.getElementById('tip'), r = tip.getBoundingClientRect();
  const input = document.getElementById('input');
  return {
    display: getComputedStyle(tip).display,
    box: [r.left, r.top, r.width, r.height],
    lines: Array.from(tip.children).filter(e => !e.classList.contains('bar')).map(e => e.textContent),
    bars: Array.from(tip.querySelectorAll('.bar')).map(b => Array.from(b.children).map(s => s.textContent)),
    dimmed: input.classList.contains('dim'),
    highlighted: Array.from(input.querySelectorAll('circle.node.hit')).map(c => +c.getAttribute('data-i')),
  };
})()
"""


def _expected_tooltip(view, i: int) -> tuple[list[list[str]], str | None]:
    """The bars ``[label, value]`` and the "other clusters" line of node ``i``, formatted as the page does:
    the JSON rounds S to 4 decimals, the script prints 3 (``toFixed``)."""
    row = np.asarray(view.probabilities[i], dtype=float)
    top = np.argsort(-row, kind="stable")[:TOP_PROBABILITIES]
    bars = [[f"c{k}", _to_fixed(round(float(row[k]), 4), 3)] for k in top]
    rest = round(float(max(0.0, 1.0 - row[top].sum())), 4)
    return bars, (f"other clusters: {_to_fixed(rest, 3)}" if rest > 0.0005 else None)


def test_html_page_renders_and_hover_shows_the_row_of_s(browser, request, tmp_path):
    from diffpool.training.predict import load_trained_model
    from diffpool.viz import assignment_view, load_plot_graph

    *_, ckpt = request.getfixturevalue("trained")  # trained only once a browser runs (else it skips)
    page = tmp_path / "assignments.html"
    args = ["plot", "assignments", "--checkpoint", str(ckpt), "--dataset", "synthetic"]
    assert _cli(args + ["--index", str(GRAPH_INDEX), "--out", str(page), "--format", "html"]) == 0
    # The data the page was built from, computed the way the plot command computes it.
    model, hparams = load_trained_model(ckpt)
    data, names, title = load_plot_graph(hparams, dataset="synthetic", index=GRAPH_INDEX)
    view = assignment_view(model, data, node_names=names, title=title)

    browser.navigate(page.as_uri())
    assert browser.problems() == [], "the page logs errors as it loads"
    assert browser.evaluate("document.querySelectorAll('#input circle.node').length") == view.num_nodes
    assert browser.evaluate(_OUTSIDE_PANELS) == [], "drawn outside their panel (clipped)"
    assert browser.evaluate("getComputedStyle(document.getElementById('tip')).display") == "none"
    assert browser.evaluate("(i => i.complete && i.naturalWidth > 0)(document.querySelector('img'))")

    # The node to hover: one the pointer reaches, the least confident of them (the most bars).
    centres = browser.evaluate(_centres_js("#input circle.node", "data-i"))
    assert centres, "no input node can be reached by the mouse in the viewport"
    i, x, y = min(centres, key=lambda c: (view.confidence[c[0]], c[0]))
    browser.mouse_to(1, 1)
    browser.mouse_to(x, y)
    tip = browser.evaluate(_TIP)
    assert tip["display"] == "block", "hovering a node shows no tooltip"
    left, top, width, height = tip["box"]
    assert width > 0 and height > 0 and left >= 0 and top >= 0 and left + width <= VIEWPORT[0]
    bars, rest = _expected_tooltip(view, i)
    assert tip["lines"][0] == f"{view.node_names[i]}  (node {i})"
    assert tip["lines"][1] == "cluster probabilities (row of S, level 1):"
    assert [[b[1], b[3]] for b in tip["bars"]] == bars
    assert tip["lines"][2:] == ([rest] if rest else [])
    # the node's cluster is highlighted, the rest dimmed
    assert tip["dimmed"]
    assert sorted(tip["highlighted"]) == np.flatnonzero(view.cluster == view.cluster[i]).tolist()

    shot = _artefact_dir(tmp_path) / "html_browser_node_hover.png"
    png = browser.call("Page.captureScreenshot", {"format": "png"})["data"]
    shot.write_bytes(base64.b64decode(png))
    request.node.user_properties.append(("screenshot", str(shot)))
    print(f"\nscreenshot of the page with node {i}'s tooltip: {shot}")
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 10_000

    # leaving the node hides the tooltip again
    browser.mouse_to(2, 2)
    tip = browser.evaluate(_TIP)
    assert tip["display"] == "none" and not tip["dimmed"] and tip["highlighted"] == []

    # a level-1 cluster, the heaviest the pointer reaches: its mass (column sum of S) in input nodes
    clusters = {k: (x, y) for k, x, y in browser.evaluate(_centres_js("#level1 g.cluster circle", "data-k"))}
    k = next(int(c) for c in view.colour_order if c in clusters)
    browser.mouse_to(*clusters[k])
    tip = browser.evaluate(_TIP)
    assert tip["display"] == "block", "hovering a level-1 cluster shows no tooltip"
    mass = _to_fixed(round(float(view.levels[0].mass[k]), 4), 2)
    assert tip["lines"][:2] == [f"c{k}", f"mass: {mass} input nodes; level-1 clusters inside:"]

    # near the bottom of a short window the tooltip opens upwards and stays wholly visible
    browser.mouse_to(2, 2)
    i, x, y = max(centres, key=lambda c: (c[2], c[0]))
    bottom = int(y) + 40
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        {"width": VIEWPORT[0], "height": bottom, "deviceScaleFactor": 1, "mobile": False},
    )
    browser.mouse_to(x, y)
    tip = browser.evaluate(_TIP)
    assert tip["display"] == "block" and tip["lines"][0] == f"{view.node_names[i]}  (node {i})"
    left, top, width, height = tip["box"]
    assert 0 <= top and top + height <= bottom and 0 <= left and left + width <= VIEWPORT[0], tip["box"]

    assert browser.problems() == []
