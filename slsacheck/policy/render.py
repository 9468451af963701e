"""A Verdict for people (a short table) and for machines (JSON per schemas/verdict.schema.json).

The text form puts the decision first, then one line per check (outcome, id, policy),
and under each failing or warning check what was expected, what was found and what to
do next. Skipped checks show why they were skipped. Nothing is printed in colour: the
same text goes to terminals, CI logs and Tekton task logs. Every value is passed through
`slsacheck._display.terminal`: expected/found quote evidence, which may hold escape
sequences, line breaks or bidi overrides meant to forge a verdict on screen.
"""

from __future__ import annotations

from typing import Any

from slsacheck._display import terminal as t
from slsacheck._json import dumps_report
from slsacheck.models.verdict import Outcome, Verdict

_LABEL = {Outcome.PASS: "PASS", Outcome.FAIL: "FAIL", Outcome.WARN: "WARN", Outcome.SKIP: "SKIP"}
_DECISION = {
    "pass": "PASS",
    "warn": "PASS with warnings",
    "fail": "FAIL",
    "error": "ERROR: verification could not complete",
}


def to_json(verdict: Verdict) -> dict[str, Any]:
    return verdict.to_json()


def render_json(verdict: Verdict) -> str:
    return dumps_report(to_json(verdict), indent=2, sort_keys=False)


def render_text(verdict: Verdict) -> str:
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
            policy = f"  [{t(c.policy)}]" if c.policy else ""
            lines.append(f"  {_LABEL[c.outcome]}  {t(c.id).ljust(width)}{policy}")
            if c.outcome in (Outcome.FAIL, Outcome.WARN):
                if c.message:
                    lines.append(f"        {t(c.message)}")
                for label, value in (("expected", c.expected), ("found", c.found), ("hint", c.hint)):
                    if value:
                        lines.append(f"        {label}: {t(value)}")
            elif c.outcome is Outcome.SKIP and c.message:
                lines.append(f"        {t(c.message)}")
    counts = {o: sum(1 for c in verdict.checks if c.outcome is o) for o in Outcome}
    lines.append("")
    lines.append(
        f"{counts[Outcome.PASS]} passed, {counts[Outcome.FAIL]} failed, "
        f"{counts[Outcome.WARN]} warnings, {counts[Outcome.SKIP]} skipped"
    )
    return "\n".join(lines) + "\n"
