"""The HTML audit report in a real browser (Debian chromium, headless): one row per image,
filtering and sorting driven through the URL fragment the page reads, details that open,
nothing fetched from anywhere. Screenshots go to tests/artifacts/ (git-ignored) for a person.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
import urllib.request
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
    exe = require_tool("chromium")
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp / 'profile'}",
           *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout


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
    for _ in range(300):  # bounded: 30 s
        if port_file.is_file() and port_file.read_text().strip():
            break
        assert process.poll() is None, "chromium exited"
        time.sleep(0.1)
    port = port_file.read_text().split()[0]
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
    for _ in range(100):
        with direct.open(f"http://127.0.0.1:{port}/json/list", timeout=5) as answer:
            pages = [t for t in json.load(answer) if t.get("type") == "page"]
        if pages:
            return str(pages[0]["webSocketDebuggerUrl"])
        time.sleep(0.1)
    raise AssertionError("no page target")


def test_printed_report_shows_every_row_and_the_details_of_failures(policy_audit: Audit, tmp_path: Path) -> None:
    require_module("websocket")
    exe = require_tool("chromium")
    profile = tmp_path / "profile"
    page = (policy_audit.out / "audit.html").as_uri() + "#outcome=pass"  # a filter the printout keeps
    process = subprocess.Popen(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--remote-debugging-port=0", "--remote-allow-origins=*", "--window-size=1400,1500", page],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        tools = _DevTools(_page_socket(profile, process))
        # The page target may still be about:blank (already "complete") under load: wait for
        # the report itself, or the hash set below is lost when the report loads.
        for _ in range(300):
            if tools.evaluate("location.protocol === 'file:' && document.readyState === 'complete' "
                              "&& document.querySelectorAll('tbody.img').length > 0"):
                break
            time.sleep(0.1)
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
        tools.ws.close()
    finally:
        stop(process)
