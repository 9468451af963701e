"""The audit as SARIF 2.1.0, for code-scanning style consumers.

One run by slsacheck. Rules are the check ids that failed or warned anywhere in the audit
(a first pass collects them), each with its help text (`slsacheck.audit.rules`); results
are one per failed (`error`) or warned (`warning`) check per image, and one
`verification.complete` error per image that could not be audited. An image has no file:
its location is the logical location `<repository>@<digest>` and an artifact URI
`oci://<repository>@<digest>`. The run's invocation says whether the audit completed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, TextIO

from slsacheck._json import dumps_report
from slsacheck.audit.report import Report
from slsacheck.audit.rules import DOCS, documented, help_text
from slsacheck.models.verdict_render import check_details

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://github.com/slsacheck/slsacheck"


def _results(record: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(rule id, level, message) per finding of one image."""
    verdict = record.get("verdict") or {}
    checks = verdict.get("checks") or []
    if record["outcome"] == "error" and not any(c["id"] == "verification.complete" for c in checks):
        yield "verification.complete", "error", f"{record['image']}: {record.get('error') or 'not audited'}"
    for check in checks:
        if check["outcome"] not in ("fail", "warn"):
            continue
        parts = [f"{record['image']}: {check['id']} {'failed' if check['outcome'] == 'fail' else 'warned'}"]
        if check.get("policy"):
            parts[0] += f" (policy {check['policy']})"
        parts.extend(f"{k}: {v}" for k, v in check_details(check))
        yield check["id"], "error" if check["outcome"] == "fail" else "warning", ". ".join(parts)


def _rule(rule_id: str) -> dict[str, Any]:
    text = help_text(rule_id)
    shape = documented(rule_id) or rule_id
    return {
        "id": rule_id,
        "name": shape,
        "shortDescription": {"text": f"slsacheck check {rule_id}"},
        "fullDescription": {"text": text},
        "help": {"text": f"{text} (check ids: {DOCS})", "markdown": f"`{shape}`: {text} See `{DOCS}`."},
        "defaultConfiguration": {"level": "error"},
    }


def _location(record: Mapping[str, Any]) -> dict[str, Any]:
    name = str(record.get("repository") or record["image"])
    where = f"{name}@{record['digest']}" if record.get("digest") else str(record["image"])
    return {
        "physicalLocation": {"artifactLocation": {"uri": "oci://" + where.removeprefix("oci:")}},
        "logicalLocations": [{"name": str(record["image"]), "fullyQualifiedName": where, "kind": "resource"}],
    }


def write_sarif(report: Report, out: TextIO) -> None:
    rule_ids: dict[str, int] = {}
    for record in report.records():
        for rule_id, _, _ in _results(record):
            rule_ids.setdefault(rule_id, len(rule_ids))
    run_head = {
        "tool": {"driver": {"name": "slsacheck", "version": str(report.meta.get("tool", {}).get("version", "")),
                            "informationUri": INFO_URI, "rules": [_rule(r) for r in rule_ids]}},
        "invocations": [{
            "executionSuccessful": bool(report.meta.get("complete", True)),
            **({"startTimeUtc": report.meta["startedAt"]} if report.meta.get("startedAt") else {}),
            **({"endTimeUtc": report.meta["finishedAt"]} if report.meta.get("finishedAt") else {}),
        }],
    }
    out.write('{\n  "$schema": ' + json.dumps(SARIF_SCHEMA) + ',\n  "version": "2.1.0",\n  "runs": [\n    ')
    head = dumps_report(run_head, ensure_ascii=False)
    out.write(head[:-1] + ', "results": [')
    first = True
    for record in report.records():
        for rule_id, level, message in _results(record):
            result = {
                "ruleId": rule_id, "ruleIndex": rule_ids[rule_id], "level": level, "message": {"text": message},
                "locations": [_location(record)],
                "properties": {"image": record["image"], "digest": record.get("digest"),
                               "outcome": record["outcome"]},
            }
            out.write("\n      " if first else ",\n      ")
            out.write(dumps_report(result, ensure_ascii=False))
            first = False
    out.write("\n    ]}\n  ]\n}\n")
