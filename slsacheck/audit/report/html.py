"""The audit as one self-contained HTML page: summary on top, a sortable, filterable table.

Everything is inline (style, script, bar charts as CSS bars); a Content-Security-Policy
forbids any fetch, so the page opens offline and leaks nothing about the audit. The rows
are written as records are read (one `<tbody>` per image: its row and its details), so a
10,000-image audit streams like the other reports. Printing shows every row and opens the
details of images that did not pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from slsacheck._display import html_text
from slsacheck.audit.report import Report
from slsacheck.audit.report.html_assets import CSS, JS
from slsacheck.audit.report.text import LABEL, provenance_claim, short_digest
from slsacheck.audit.rules import help_text

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


def e(value: object) -> str:
    return html_text(value)


def breakable(value: object, after: str = "/") -> str:
    """Escaped text that may wrap after each `after` character (URLs at slashes, check ids at dots)
    rather than at any letter."""
    return e(value).replace(after, after + "<wbr>")


def _bars(title: str, items: Sequence[tuple[str, int, str]], empty: str) -> str:
    top = max((n for _, n, _ in items), default=0)
    rows = []
    for label, count, css in items:
        width = 0 if not top else max(1.0, 100 * count / top) if count else 0
        rows.append(f'<div class="bar" title="{e(label)}: {count}"><span class="label">{e(label)}</span>'
                    f'<span class="n">{count}</span><span class="track"><span class="fill {e(css)}" '
                    f'style="display:block;width:{width:.1f}%"></span></span></div>')
    body = "".join(rows) if rows else f'<p class="meta">{e(empty)}</p>'
    return f"<figure><figcaption>{e(title)}</figcaption>{body}</figure>"


def _head(report: Report) -> str:
    meta, s = report.meta, report.summary
    policies = ", ".join(meta.get("policies") or []) or "none (inventory)"
    notes = ""
    if not meta.get("complete", True):
        notes += '<p class="note interrupted"><b>Interrupted:</b> partial results, only images that finished.</p>'
    if meta.get("mode") == "inventory":
        notes += f'<p class="note">{e(meta.get("note"))}</p>'
    cards = "".join(f'<div class="card {e(k)}"><b>{v}</b><span>{e(k)}</span></div>'
                    for k, v in [("images", s["images"]), *s["outcomes"].items()] if v or k != "inventory")
    outcome_bars = _bars("Outcomes", [(k, v, k) for k, v in s["outcomes"].items()], "no images")
    check_bars = _bars("Most common failing checks", [(c["id"], c["count"], "check") for c in s["failingChecks"]],
                       "no failing checks" if meta.get("mode") != "inventory" else "no policy given")
    level_bars = _bars("SLSA build level the evidence supports", [(k, v, "") for k, v in s["slsaLevels"].items()],
                       "no images")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<title>slsacheck audit: {s["images"]} image(s)</title><style>{CSS}</style></head><body>\n'
        f'<header><h1>slsacheck audit</h1><p class="meta">{s["images"]} image(s), {s["uniqueDigests"]} distinct '
        f'digest(s) &middot; policies: {e(policies)} &middot; started {e(meta.get("startedAt"))}, finished '
        f'{e(meta.get("finishedAt"))} &middot; slsacheck {e(meta.get("tool", {}).get("version"))}</p>{notes}'
        f'</header>\n<main><section class="summary"><div class="cards">{cards}</div>'
        f'<div class="charts">{outcome_bars}{check_bars}{level_bars}</div></section>\n'
        '<section><div class="controls"><input id="q" type="search" placeholder="Filter: image, digest, builder, '
        'source, signer, check" aria-label="filter images"><select id="outcome" aria-label="outcome">'
        '<option value="">all outcomes</option>'
        + "".join(f'<option value="{k}">{k}</option>' for k in s["outcomes"])
        + '</select><span id="shown"></span></div>\n<table class="images" id="images"><thead><tr>'
        '<th data-key="outcome">Outcome</th><th data-key="level">SLSA</th><th data-key="image">Image</th>'
        '<th data-key="digest">Digest</th><th data-key="signer">Signed by</th><th data-key="builder">Builder</th>'
        '<th data-key="source">Source</th><th>Failing checks</th></tr></thead>\n'
    )


def _signers(evidence: Mapping[str, Any]) -> list[str]:
    out = []
    for sig in evidence.get("signatures") or []:
        signer = sig.get("signer") or {}
        who = signer.get("identity") or (f"key {signer['keyHint']}" if signer.get("keyHint") else "a key")
        by = sig.get("verifiedBy") or []
        out.append(f"{by[0]['signer']} (verified)" if by else f"{who} (not verified)")
    return list(dict.fromkeys(out))


def _checks_table(checks: Sequence[Mapping[str, Any]]) -> str:
    if not checks:
        return ""
    rows = "".join(
        f'<tr><td class="o-{e(c["outcome"])}">{e(c["outcome"])}</td>'
        f'<td class="mono check" title="{e(help_text(c["id"]))}">'
        f'{e(c["id"])}</td><td class="check">{e(c.get("policy"))}</td><td>{e(c.get("expected"))}</td>'
        f'<td>{e(c.get("found"))}</td>'
        f'<td>{e(c.get("hint") or c.get("message"))}</td></tr>' for c in checks)
    return ("<h3>Checks</h3><table><tr><th>outcome</th><th>check</th><th>policy</th><th>expected</th>"
            f"<th>found</th><th>hint</th></tr>{rows}</table>")


def _sources_as_written(prov: Mapping[str, Any]) -> str:
    """Each source once, in its normalised form; the provenance's own spelling only where it differs."""
    written = prov.get("sourcesAsWritten") or {}
    return ", ".join(s + (f" (as written: {', '.join(written[s])})" if written.get(s) else "")
                     for s in prov.get("sources") or [])


def _evidence(evidence: Mapping[str, Any]) -> str:
    parts = []
    slsa = evidence.get("slsa") or {}
    parts.append(f"<h3>SLSA build level {e(slsa.get('level'))}</h3><p>{e(slsa.get('reason'))}</p>")
    sigs = "".join(
        f"<li>{e(s['source'])}: {e(', '.join(_signers({'signatures': [s]})))}"
        f"{' &middot; tlog entry' if s.get('tlog') else ''}"
        f"{' &middot; rejected: ' + e(s['rejected']) if s.get('rejected') else ''}"
        f"{' &middot; to verify it: ' + e(s['verifiableWith']) if s.get('verifiableWith') else ''}</li>"
        for s in evidence.get("signatures") or [])
    parts.append(f"<h3>Signatures</h3><ul class='ev'>{sigs or '<li>none</li>'}</ul>")
    atts = "".join(
        f"<li>{e(a.get('predicateType'))} from {e(a['source'])}: "
        f"{'verified, by ' + e(a['verifiedBy'][0]['signer']) if a.get('verifiedBy') else 'not verified'}"
        f"{' &middot; ' + e(a['problem']) if a.get('problem') else ''}"
        f"{' &middot; rejected: ' + e(a['rejected']) if a.get('rejected') else ''}</li>"
        for a in evidence.get("attestations") or [])
    parts.append(f"<h3>Attestations</h3><ul class='ev'>{atts or '<li>none</li>'}</ul>")
    prov = evidence.get("provenance")
    if prov:
        facts = [("builder", prov.get("builder")), ("build type", prov.get("buildType")),
                 ("sources", _sources_as_written(prov)), ("refs", ", ".join(prov.get("refs") or [])),
                 ("commits", ", ".join(prov.get("commits") or [])),
                 ("tasks", ", ".join(t["name"] + (f" ({t['task']})" if t.get("task") else "")
                                     for t in prov.get("tasks") or [])),
                 ("step images", ", ".join(f"{s['name']}@{s['digest']}" if s.get("digest") else s["name"]
                                           for s in prov.get("stepImages") or [])),
                 ("finished", prov.get("finishedOn"))]
        age = evidence.get("age") or {}
        if age.get("days") is not None:
            facts.append(("age", f"{age['days']} days"))
        rows = "".join(f"<tr><th>{e(k)}</th><td class='mono'>{e(v or '-')}</td></tr>" for k, v in facts)
        parts.append(f"<h3>Provenance</h3><table>{rows}</table>")
    rejected = "".join(f"<li>{e(r['kind'])} {e(r['source'])}: {e(r['reason'])}</li>"
                       for r in evidence.get("rejected") or [])
    if rejected:
        parts.append(f"<h3>Unusable evidence</h3><ul class='ev'>{rejected}</ul>")
    return "".join(parts)


def _row(index: int, record: Mapping[str, Any]) -> str:
    evidence = record.get("evidence") or {}
    verdict = record.get("verdict") or {}
    checks = verdict.get("checks") or []
    prov = evidence.get("provenance") or {}
    failing = [c["id"] for c in checks if c["outcome"] == "fail"]
    signers = _signers(evidence)
    outcome = record["outcome"]
    level = record.get("slsaLevel")
    builder = prov.get("builder") or ""
    source = ", ".join(prov.get("sources") or [])
    text = " ".join([record["image"], str(record.get("digest") or ""), builder, source, *signers, *failing,
                     outcome, str(record.get("error") or "")]).lower()
    problem = ""
    if outcome == "error":
        problem = str(record.get("error") or "could not be audited")
        problem = problem if len(problem) <= 90 else problem[:89] + "\u2026"
    detail = ""
    if record.get("error"):
        detail += f"<p class='o-error'>{e(record['error'])}</p>"
    if record.get("sameAs"):
        detail += f"<p class='meta'>Same digest as {e(record['sameAs'])}: verified once.</p>"
    detail += _checks_table(checks) + _evidence(evidence) if evidence or checks else ""
    return (
        f'<tbody class="img" id="img-{index}" data-outcome="{e(outcome)}" '
        f'data-level="{"" if level is None else level}" data-image="{e(record["image"])}" '
        f'data-digest="{e(record.get("digest"))}" data-signer="{e(signers[0] if signers else "")}" '
        f'data-builder="{e(builder)}" data-source="{e(source)}" data-text="{e(text)}">'
        f'<tr class="row"><td class="outcome">'
        f'<button class="toggle" aria-expanded="false" title="details">&#9656;</button>'
        f'<span class="badge {e(outcome)}">{e(LABEL.get(outcome, outcome))}</span></td>'
        f'<td>{"L" + str(level) if level is not None else "?"}</td>'
        f'<td class="mono ref"><span class="ref" title="{e(record["image"])}">{e(record["image"])}</span></td>'
        f'<td class="mono digest" title="{e(record.get("digest"))}">{e(short_digest(record.get("digest")))}</td>'
        f'<td>{e("; ".join(signers) or ("-" if not evidence else "unsigned"))}</td>'
        f'<td class="mono">{breakable(builder or "-")}{e(provenance_claim(evidence))}</td>'
        f'<td class="mono"><span title="{e(_sources_as_written(prov))}">{breakable(source or "-")}</span></td>'
        f'<td class="mono">{breakable(", ".join(failing), ".") or e(problem)}</td></tr>'
        f'<tr class="detail" hidden><td colspan="8">{detail}</td></tr></tbody>\n'
    )


def write_html(report: Report, out: TextIO) -> None:
    out.write(_head(report))
    for index, record in enumerate(report.records()):
        out.write(_row(index, record))
    out.write(f"</table></section></main><script>{JS}</script></body></html>\n")
