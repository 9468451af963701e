"""`policy lint` findings as documents for pull-request checks: JSON, and SARIF 2.1.0
(code-scanning annotations land on the policy file's line).

Errors are what keeps a policy from loading (`slsacheck policy lint` exits 2 on any);
warnings are gaps in a policy that loads. Both are `Problem`s with a file, a line and a
dotted path; a rule id per kind of finding keeps SARIF consumers' grouping stable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slsacheck import __version__
from slsacheck._json import dumps_report
from slsacheck.policy.problems import Problem

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://github.com/slsacheck/slsacheck"
RULES = {
    "error": ("policy.invalid", "The policy does not load: fix the finding at its line."),
    "warning": ("policy.gap", "The policy loads but leaves a gap an attacker could use."),
}


def _finding(problem: Problem, level: str) -> dict[str, Any]:
    out: dict[str, Any] = {"level": level, "file": problem.file, "line": problem.line, "path": problem.path,
                           "message": problem.message}
    for key in ("expected", "found", "hint"):
        value = getattr(problem, key)
        if value is not None:
            out[key] = value
    return out


def lint_json(files: Sequence[str], errors: Sequence[Problem], warnings: Sequence[Problem], policies: int) -> str:
    doc = {
        "valid": not errors,
        "files": list(files),
        "policies": policies if not errors else None,
        "errors": [_finding(p, "error") for p in errors],
        "warnings": [_finding(p, "warning") for p in warnings],
    }
    return dumps_report(doc, indent=2) + "\n"


def _text(problem: Problem) -> str:
    parts = [f"{problem.path}: {problem.message}"]
    parts += [f"{key}: {getattr(problem, key)}" for key in ("expected", "found", "hint") if getattr(problem, key)]
    return ". ".join(parts)


def _result(problem: Problem, level: str) -> dict[str, Any]:
    location: dict[str, Any] = {"artifactLocation": {"uri": problem.file}}
    if problem.line is not None:
        location["region"] = {"startLine": problem.line}
    return {
        "ruleId": RULES[level][0],
        "level": level,
        "message": {"text": _text(problem)},
        "locations": [{"physicalLocation": location}],
    }


def lint_sarif(errors: Sequence[Problem], warnings: Sequence[Problem]) -> str:
    rules = [{"id": rule_id, "shortDescription": {"text": text}, "helpUri": f"{INFO_URI}/blob/main/policies/README.md"}
             for rule_id, text in RULES.values()]
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "slsacheck", "version": __version__, "informationUri": INFO_URI,
                                "rules": rules}},
            "results": [_result(p, "error") for p in errors] + [_result(p, "warning") for p in warnings],
            "invocations": [{"executionSuccessful": True}],
        }],
    }
    return dumps_report(doc, indent=2) + "\n"
