"""A Trivy JSON report -> cosign's vulnerability predicate (pure, no I/O).

The predicate type is `https://cosign.sigstore.dev/attestation/vuln/v1`:
`{invocation{parameters, uri, event_id, builder.id}, scanner{uri, version, db{uri, version},
result}, metadata{scanStartedOn, scanFinishedOn}}`. `scanner.result` is the report itself,
unchanged: policies read Trivy's own fields from it, so nothing is summarised or dropped.

Invariants:
- only a Trivy report of schema version 2 is accepted (the one policy rules understand);
- both timestamps are RFC 3339 in UTC. Without explicit times, both are the report's
  `CreatedAt` (RFC 3339 or, in old reports, Unix seconds), which is what Trivy's own
  `--format cosign-vuln` writer does: it knows no separate scan start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from slsacheck._json import load_object
from slsacheck.errors import InputError

TRIVY_PURL = "pkg:github/aquasecurity/trivy"


@dataclass(frozen=True)
class Invocation:
    """Where the scan ran: a link to the CI run, its id, the builder's id, the scan's flags."""

    uri: str = ""
    event_id: str = ""
    builder_id: str = ""
    parameters: Any = None


def parse_report(data: bytes, where: str) -> dict[str, Any]:
    """A Trivy JSON report (SchemaVersion 2) from bytes, or InputError saying what is wrong."""
    report = load_object(
        data,
        not_json=lambda exc: InputError(
            f"{where}: not a JSON document ({exc})",
            hint="run trivy with --format json (not table or cosign-vuln) and pass that file",
        ),
        not_object=lambda value: InputError(
            f"{where}: a Trivy report is a JSON object", found=type(value).__name__
        ),
    )
    version = report.get("SchemaVersion")
    if version != 2:  # Trivy's report schema, not a count
        raise InputError(
            f"{where}: not a Trivy JSON report of schema version 2",
            expected="SchemaVersion: 2",
            found=f"SchemaVersion: {version!r}",
            hint="use `trivy fs|image --format json --output FILE` from Trivy 0.20 or later",
        )
    return report


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")


def _utc(text: str, what: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{what} is not an RFC 3339 time", found=text[:60], hint="e.g. 2025-01-31T12:00:00Z") from None
    if parsed.tzinfo is None:
        raise InputError(f"{what} has no time zone", found=text[:60], hint="end it with Z or an offset such as +02:00")
    return parsed.astimezone(UTC)


def _created_at(report: Mapping[str, Any], where: str) -> datetime:
    created = report.get("CreatedAt")
    if isinstance(created, bool):
        created = None
    if isinstance(created, int | float):
        try:
            return datetime.fromtimestamp(created, UTC)
        except (OverflowError, OSError, ValueError):
            raise InputError(f"{where}: CreatedAt {str(created)[:40]} is no time", expected="seconds since 1970 "
                             "or an RFC 3339 time", hint="pass --finished-on with the scan's time") from None
    if isinstance(created, str) and created:
        # Trivy writes nanoseconds; Python parses at most microseconds.
        head, dot, rest = created.partition(".")
        if dot:
            digits = len(rest) - len(rest.lstrip("0123456789"))
            created = f"{head}.{rest[:min(digits, 6)]}{rest[digits:]}"
        return _utc(created, f"{where}: CreatedAt")
    raise InputError(
        f"{where}: the report has no CreatedAt, so the scan time is unknown",
        expected="CreatedAt in the report, or --finished-on",
        hint="pass --finished-on (and --started-on) with the scan's times",
    )


def vuln_predicate(
    report: Mapping[str, Any],
    *,
    where: str = "report",
    started_on: str | None = None,
    finished_on: str | None = None,
    invocation: Invocation = Invocation(),
) -> dict[str, Any]:
    """The cosign vuln predicate whose `scanner.result` is `report`."""
    finished = _utc(finished_on, "--finished-on") if finished_on else _created_at(report, where)
    started = _utc(started_on, "--started-on") if started_on else finished
    if started > finished:
        raise InputError(
            "the scan finished before it started", expected=f"start <= {_rfc3339(finished)}", found=_rfc3339(started)
        )
    trivy = report.get("Trivy")
    version = trivy.get("Version", "") if isinstance(trivy, Mapping) else ""
    version = version if isinstance(version, str) else ""
    return {
        "invocation": {
            "parameters": invocation.parameters,
            "uri": invocation.uri,
            "event_id": invocation.event_id,
            "builder.id": invocation.builder_id,
        },
        "scanner": {
            "uri": f"{TRIVY_PURL}@{version}" if version else TRIVY_PURL,
            "version": version,
            "db": {"uri": "", "version": ""},
            "result": dict(report),
        },
        "metadata": {"scanStartedOn": _rfc3339(started), "scanFinishedOn": _rfc3339(finished)},
    }
