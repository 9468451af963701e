"""The audit's parts without a network: check help in step with docs/checks.md, the rate limiter
(on a fake clock), the memoising store (over a real layout), the spool, and the reports of an
empty or odd audit (still valid documents)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from slsacheck.audit import rules, transport
from slsacheck.audit.memo import MemoStore
from slsacheck.audit.records import Spool, Summary
from slsacheck.audit.report import FORMATS, Report, writer
from slsacheck.errors import Error, NotFound
from slsacheck.models.digest import Digest
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from slsacheck.policy import checkids
from tests.support.env import ROOT


def test_help_covers_exactly_the_documented_check_ids() -> None:
    table = (ROOT / "docs" / "checks.md").read_text()
    documented = set(re.findall(r"^\| `([^`]+)` \|", table, flags=re.M))
    assert documented == set(rules.HELP)
    for name in (checkids.SIGNATURES_THRESHOLD, checkids.PROVENANCE_STEP_IMAGES, checkids.present("sbom"),
                 checkids.condition("provenance", 3), checkids.exception(2), checkids.VULN_MAX_AGE):
        assert rules.documented(name) is not None, name
    assert rules.documented("no.such.check") is None
    assert "docs/checks.md" in rules.help_text("no.such.check")


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_rate_limiter_spaces_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _Clock()
    monkeypatch.setattr(transport, "time", clock)
    limiter = transport.RateLimiter(4, burst=2)
    for _ in range(2):
        limiter.acquire()
    assert clock.slept == []  # the burst
    for _ in range(4):
        limiter.acquire()
    assert clock.slept == pytest.approx([0.25] * 4)  # then 4 a second
    clock.now += 10  # idle: the bucket refills, up to the burst only
    limiter.acquire()
    limiter.acquire()
    limiter.acquire()
    assert len(clock.slept) == 5
    with pytest.raises(ValueError):
        transport.RateLimiter(0)


class _CountingLayout(LayoutStore):
    def __init__(self, path: Path) -> None:
        super().__init__(path, create=True)
        self.reads = 0

    def fetch_manifest(self, reference: str, **kwargs: Any) -> Any:
        self.reads += 1
        return super().fetch_manifest(reference, **kwargs)

    def fetch_blob(self, descriptor: Any, **kwargs: Any) -> bytes:
        self.reads += 1
        return super().fetch_blob(descriptor, **kwargs)


def test_memo_store_reads_once_and_remembers_not_found(tmp_path: Path) -> None:
    inner = _CountingLayout(tmp_path / "layout")
    built = scratch.image({"a": b"1"})
    scratch.push(inner, built, tag="v1")
    memo = MemoStore(inner)
    manifest = memo.fetch_manifest("v1")
    memo.remember(manifest, "v1")
    assert memo.fetch_manifest(str(built.digest)).raw == built.manifest
    config = manifest.config
    assert config is not None
    assert memo.fetch_blob(config) == memo.fetch_blob(config)
    missing = Digest.of(b"nothing")
    for _ in range(2):
        with pytest.raises(NotFound):
            memo.fetch_manifest(f"{missing.tag_form}.sig")
    assert inner.reads == 3  # manifest, blob, the miss: each once
    with pytest.raises(Error, match="does not write"):
        memo.push_manifest(b"{}", "application/json")


def test_spool_streams_back_and_refuses_after_close() -> None:
    spool = Spool()
    offsets = [spool.append({"image": f"i{n}", "n": n}) for n in range(3)]
    assert spool.read(offsets[1] or 0) == {"image": "i1", "n": 1}
    spool.close()
    assert spool.append({"image": "late"}) is None
    assert [r["n"] for r in spool] == [0, 1, 2]
    spool.discard()


def _report(records: list[dict[str, Any]], **meta: Any) -> Report:
    summary = Summary()
    for record in records:
        summary.add(record)
    base = {"tool": {"name": "slsacheck", "version": "0"}, "startedAt": "2026-11-26T00:00:00Z",
            "finishedAt": "2026-11-26T00:00:01Z", "complete": True, "interrupted": False, "mode": "policy",
            "policies": ["p"], "policyFiles": [], "policyDigest": None, "trustedRoot": None, "sources": [],
            "note": None}
    return Report({**base, **meta}, summary.to_json(), lambda: iter(records))


ODD = {"image": 'r.example/a:<b>&"c"', "repository": "r.example/a", "digest": None, "outcome": "error",
       "slsaLevel": None, "verdict": None, "evidence": None, "error": "bad \x01 bytes <here> & there", "sameAs": None}


SEEN = {"image": "r.example/a:1", "repository": "r.example/a", "digest": "sha256:" + "1" * 64,
        "outcome": "inventory", "slsaLevel": 1, "verdict": None, "error": None, "sameAs": None,
        "evidence": {"signatures": [], "attestations": [], "rejected": [], "age": None, "searched": [],
                     "incomplete": [], "slsa": {"level": 1, "reason": "provenance present, not verified"},
                     "provenance": {"version": "v1", "builder": "https://b.example", "buildType": None,
                                    "sources": ["git+https://g.example/r"], "refs": [], "commits": [],
                                    "tasks": [], "taskRefs": [], "stepImages": [], "finishedOn": None}}}


@pytest.mark.parametrize("records", [[], [ODD], [SEEN, ODD]], ids=["empty", "odd", "inventory"])
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_writes_a_whole_document(fmt: str, records: list[dict[str, Any]]) -> None:
    out = io.StringIO()
    writer(fmt)(_report(records), out)
    text = out.getvalue()
    if fmt in ("json", "sarif"):
        doc = json.loads(text)
        if fmt == "json":
            assert doc["images"] == records
        else:
            assert len(doc["runs"][0]["results"]) == sum(1 for r in records if r["outcome"] == "error")
    elif fmt == "junit":
        from junitparser import JUnitXml

        xml = JUnitXml.fromstring(text)
        assert xml.errors == sum(1 for r in records if r["outcome"] == "error")
        assert xml.tests == len(records)  # one case per image without a policy
    elif fmt == "html":
        assert text.rstrip().endswith("</html>") and "<b>&" not in text
        assert text.count('<tbody class="img"') == len(records)
    if records and fmt in ("text", "markdown", "html"):
        assert "https://b.example" in text or len(records) == 1
    assert "\x01" not in text or fmt in ("json", "sarif", "text")


def _on_a_terminal(argv: list[str]) -> tuple[int, str]:
    """Run `slsacheck` with a pseudo-terminal as its stdout and stderr: (exit code, what it drew)."""
    import os
    import pty
    import sys

    pid, fd = pty.fork()
    if pid == 0:  # the child: become slsacheck
        os.execv(sys.executable, [sys.executable, "-m", "slsacheck", *argv])
    out = b""
    for _ in range(100_000):  # bounded: the child ends, and the terminal reads end with it
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        out += data
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def test_progress_bar_only_on_a_terminal_and_not_when_quiet(tmp_path: Path) -> None:
    layout = LayoutStore(tmp_path / "layout", create=True)
    for i in range(5):
        scratch.push(layout, scratch.image({"f": str(i).encode()}), tag=f"v{i}")
    argv = ["audit", f"oci:{tmp_path / 'layout'}", "--format", "json", "--output", str(tmp_path / "r.json")]
    code, drawn = _on_a_terminal(argv)
    assert code == 0 and "auditing" in drawn and "5/5" in drawn and "5 image(s)" in drawn
    code, drawn = _on_a_terminal([*argv, "--quiet"])
    assert code == 0 and drawn == ""


@pytest.mark.parametrize(("argv", "says"), [
    (["audit"], "nothing to audit"),
    (["audit", "r.example/a:1", "--concurrency", "0"], "--concurrency"),
    (["audit", "r.example/a:1", "--rate-limit", "0"], "--rate-limit"),
    (["audit", "r.example/a:1", "--no-match", "allow"], "--no-match needs --policy"),
    (["audit", "r.example/a:1", "--policy", "p.yaml", "--trusted-root", "t.json"], "--trusted-root"),
    (["audit", "--images-file", "/nonexistent/list.txt"], "cannot read"),
    (["audit", "r.example/a:1", "--format", "json", "--format", "sarif"], "--output"),
])
def test_usage_errors_before_any_registry_call(argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
                                               ) -> None:
    from slsacheck.cli import main

    assert main(argv) == 2
    assert says in capsys.readouterr().err
