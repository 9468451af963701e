"""The HTML audit report in a real browser (Debian chromium, headless): one row per image,
filtering and sorting driven through the URL fragment the page reads, details that open,
nothing fetched from anywhere. Screenshots go to tests/artifacts/ (git-ignored) for a person.
"""

from __future__ import annotations

import base64
import contextlib
import json
import struct
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.audit.scenario import Audit
from tests.support.env import ROOT, require_module, require_tool
from tests.support.processes import stop

pytestmark = pytest.mark.integration

ARTIFACTS = ROOT / "tests" / "artifacts"


class _Rows(HTMLParser):
    """The report's image bodies as the browser left them: attributes and detail visibility."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[dict[str, str | None]] = []
        self.details_open = 0
        self.shown: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tbody" and "img" in (found.get("class") or ""):
            self.bodies.append(found)
        if tag == "tr" and found.get("class") == "detail" and "hidden" not in found:
            self.details_open += 1
        if tag == "table" and found.get("id") == "images":
            self.shown = found.get("data-shown")

    def visible(self) -> list[str]:
        return [str(b["data-image"]) for b in self.bodies if "hidden" not in b]


def _chromium(tmp: Path, *args: str) -> str:
    """One headless chromium run; a launch that times out or crashes is tried again (3 times at most)."""
    exe = require_tool("chromium")
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp / 'profile'}",
           *args]
    for attempt in range(3):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=True).stdout
        except (subprocess.TimeoutExpired, subprocess.CalledProcessError):
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _dom(tmp: Path, page: Path, fragment: str = "") -> _Rows:
    rows = _Rows()
    rows.feed(_chromium(tmp, "--dump-dom", page.as_uri() + fragment))
    return rows


def test_table_has_a_row_per_image_and_filters(policy_audit: Audit, tmp_path: Path) -> None:
    page = policy_audit.out / "audit.html"
    expected = policy_audit.expected.images
    everything = _dom(tmp_path, page)
    assert sorted(everything.visible()) == sorted(expected)
    assert everything.shown == str(len(expected))

    errors = _dom(tmp_path, page, "#outcome=error")
    assert sorted(errors.visible()) == sorted(i for i, w in expected.items() if w.outcome == "error")
    assert errors.shown == str(policy_audit.expected.count("error"))

    wrong = _dom(tmp_path, page, "#q=untrusted-runner")  # the wrong builder's id, in the row's text
    assert sorted(wrong.visible()) == sorted(i for i in expected if ":wrong-builder-" in i)

    both = _dom(tmp_path, page, "#outcome=pass&q=good-1")  # good-1, good-10 .. good-14
    assert sorted(both.visible()) == sorted(i for i, w in expected.items()
                                            if w.outcome == "pass" and i.split(":")[-1].startswith("good-1"))

    none = _dom(tmp_path, page, "#q=no-such-image-anywhere")
    assert none.visible() == [] and none.shown == "0"


def test_sorting_and_details(policy_audit: Audit, tmp_path: Path) -> None:
    page = policy_audit.out / "audit.html"
    by_level = _dom(tmp_path, page, "#sort=-level")
    levels = [int(b["data-level"]) if b["data-level"] else -1 for b in by_level.bodies]
    assert levels == sorted(levels, reverse=True) and levels[0] == 3
    closed = _dom(tmp_path, page)
    assert closed.details_open == 0
    opened = _dom(tmp_path, page, "#open=all")
    assert opened.details_open == len(policy_audit.expected.images)


def test_page_is_self_contained_and_screenshots(policy_audit: Audit, tmp_path: Path) -> None:
    html = (policy_audit.out / "audit.html").read_text()
    assert "<link" not in html and " src=" not in html and "@import" not in html and "url(" not in html
    assert "default-src 'none'" in html  # the CSP forbids any fetch
    ARTIFACTS.mkdir(exist_ok=True)
    page = (policy_audit.out / "audit.html").as_uri()
    failing = next(b for b in _dom(tmp_path, policy_audit.out / "audit.html").bodies
                   if ":wrong-builder-" in str(b["data-image"]))
    for name, fragment in (("audit-report.png", ""), ("audit-report-details.png",
                                                       f"#q=wrong-builder&open={failing['id']}")):
        target = ARTIFACTS / name
        target.unlink(missing_ok=True)
        _chromium(tmp_path, "--window-size=1400,1500", "--hide-scrollbars", f"--screenshot={target}", page + fragment)
        assert target.stat().st_size > 10_000


class _DevTools:
    """Just enough of the Chrome DevTools protocol (over websocket-client) to look at a page."""

    def __init__(self, url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self.next_id = 0

    def call(self, method: str, **params: object) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        for _ in range(10_000):  # bounded: events may come before our answer
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                result: dict[str, Any] = message["result"]
                return result
        raise AssertionError(f"no answer to {method}")

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"]["value"]


def _page_socket(profile: Path, process: subprocess.Popen[bytes]) -> str:
    port_file = profile / "DevToolsActivePort"
    for _ in range(900):  # bounded: 90 s, chromium starts slowly on a loaded machine
        if port_file.is_file() and port_file.read_text().strip():
            break
        if process.poll() is not None:
            raise _LaunchFailed("chromium exited")
        time.sleep(0.1)
    else:
        raise _LaunchFailed("chromium wrote no DevToolsActivePort")
    port = port_file.read_text().split()[0]
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
    for _ in range(300):
        with direct.open(f"http://127.0.0.1:{port}/json/list", timeout=30) as answer:
            pages = [t for t in json.load(answer) if t.get("type") == "page"]
        if pages:
            return str(pages[0]["webSocketDebuggerUrl"])
        time.sleep(0.1)
    raise _LaunchFailed("no page target")


class _LaunchFailed(Exception):
    """Chromium did not come up: retried (only the launch is, never an assertion)."""


@contextlib.contextmanager
def _browser(tmp: Path, page: str, *, width: int = 1400, height: int = 1500) -> Iterator[_DevTools]:
    """Headless chromium on `page` with the DevTools protocol on loopback; the launch is tried 3 times."""
    require_module("websocket")
    exe = require_tool("chromium")
    for attempt in range(3):
        profile = tmp / f"profile-devtools-{attempt}"
        process = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             "--remote-debugging-port=0", "--remote-allow-origins=*", f"--window-size={width},{height}", page],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            try:
                tools = _DevTools(_page_socket(profile, process))
            except _LaunchFailed:
                if attempt == 2:
                    raise
                continue
            try:
                yield tools
            finally:
                tools.ws.close()
            return
        finally:
            stop(process)


def _loaded(tools: _DevTools) -> None:
    """Wait for the report itself: the page target may still be about:blank under load."""
    for _ in range(600):  # bounded: 60 s
        if tools.evaluate("location.protocol === 'file:' && document.readyState === 'complete' "
                          "&& document.querySelectorAll('tbody.img').length > 0"):
            return
        time.sleep(0.1)
    raise AssertionError("the report did not load")


def test_printed_report_shows_every_row_and_the_details_of_failures(policy_audit: Audit, tmp_path: Path) -> None:
    page = (policy_audit.out / "audit.html").as_uri() + "#outcome=pass"  # a filter the printout keeps
    with _browser(tmp_path, page) as tools:
        _loaded(tools)
        tools.call("Emulation.setEmulatedMedia", media="print")
        tools.evaluate("location.hash = ''")  # print everything
        # The page applies the new hash in its hashchange handler, which runs after this call.
        for _ in range(100):
            visible = tools.evaluate("""Array.from(document.querySelectorAll('tbody.img')).filter(
                b => getComputedStyle(b).display !== 'none').length""")
            if visible == len(policy_audit.expected.images):
                break
            time.sleep(0.1)
        assert visible == len(policy_audit.expected.images)
        details = tools.evaluate("""Array.from(document.querySelectorAll('tbody.img')).filter(
            b => getComputedStyle(b.querySelector('tr.detail')).display !== 'none').map(b => b.dataset.outcome)""")
        assert sorted(details) == sorted(w.outcome for w in policy_audit.expected.images.values()
                                         if w.outcome in ("fail", "error", "warn"))
        hidden = tools.evaluate("getComputedStyle(document.querySelector('.controls')).display")
        assert hidden == "none"
        # Nothing wider than the page: long sources and digests wrap instead of being cut off.
        width, room = tools.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width <= room
        shot = tools.call("Page.captureScreenshot", format="png")["data"]
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "audit-report-print.png").write_bytes(base64.b64decode(shot))


_LAYOUT = """(() => {
  const lines = el => { const tops = new Set(), walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walk.nextNode(); node; node = walk.nextNode()) { const range = document.createRange();
      range.selectNodeContents(node);
      for (const box of range.getClientRects()) { if (box.width > 0) tops.add(Math.round(box.top)); } }
    return tops.size; };
  const inner = cell => cell.querySelector('[title]') || cell;
  const refs = Array.from(document.querySelectorAll('tbody.img tr.row')).map(row => {
    const cell = row.cells[2], el = inner(cell);
    return {image: row.parentElement.dataset.image, text: cell.textContent, title: el.title || '',
            lines: lines(cell), fits: el.scrollWidth <= el.clientWidth, source: row.cells[6].textContent,
            sourceTitle: (row.cells[6].querySelector('[title]') || row.cells[6]).title || ''}; });
  const labels = Array.from(document.querySelectorAll('figure')).map(f => ({
    chart: f.querySelector('figcaption').textContent,
    labels: Array.from(f.querySelectorAll('.bar .label')).map(l => ({
      text: l.textContent, fits: l.scrollWidth <= l.clientWidth && l.scrollHeight <= l.clientHeight + 1}))}));
  const sources = Array.from(document.querySelectorAll('tr.detail th')).filter(th => th.textContent === 'sources')
    .map(th => th.nextElementSibling.textContent);
  return {refs, labels, sources, width: document.documentElement.clientWidth,
          scroll: document.documentElement.scrollWidth};
})()"""


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_layout_at_1280_px(policy_audit: Audit, tmp_path: Path) -> None:
    """What a reader of the report sees on a laptop: every image reference on one line and
    whole, every chart label whole, one spelling per source repository."""
    report = json.loads((policy_audit.out / "audit.json").read_text())
    page = (policy_audit.out / "audit.html").as_uri() + "#open=all"
    with _browser(tmp_path, page, width=1280, height=1000) as tools:
        tools.call("Emulation.setDeviceMetricsOverride", width=1280, height=1000, deviceScaleFactor=1, mobile=False)
        _loaded(tools)
        facts = tools.evaluate(_LAYOUT)
    assert facts["width"] <= 1280 and facts["scroll"] <= facts["width"], "the page scrolls sideways"

    refs = facts["refs"]
    assert sorted(r["image"] for r in refs) == sorted(policy_audit.expected.images)
    wrapped = [r["image"] for r in refs if r["lines"] != 1]
    assert not wrapped, f"image references wrap at 1280 px: {wrapped[:3]}"
    cut = [r["image"] for r in refs if not r["fits"]]
    assert not cut, f"image references cut off at 1280 px: {cut[:3]}"
    assert all(r["text"] == r["image"] for r in refs)

    checks = next(c for c in facts["labels"] if c["chart"] == "Most common failing checks")
    assert [label["text"] for label in checks["labels"]] == [c["id"] for c in report["summary"]["failingChecks"]]
    assert "attestations.provenance.present" in [label["text"] for label in checks["labels"]]
    clipped = [label["text"] for chart in facts["labels"] for label in chart["labels"] if not label["fits"]]
    assert not clipped, f"chart labels cut off: {clipped}"

    # The clone task's result and the resolved dependency name one repository in two spellings.
    canonical, written = "https://github.com/example-org/app", "git+https://github.com/example-org/app.git"
    good = next(r for r in refs if r["image"].endswith(":good-3"))
    assert good["source"] == canonical and written in good["sourceTitle"]
    assert facts["sources"] and set(facts["sources"]) == {f"{canonical} (as written: {written})"}
    recorded = next(i for i in report["images"] if i["image"].endswith(":good-3"))["evidence"]["provenance"]
    assert recorded["sources"] == [canonical]
    assert recorded["sourcesAsWritten"] == {canonical: [written]}

    shot = tmp_path / "audit-1280.png"
    _chromium(tmp_path, "--window-size=1280,1600", "--hide-scrollbars", f"--screenshot={shot}",
              (policy_audit.out / "audit.html").as_uri())
    assert shot.stat().st_size > 10_000 and _png_size(shot)[0] == 1280
