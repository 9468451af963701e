"""The audit for a terminal: one line per image, then the summary (no colour: logs read it too).

Every value from a record passes through `slsacheck._display.terminal`: image names come
from registry listings and builder ids from evidence, and neither may drive the terminal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TextIO

from slsacheck._display import terminal as t
from slsacheck.audit.report import Report

LABEL = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "error": "ERROR", "inventory": "SEEN"}


def short_digest(digest: str | None) -> str:
    return t(digest.split(":", 1)[-1][:12]) if digest else "-"


def provenance_claim(evidence: Mapping[str, Any]) -> str:
    """Nothing when the summarised provenance verified; else the words that mark it as a claim.

    The summary speaks of verified provenance first, and of an unverified one only when
    none verified: anyone who can push to the repository can write that one.
    """
    prov = evidence.get("provenance")
    verified = any(a.get("verified") and a.get("provenance") == prov for a in evidence.get("attestations") or [])
    return "" if verified or not prov else " (unverified claim)"


def image_line(record: Mapping[str, Any]) -> str:
    level = record.get("slsaLevel")
    parts = [f"{LABEL.get(record['outcome'], record['outcome']):5}", f"L{level}" if level is not None else "L?",
             t(record["image"]), short_digest(record.get("digest"))]
    verdict = record.get("verdict") or {}
    failed = [c["id"] for c in verdict.get("checks") or [] if c.get("outcome") == "fail"]
    if failed:
        parts.append("failed: " + ", ".join(t(f) for f in failed))
    evidence = record.get("evidence") or {}
    if record["outcome"] == "inventory":
        signatures = evidence.get("signatures") or []
        parts.append(f"signatures {len(signatures)} ({sum(1 for x in signatures if x.get('verified'))} verified), "
                     f"attestations {len(evidence.get('attestations') or [])}")
        if evidence.get("provenance"):
            builder = evidence["provenance"].get("builder")
            # A provenance without a builder id says so in words, not as Python's None.
            parts.append(f"builder {t(builder) if builder else '(none stated)'}{provenance_claim(evidence)}")
    if record.get("error") and record["outcome"] == "error":
        parts.append(t(record["error"]))
    if record.get("sameAs"):
        parts.append(f"(same digest as {t(record['sameAs'])})")
    return "  ".join(parts)


def summary_lines(summary: Mapping[str, Any], meta: Mapping[str, Any]) -> list[str]:
    outcomes = summary["outcomes"]
    lines = [
        f"{summary['images']} image(s), {summary['uniqueDigests']} distinct digest(s) audited"
        + ("" if meta.get("complete", True) else " (INTERRUPTED: partial results)"),
        "outcomes: " + ", ".join(f"{k} {v}" for k, v in outcomes.items() if v or k in ("pass", "fail", "error")),
        "SLSA build levels: " + (", ".join(f"{k} {v}" for k, v in summary["slsaLevels"].items()) or "-"),
        "evidence: " + ", ".join(f"{k} {v}" for k, v in summary["evidence"].items()),
    ]
    if summary["failingChecks"]:
        lines.append("most common failing checks: "
                     + ", ".join(f"{t(c['id'])} ({c['count']})" for c in summary["failingChecks"]))
    if meta.get("mode") == "inventory":
        lines.append(f"note: {t(meta.get('note'))}")
    return lines


def write_text(report: Report, out: TextIO) -> None:
    for record in report.records():
        out.write(image_line(record) + "\n")
    out.write("\n" + "\n".join(summary_lines(report.summary, report.meta)) + "\n")
