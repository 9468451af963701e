"""Verdicts for people (text) and programs (JSON).

The text form answers, per image: what was judged (the reference and the digest it
resolved to), the outcome and the checks (the policy layer's table,
`slsacheck.policy.render`), then the evidence: how
many signatures and attestations were found where, which verified for whom, and for
each one that did not, why. JSON is `Verdict.to_json()` (schemas/verdict.schema.json):
one object for one image, an array for several.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from slsacheck.models.verdict import Verdict


def render_json(verdicts: Sequence[Verdict]) -> str:
    docs = [v.to_json() for v in verdicts]
    return json.dumps(docs[0] if len(docs) == 1 else docs, indent=2) + "\n"


def _evidence_lines(title: str, section: Mapping[str, Any]) -> list[str]:
    verified = section.get("verified") or []
    rejected = section.get("rejected") or []
    lines = [f"  {title}: {section.get('found', 0)} found, {len({v['source'] for v in verified})} verified"]
    for v in verified:
        ptype = f" [{v['predicateType']}]" if v.get("predicateType") else ""
        logged = ", transparency log checked" if v.get("tlog") else ""
        lines.append(f"    verified  {v['source']}{ptype}: by {v['signer']} (authority {v['authority']}{logged})")
    for r in rejected:
        ptype = f" [{r['predicateType']}]" if r.get("predicateType") else ""
        lines.append(f"    rejected  {r['source']}{ptype}: {r['reason']}")
    return lines


def render_verdict(verdict: Verdict) -> str:
    """The policy layer's table of checks, then the evidence behind it."""
    from slsacheck.policy.render import render_text as checks_table  # noqa: PLC0415

    lines = [checks_table(verdict).rstrip("\n")]
    evidence = verdict.evidence
    if evidence:
        lines.append("")
        lines.append("evidence:")
        for key in ("signatures", "attestations"):
            section = evidence.get(key)
            if isinstance(section, Mapping) and (section.get("found") or key == "signatures"):
                lines.extend(_evidence_lines(key, section))
        searched = evidence.get("searched")
        if searched:
            lines.append("  searched: " + ", ".join(searched))
    return "\n".join(lines) + "\n"


def render_text(verdicts: Sequence[Verdict]) -> str:
    return "\n".join(render_verdict(v) for v in verdicts)
