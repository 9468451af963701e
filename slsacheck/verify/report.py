"""Verdicts for people (text) and programs (JSON).

The text form answers, per image: what was judged (the reference and the digest it
resolved to), the outcome and the checks (the policy layer's table,
`slsacheck.policy.render`), then the evidence: how
many signatures and attestations were found where, which verified for whom, and for
each one that did not, why. JSON is `Verdict.to_json()` (schemas/verdict.schema.json):
one object for one image, an array for several.

Evidence that did not verify is anyone's writing: its line names where it was found and
why it was rejected, never what it claims to be (its `predicateType` annotation stays in
the JSON form), and every value is passed through `slsacheck._display.terminal`, with the
reason cut at `MAX_REASON` characters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from slsacheck._display import terminal as t
from slsacheck._json import dumps_report
from slsacheck.models.evidence import Evidence, VerifiedAttestation
from slsacheck.models.verdict import Verdict

MAX_REASON = 300


def render_json(verdicts: Sequence[Verdict]) -> str:
    docs = [v.to_json() for v in verdicts]
    return dumps_report(docs[0] if len(docs) == 1 else docs, indent=2) + "\n"


def _cut(text: str) -> str:
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "\u2026"


def _evidence_lines(title: str, evidence: Evidence, kind: Literal["signature", "attestation"]) -> list[str]:
    verified = evidence.verified(kind)
    lines = [f"  {title}: {evidence.found(kind)} found, {len({v.source for v in verified})} verified"]
    for v in verified:
        ptype = f" [{t(v.predicate_type)}]" if isinstance(v, VerifiedAttestation) and v.predicate_type else ""
        logged = ", transparency log checked" if v.signer.tlog else ""
        by = f"by {t(v.signer.describe())} (authority {t(v.authority)}{logged})"
        lines.append(f"    verified  {t(v.source)}{ptype}: {by}")
    for r in evidence.rejected_of(kind):
        lines.append(f"    rejected  {t(r.source)}: {_cut(t(r.reason))}")
    return lines


def render_verdict(verdict: Verdict) -> str:
    """The policy layer's table of checks, then the evidence behind it."""
    from slsacheck.policy.render import render_text as checks_table  # noqa: PLC0415

    lines = [checks_table(verdict).rstrip("\n")]
    evidence = verdict.evidence
    if evidence is not None:
        lines.append("")
        lines.append("evidence:")
        if evidence.documents is None:  # a file's evidence is its attestation documents only
            lines.extend(_evidence_lines("signatures", evidence, "signature"))
        if evidence.found("attestation"):
            lines.extend(_evidence_lines("attestations", evidence, "attestation"))
        if evidence.searched:
            lines.append("  searched: " + ", ".join(t(s) for s in evidence.searched))
    return "\n".join(lines) + "\n"


def render_text(verdicts: Sequence[Verdict]) -> str:
    return "\n".join(render_verdict(v) for v in verdicts)
