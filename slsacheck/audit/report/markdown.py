"""The audit as Markdown, for a pull-request comment or a ticket.

A heading with the decision, the counts, the most common failing checks, a table of the
images, then a collapsed section per image that did not pass with its failed checks
(message, expected, found, hint, as every form shows them). Details are capped
(`MAX_DETAILS`) so the comment stays within what code hosts accept; the JSON report has
everything.

The comment is read where Markdown is live: every value from a record (image names,
builder ids, sources, expected/found/hint, errors) is an inline code span
(`slsacheck._display.markdown_code`), so evidence cannot add a link, an image, an HTML tag
or an `@mention`; in the HTML `<summary>` it is HTML-escaped inside `<code>`. Only the
project's own words (outcome labels, check help) are written as Markdown text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TextIO

from slsacheck._display import html_text, markdown_code
from slsacheck.audit.report import Report
from slsacheck.audit.report.text import LABEL, provenance_claim, short_digest
from slsacheck.audit.rules import help_text
from slsacheck.models.verdict_render import check_details

MAX_DETAILS = 100
MAX_ROWS = 1000


def cell(text: object) -> str:
    """The project's own text in a table cell (still stripped of anything live)."""
    return html_text(text).replace("|", "\\|").replace("\n", " ")


code = markdown_code


def _prov(record: Mapping[str, Any]) -> str:
    evidence = record.get("evidence") or {}
    prov = evidence.get("provenance") or {}
    builder = code(prov.get("builder")) if prov.get("builder") else "-"
    sources = prov.get("sources") or []
    return f"{builder} / {', '.join(code(s) for s in sources) or '-'}{provenance_claim(evidence)}"


def write_markdown(report: Report, out: TextIO) -> None:
    s, meta = report.summary, report.meta
    outcomes = s["outcomes"]
    bad = outcomes.get("fail", 0) + outcomes.get("error", 0)
    title = "slsacheck audit: " + (f"{bad} of {s['images']} image(s) need attention" if bad
                                   else f"{s['images']} image(s), none failing")
    out.write(f"## {title}\n\n")
    if not meta.get("complete", True):
        out.write("> **Interrupted:** these are partial results.\n\n")
    if meta.get("mode") == "inventory":
        out.write(f"> {meta.get('note')}\n\n")
    out.write("| outcome | images |\n|---|---:|\n")
    for key, count in outcomes.items():
        out.write(f"| {key} | {count} |\n")
    out.write("\n| SLSA build level | images |\n|---|---:|\n")
    for key, count in s["slsaLevels"].items():
        out.write(f"| {key} | {count} |\n")
    if s["failingChecks"]:
        out.write("\n**Most common failing checks**\n\n| check | images | what it means |\n|---|---:|---|\n")
        for c in s["failingChecks"]:
            out.write(f"| {code(c['id'])} | {c['count']} | {cell(help_text(c['id']))} |\n")
    out.write("\n| outcome | SLSA | image | digest | builder / source |\n|---|---|---|---|---|\n")
    rows = 0
    for record in report.records():
        rows += 1
        if rows > MAX_ROWS:
            continue
        level = record.get("slsaLevel")
        out.write(f"| {LABEL.get(record['outcome'], record['outcome'])} | {'-' if level is None else f'L{level}'} | "
                  f"{code(record['image'])} | {code(short_digest(record.get('digest')))} | {_prov(record)} |\n")
    if rows > MAX_ROWS:
        out.write(f"\n_{rows - MAX_ROWS} more image(s) in the JSON report._\n")
    details = 0
    for record in report.records():
        if record["outcome"] not in ("fail", "error", "warn"):
            continue
        details += 1
        if details > MAX_DETAILS:
            continue
        out.write(f"\n<details><summary>{LABEL[record['outcome']]} <code>{html_text(record['image'])}</code>"
                  "</summary>\n\n")
        if record.get("error"):
            out.write(f"- error: {code(record['error'])}\n")
        for check in (record.get("verdict") or {}).get("checks") or []:
            if check["outcome"] not in ("fail", "warn"):
                continue
            out.write(f"- **{check['outcome']}** {code(check['id'])}" + (f" ({code(check['policy'])})"
                                                                          if check.get("policy") else "") + "\n")
            for key, value in check_details(check):
                out.write(f"  - {key}: {code(value)}\n")
        out.write("\n</details>\n")
    if details > MAX_DETAILS:
        out.write(f"\n_{details - MAX_DETAILS} more image(s) with findings in the JSON report._\n")
