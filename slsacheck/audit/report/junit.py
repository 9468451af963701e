"""The audit as JUnit XML for CI dashboards: a test suite per image, a test case per check.

Outcomes map as CI tools expect: `fail` is a `<failure>` (expected, found and hint in its
text), `skip` is `<skipped>`, `warn` passes with the warning in `<system-out>`, and an
image that could not be audited is one `verification.complete` case with an `<error>`.
Without a policy each image has one `inventory` case (its SLSA level and evidence in
`<system-out>`). The totals on `<testsuites>` come from a first pass over the records.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TextIO

from slsacheck._display import xml_attr as attr
from slsacheck._display import xml_text as escape
from slsacheck.audit.report import Report
from slsacheck.models.verdict_render import check_details


def _detail(check: Mapping[str, Any]) -> str:
    return "\n".join(f"{k}: {v}" for k, v in check_details(check))


def _inventory_text(record: Mapping[str, Any]) -> str:
    evidence = record.get("evidence") or {}
    slsa = evidence.get("slsa") or {}
    prov = evidence.get("provenance") or {}
    lines = [f"SLSA build level {slsa.get('level')}: {slsa.get('reason')}",
             f"signatures: {len(evidence.get('signatures') or [])}, attestations: "
             f"{len(evidence.get('attestations') or [])}"]
    if prov:
        lines.append(f"builder: {prov.get('builder')}; sources: {', '.join(prov.get('sources') or [])}")
    return "\n".join(lines)


def cases(record: Mapping[str, Any]) -> Iterator[tuple[str, str, str | None, str]]:
    """(name, outcome, message, body) for every test case of one image."""
    verdict = record.get("verdict")
    if record["outcome"] == "error" and (not verdict or not verdict.get("checks")):
        yield "verification.complete", "error", "the image could not be audited", str(record.get("error") or "")
        return
    if verdict is None:
        yield "inventory", "pass", None, _inventory_text(record)
        return
    if verdict.get("incomplete") and not any(c["id"] == "verification.complete" for c in verdict["checks"]):
        yield "verification.complete", "error", "verification could not complete", "\n".join(verdict["incomplete"])
    for check in verdict["checks"]:
        name = check["id"] + (f" [{check['policy']}]" if check.get("policy") else "")
        outcome = check["outcome"]
        if outcome == "fail" and check["id"] == "verification.complete":
            outcome = "error"
        yield name, outcome, check.get("message") or check.get("found"), _detail(check)


def write_junit(report: Report, out: TextIO) -> None:
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for record in report.records():
        for _, outcome, _, _ in cases(record):
            totals["tests"] += 1
            key = {"fail": "failures", "error": "errors", "skip": "skipped"}.get(outcome)
            if key:
                totals[key] += 1
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(f'<testsuites name="slsacheck audit" tests="{totals["tests"]}" failures="{totals["failures"]}" '
              f'errors="{totals["errors"]}" skipped="{totals["skipped"]}" time="0">\n')
    timestamp = str(report.meta.get("startedAt", ""))[:19]
    for record in report.records():
        image = record["image"]
        rows = list(cases(record))
        counts = {k: sum(1 for r in rows if r[1] == v) for k, v in
                  (("failures", "fail"), ("errors", "error"), ("skipped", "skip"))}
        out.write(f'  <testsuite name={attr(image)} tests="{len(rows)}" failures="{counts["failures"]}" '
                  f'errors="{counts["errors"]}" skipped="{counts["skipped"]}" time="0" '
                  f'timestamp={attr(timestamp)}>\n')
        out.write(f'    <properties><property name="digest" value={attr(str(record.get("digest")))}/>'
                  f'<property name="outcome" value={attr(record["outcome"])}/>'
                  f'<property name="slsaLevel" value={attr(str(record.get("slsaLevel")))}/></properties>\n')
        for name, outcome, message, body in rows:
            out.write(f'    <testcase name={attr(name)} classname={attr(image)} time="0"')
            if outcome in ("pass",) and not body:
                out.write("/>\n")
                continue
            out.write(">")
            if outcome == "fail":
                out.write(f"<failure message={attr(message or 'failed')} type=\"policy\">{escape(body)}</failure>")
            elif outcome == "error":
                out.write(f"<error message={attr(message or 'error')} type=\"incomplete\">{escape(body)}</error>")
            elif outcome == "skip":
                out.write(f"<skipped message={attr(message or 'skipped')}/>")
            elif body:
                out.write(f"<system-out>{escape(body)}</system-out>")
            out.write("</testcase>\n")
        out.write("  </testsuite>\n")
    out.write("</testsuites>\n")
