"""Every rendering of a Verdict: text for people, JSON for programs, one-line forms for
messages. The surfaces (CLI, webhook, audit, promote) keep their own framing and take
the verdict's words from here, so a check reads the same wherever it is shown.

It lives next to the model, not in a surface or in `verify/`, because it reads only the
model (`Verdict`, `Check`, `Evidence`) and the output guards (`_display`, `_json`): every
layer that holds a verdict can render it without importing upward.

- `render_text` / `render_verdict`: per image, what was judged (the reference as written
  and the digest it resolved to), the decision, one line per check (outcome, id, policy;
  under a failing or warning check what was expected, found and what to do next; under a
  skipped one why), the counts, then the evidence: how many signatures and attestations
  were found where, which verified for whom, and for each one that did not, why.
  `checks_table` is the first part alone.
- `render_json`: `Verdict.to_json()` (schemas/verdict.schema.json), one object for one
  image, an array for several.
- `check_line` (`id [policy]: found (expected ...); hint: ...`), `image_line` (`image
  (digest): outcome: ...`) and `failed_line` (`FAIL id: found`): the one-line forms of
  the webhook's messages and the promotion record.
- `check_details`: the labelled fields of a check already in JSON form (audit records
  are stored as JSON), in the order the text form shows them.

Nothing is printed in colour: the same text goes to terminals, CI logs and Tekton task
logs. Every value in the text forms passes through `slsacheck._display.terminal`:
expected/found quote evidence, which may hold escape sequences, line breaks or bidi
overrides meant to forge a verdict on screen. Evidence that did not verify is anyone's
writing: its line names where it was found and why it was rejected, never what it claims
to be (its `predicateType` annotation stays in the JSON form), with the reason cut at
`MAX_REASON` characters. The one-line forms are not escaped here: each surface escapes
for its medium (the webhook's JSON, a log record).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from slsacheck._display import terminal as t
from slsacheck._json import dumps_report
from slsacheck.models.evidence import Evidence, VerifiedAttestation
from slsacheck.models.verdict import Check, Outcome, Verdict

MAX_REASON = 300
# The labelled fields of a check, in the order every form shows them.
DETAILS = ("message", "expected", "found", "hint")

_LABEL = {Outcome.PASS: "PASS", Outcome.FAIL: "FAIL", Outcome.WARN: "WARN", Outcome.SKIP: "SKIP"}
_DECISION = {
    "pass": "PASS",
    "warn": "PASS with warnings",
    "fail": "FAIL",
    "error": "ERROR: verification could not complete",
}


# -- JSON -------------------------------------------------------------------------------


def render_json(verdicts: Sequence[Verdict]) -> str:
    docs = [v.to_json() for v in verdicts]
    return dumps_report(docs[0] if len(docs) == 1 else docs, indent=2) + "\n"


def check_details(check: Mapping[str, Any], fields: Sequence[str] = DETAILS) -> list[tuple[str, Any]]:
    """(label, value) of each of `fields` a check in JSON form has."""
    return [(key, check[key]) for key in fields if check.get(key)]


# -- text -------------------------------------------------------------------------------


def checks_table(verdict: Verdict) -> str:
    """The decision first, then one line per check, then the counts."""
    lines = [
        f"image:    {t(verdict.image)}",
        f"digest:   {t(verdict.digest or '(unresolved)')}",
        f"policies: {', '.join(t(p) for p in verdict.policies) or '(none matched)'}",
        f"verdict:  {_DECISION[verdict.outcome]}",
    ]
    for reason in verdict.incomplete:
        lines.append(f"  incomplete: {t(reason)}")
    if verdict.checks:
        width = max(len(t(c.id)) for c in verdict.checks)
        lines.append("")
        for c in verdict.checks:
            lines.extend(_check_lines(c, width))
    counts = {o: sum(1 for c in verdict.checks if c.outcome is o) for o in Outcome}
    lines.append("")
    lines.append(
        f"{counts[Outcome.PASS]} passed, {counts[Outcome.FAIL]} failed, "
        f"{counts[Outcome.WARN]} warnings, {counts[Outcome.SKIP]} skipped"
    )
    return "\n".join(lines) + "\n"


def _check_lines(c: Check, width: int) -> list[str]:
    policy = f"  [{t(c.policy)}]" if c.policy else ""
    lines = [f"  {_LABEL[c.outcome]}  {t(c.id).ljust(width)}{policy}"]
    if c.outcome in (Outcome.FAIL, Outcome.WARN):
        if c.message:
            lines.append(f"        {t(c.message)}")
        for label, value in check_details(c.to_json(), DETAILS[1:]):
            lines.append(f"        {label}: {t(value)}")
    elif c.outcome is Outcome.SKIP and c.message:
        lines.append(f"        {t(c.message)}")
    return lines


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
    """The table of checks, then the evidence behind it."""
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


# -- one line ---------------------------------------------------------------------------


def check_line(check: Check) -> str:
    """`id [policy]: found (expected ...); hint: ...` (the message when nothing was found)."""
    text = check.id + (f" [{check.policy}]" if check.policy else "")
    detail = check.found or check.message
    if detail:
        text += f": {detail}"
    if check.expected:
        text += f" (expected {check.expected})"
    if check.hint:
        text += f"; hint: {check.hint}"
    return text


def image_line(image: str, verdict: Verdict) -> str:
    """`image (digest): outcome: ...`: the failed checks and what kept the verification from
    completing; else the warnings; a verdict without checks says it failed closed."""
    parts = [check_line(c) for c in verdict.failed]
    parts += [f"verification.complete: {reason}" for reason in verdict.incomplete]
    if not parts:
        parts = [check_line(c) for c in verdict.warnings]
    if not parts and not verdict.checks:
        parts = ["no check ran (fail closed)"]
    digest = verdict.digest or "digest unresolved"
    return f"{image} ({digest}): {verdict.outcome}: " + "; ".join(parts)


def failed_line(check: Check) -> str:
    """`FAIL id: found` (the message when nothing was found)."""
    return f"FAIL {check.id}: {check.found or check.message or ''}".rstrip()
