"""One rendering of a verdict for every surface: the CLI's text, the webhook's line, the
promotion record and the audit's reports show a check with the same fields, in the same
order, and no surface formats a check by itself."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from slsacheck.admission.judge import ImageResult
from slsacheck.admission.messages import image_line
from slsacheck.audit.records import Summary
from slsacheck.audit.report import Report, writer
from slsacheck.models import verdict_render
from slsacheck.models.verdict import Check, Outcome, Verdict
from tests.support.env import ROOT

DIGEST = "sha256:" + "c" * 64
# A check whose only words are its message: the form an exception or a condition without a
# `found` takes. Every surface must still say why it failed.
ONLY_MESSAGE = Check("conditions.0", Outcome.FAIL, policy="release", message="the condition is false")
FULL = Check("provenance.builderIds", Outcome.FAIL, policy="release", expected="https://builder.example/a",
             found="https://evil.example/b", hint="build on the trusted builder")
VERDICT = Verdict("app:v1", DIGEST, ("release",), (Check("signatures.threshold", Outcome.PASS), FULL, ONLY_MESSAGE))


def test_the_one_line_forms_name_what_was_found_expected_and_advised() -> None:
    assert verdict_render.check_line(FULL) == (
        "provenance.builderIds [release]: https://evil.example/b (expected https://builder.example/a); "
        "hint: build on the trusted builder")
    assert verdict_render.check_line(ONLY_MESSAGE) == "conditions.0 [release]: the condition is false"
    assert verdict_render.failed_line(ONLY_MESSAGE) == "FAIL conditions.0: the condition is false"
    line = image_line(ImageResult("app:v1", VERDICT, "verified"))
    assert line == verdict_render.image_line("app:v1", VERDICT)
    assert line.startswith(f"app:v1 ({DIGEST}): fail: provenance.builderIds [release]: ")
    assert "signatures.threshold" not in line  # a passed check is no reason


def test_a_verdict_without_checks_reads_as_failed_closed() -> None:
    empty = Verdict("app:v1", None, (), ())
    assert verdict_render.image_line("app:v1", empty) == "app:v1 (digest unresolved): fail: no check ran (fail closed)"


def _audit(fmt: str) -> str:
    record: dict[str, Any] = {"image": "app:v1", "repository": "app", "digest": DIGEST, "outcome": "fail",
                              "slsaLevel": None, "verdict": VERDICT.to_json(), "evidence": None, "error": None,
                              "sameAs": None}
    summary = Summary()
    summary.add(record)
    meta = {"tool": {"name": "slsacheck", "version": "0"}, "startedAt": "2026-11-26T00:00:00Z",
            "finishedAt": "2026-11-26T00:00:01Z", "complete": True, "interrupted": False, "mode": "policy",
            "policies": ["release"], "policyFiles": [], "policyDigest": None, "trustedRoot": None, "sources": [],
            "note": None}
    out = io.StringIO()
    writer(fmt)(Report(meta, summary.to_json(), lambda: iter([record])), out)
    return out.getvalue()


def test_every_surface_shows_why_a_check_with_only_a_message_failed() -> None:
    assert "the condition is false" in verdict_render.render_verdict(VERDICT)
    assert "the condition is false" in image_line(ImageResult("app:v1", VERDICT, "verified"))
    for fmt in ("markdown", "junit", "sarif"):
        assert "the condition is false" in _audit(fmt), fmt


def test_check_details_keep_the_order_of_the_text_form() -> None:
    details = verdict_render.check_details({**FULL.to_json(), "message": "m"})
    assert [k for k, _ in details] == ["message", "expected", "found", "hint"]
    text = verdict_render.checks_table(VERDICT)
    block = text[text.index("provenance.builderIds"):]
    assert block.index("expected:") < block.index("found:") < block.index("hint:")


def test_no_surface_formats_a_check_by_itself() -> None:
    # The labelled fields of a check are spelled out only in the render module: a surface
    # that lists them again has started its own rendering.
    listing = re.compile(r"""\(\s*["']expected["'],\s*["']found["'],\s*["']hint["']""")
    inline = re.compile(r"check\.expected\b.*check\.found\b|check\.found\b.*check\.expected\b")
    offenders = []
    surfaces = ("cli", "admission", "audit", "promote", "verify")
    for path in sorted(p for s in surfaces for p in (ROOT / "slsacheck" / s).rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if listing.search(text) or inline.search(text):
            offenders.append(str(Path(path).relative_to(ROOT)))
    assert offenders == []
