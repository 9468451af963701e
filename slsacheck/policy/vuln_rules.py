"""Vulnerability rules over a scan attestation (pure).

Two predicate shapes are read:
- the cosign vuln predicate (`https://cosign.sigstore.dev/attestation/vuln/v1`):
  `scanner.result` holds the scanner's native report (a Trivy v2 report is understood),
  freshness from `metadata.scanFinishedOn` (Go's zero time counts as missing);
- a raw Trivy JSON report used as the predicate (`SchemaVersion: 2`), freshness from
  `CreatedAt` (RFC 3339 or Unix seconds).

Severity order is Trivy's (UNKNOWN < LOW < MEDIUM < HIGH < CRITICAL); a severity word
outside it counts as CRITICAL (fail closed). Findings under `ExperimentalModifiedFindings`
(suppressed, e.g. by VEX) are not counted. A scan whose result is missing or in a format
slsacheck cannot read fails `vulnerabilities.maxSeverity`: an unreadable scan is not a
clean scan.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slsacheck.models.verdict import Check, Outcome
from slsacheck.policy import checkids as ids
from slsacheck.policy.model import VulnerabilityRules
from slsacheck.policy.provenance_rules import max_age_check
from slsacheck.policy.timeutil import parse_time

SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
# Trivy's --ignore-unfixed is the same as ignoring these statuses.
UNFIXED_STATUSES = frozenset({"affected", "will_not_fix", "fix_deferred", "end_of_life"})
_MAX_LISTED = 8


def rank(severity: str) -> int:
    try:
        return SEVERITIES.index(severity.upper())
    except ValueError:
        return len(SEVERITIES) - 1


@dataclass(frozen=True)
class Finding:
    id: str
    package: str
    severity: str
    target: str
    status: str | None
    fixed: str | None


@dataclass(frozen=True)
class Scan:
    kind: str  # "cosign-vuln" or "trivy"
    finished: str | int | None  # as written
    findings: tuple[Finding, ...] | None  # None: no readable report
    problem: str | None = None


class _Unreadable(ValueError):
    """A report whose findings cannot all be read: judged as no readable report (fail closed),
    never as a report with fewer findings."""


def _listed(value: Any, what: str) -> list[Any]:
    """A report's list (absent or null: empty); anything else makes the report unreadable."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Unreadable(f"{what} is not a list")
    return value


def _trivy_findings(report: Mapping[str, Any]) -> tuple[Finding, ...]:
    out: list[Finding] = []
    for i, result in enumerate(_listed(report.get("Results"), "Results")):
        if not isinstance(result, Mapping):
            raise _Unreadable(f"Results[{i}] is not an object")
        for j, v in enumerate(_listed(result.get("Vulnerabilities"), f"Results[{i}].Vulnerabilities")):
            if not isinstance(v, Mapping) or not isinstance(v.get("VulnerabilityID"), str):
                raise _Unreadable(f"Results[{i}].Vulnerabilities[{j}] has no VulnerabilityID")
            out.append(
                Finding(
                    id=v["VulnerabilityID"],
                    package=str(v.get("PkgName") or v.get("PkgID") or "?"),
                    severity=str(v.get("Severity") or "UNKNOWN"),
                    target=str(result.get("Target") or ""),
                    status=v.get("Status") if isinstance(v.get("Status"), str) else None,
                    fixed=v.get("FixedVersion") if isinstance(v.get("FixedVersion"), str) else None,
                )
            )
    return tuple(out)


def _is_trivy(doc: Any) -> bool:
    return isinstance(doc, Mapping) and doc.get("SchemaVersion") == 2


def _scan(kind: str, finished: Any, report: Mapping[str, Any]) -> Scan:
    try:
        return Scan(kind, finished, _trivy_findings(report))
    except _Unreadable as exc:
        return Scan(kind, finished, None, f"the Trivy report cannot be read whole: {exc}")


def read_scan(predicate: Mapping[str, Any]) -> Scan:
    if _is_trivy(predicate):
        return _scan("trivy", predicate.get("CreatedAt"), predicate)
    scanner = predicate.get("scanner")
    if isinstance(scanner, Mapping):
        finished = (
            predicate.get("metadata", {}).get("scanFinishedOn")
            if isinstance(predicate.get("metadata"), Mapping)
            else None
        )
        result = scanner.get("result")
        if isinstance(result, Mapping) and _is_trivy(result):
            return _scan("cosign-vuln", finished, result)
        if result is None:
            return Scan("cosign-vuln", finished, None, "the scan result is empty (scanner.result is null)")
        return Scan(
            "cosign-vuln",
            finished,
            None,
            "scanner.result is not a report slsacheck can read (expected a Trivy JSON report, SchemaVersion 2)",
        )
    return Scan("unknown", None, None, "the predicate is neither a cosign vuln predicate nor a Trivy JSON report")


def scan_time(scan: Scan) -> datetime | None:
    return parse_time(scan.finished)


def vulnerability_checks(rules: VulnerabilityRules, scan: Scan, *, now: datetime, source: str) -> list[Check]:
    """The checks of one vulnerability entry over its newest scan: the rows of
    `checkids.VULNERABILITY_RULES` that apply to `rules`, in the table's order."""
    return [_CHECKS[row.id](rules, scan, now, source) for row in ids.VULNERABILITY_RULES if row.applies(rules)]


def _scan_age(rules: VulnerabilityRules, scan: Scan, now: datetime) -> Check:
    assert rules.max_age is not None  # the table's `applies` ran first
    stamp = scan.finished
    text = None if stamp is None or scan_time(scan) is None else str(stamp)
    return max_age_check(ids.VULN_MAX_AGE, text, rules.max_age, now, "the scan finished")


def _severity(rules: VulnerabilityRules, scan: Scan, source: str) -> Check:
    assert rules.max_severity is not None
    limit = rank(rules.max_severity)
    expected = f"no vulnerability above {rules.max_severity}"
    if rules.ignore_ids:
        expected += f" (ignoring {', '.join(sorted(rules.ignore_ids))})"
    if rules.ignore_unfixed:
        expected += " (ignoring unfixed)"
    if scan.findings is None:
        return Check(
            ids.VULN_SEVERITY,
            Outcome.FAIL,
            expected=expected,
            found=f"{scan.problem} ({source})",
            hint="attest a scan that carries its report (trivy image --format cosign-vuln, "
            "or the Trivy JSON report as the predicate)",
        )
    counted = [
        f
        for f in scan.findings
        if f.id not in rules.ignore_ids
        and not (rules.ignore_unfixed and (f.status in UNFIXED_STATUSES or (f.status is None and not f.fixed)))
    ]
    over = sorted((f for f in counted if rank(f.severity) > limit), key=lambda f: (-rank(f.severity), f.id))
    if over:
        return Check(
            ids.VULN_SEVERITY,
            Outcome.FAIL,
            expected=expected,
            found=_describe(over),
            hint="update the affected packages (rebuild on a patched base image), or, if a finding does "
            "not apply, add its id to vulnerabilities.ignoreIds with a reason in review",
        )
    worst = max((f.severity for f in counted), key=rank, default=None)
    found = f"{len(counted)} findings, worst {worst}" if worst else "no findings"
    return Check(ids.VULN_SEVERITY, Outcome.PASS, expected=expected, found=found)


def _describe(findings: Sequence[Finding]) -> str:
    by_id: dict[str, list[Finding]] = {}
    for f in findings:
        by_id.setdefault(f.id, []).append(f)
    items = []
    for vid, group in by_id.items():
        pkgs = ", ".join(dict.fromkeys(f.package for f in group))
        fixed = group[0].fixed
        items.append(f"{group[0].severity.upper()} {vid} in {pkgs}" + (f" (fixed in {fixed})" if fixed else ""))
    extra = len(items) - _MAX_LISTED
    return "; ".join(items[:_MAX_LISTED]) + (f"; and {extra} more" if extra > 0 else "")


# How each typed vulnerability rule is checked, by id; `checkids.VULNERABILITY_RULES` says when.
_CHECKS: dict[str, Callable[[VulnerabilityRules, Scan, datetime, str], Check]] = {
    ids.VULN_SEVERITY: lambda rules, scan, _now, source: _severity(rules, scan, source),
    ids.VULN_MAX_AGE: lambda rules, scan, now, _source: _scan_age(rules, scan, now),
}
