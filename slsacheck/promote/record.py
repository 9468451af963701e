"""The promotion record: what was verified, what was copied where, and what each place says.

One `PromotionRecord` per run, written as JSON (`schemas/promotion-record.schema.json`) for
audit trails and, optionally, summarised as a signed VSA at each destination. It is data:
the CLI renders it as text or JSON, and decides the exit code from it (`exit_code`).

Outcomes: the run is `refused` (the source did not pass: nothing copied), `planned`
(`--dry-run`), `promoted` (every destination copied, verified and tagged), or `partial`
(at least one destination failed or could not complete; the others are done). A
destination is `promoted`, `planned`, `failed` (its verdict did not pass: content copied,
tags NOT set: `tagsWithheld`) or `error` (copying or verifying could not complete).

The outcome says what was done; `verificationResult` says what was found: `PASSED` only
when a policy judged the image and every check held. Under `mode: warn` or
`--no-match allow|warn` an image can be promoted with `verificationResult: FAILED`; the
record never calls such an image verified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from slsacheck import __version__
from slsacheck.errors import EXIT_INCOMPLETE, EXIT_OK, EXIT_POLICY
from slsacheck.models.verdict import Verdict
from slsacheck.models.verdict_render import failed_line
from slsacheck.oci.copy import CopyReport
from slsacheck.promote.evidence import EvidenceItem
from slsacheck.promote.judging import Judge, Result

RECORD_KIND = "PromotionRecord"
RECORD_API_VERSION = "slsacheck.dev/v1alpha1"
RunOutcome = Literal["refused", "planned", "promoted", "partial"]
DestinationOutcome = Literal["promoted", "planned", "failed", "error"]


def _time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class TagResult:
    tag: str
    action: Literal["set", "present"]
    previous: str | None = None  # the digest the tag named before (moved), if any

    def to_json(self) -> dict[str, Any]:
        return {"tag": self.tag, "action": self.action, "previous": self.previous}


@dataclass(frozen=True)
class DestinationResult:
    image: str  # as the user wrote it
    name: str  # registry/repository or oci:DIR
    outcome: DestinationOutcome
    tags: tuple[str, ...] = ()
    image_copy: CopyReport | None = None
    evidence: tuple[EvidenceItem, ...] = ()
    tag_results: tuple[TagResult, ...] = ()
    verdict: Verdict | None = None
    digest: str | None = None  # what the destination resolves the promoted image to
    digest_matches: bool | None = None
    vsa: dict[str, Any] | None = None  # the attached VSA (tag, bundle) if any
    error: str | None = None
    exit_code: int = EXIT_OK
    judged_by: tuple[Judge, ...] = ()  # the policies that judged (or would judge) this copy
    verification_result: Result | None = None  # None: not judged (planned, or could not get that far)
    tags_withheld: bool = False  # content and evidence copied, tags not set
    resumed: bool = False  # the content was already there untagged: an earlier partial run finished

    @property
    def sent_nothing(self) -> bool:
        """Nothing was (or would be) sent: image, evidence and tags were all there."""
        return (
            (self.image_copy is None or self.image_copy.sent_nothing)
            and all(item.sent_nothing for item in self.evidence)
            and all(t.action == "present" for t in self.tag_results)
        )

    def to_json(self) -> dict[str, Any]:
        copied: dict[str, Any] = {
            "image": self.image_copy.to_json() if self.image_copy else None,
            "evidence": [item.to_json() for item in self.evidence],
            "tags": [t.to_json() for t in self.tag_results],
            "sentNothing": self.sent_nothing,
        }
        out: dict[str, Any] = {
            "image": self.image,
            "name": self.name,
            "outcome": self.outcome,
            "tags": list(self.tags),
            "digest": self.digest,
            "digestMatches": self.digest_matches,
            "verdict": self.verdict.to_json() if self.verdict else None,
            "copied": copied,
            "judgedBy": [j.to_json() for j in self.judged_by],
            "verificationResult": self.verification_result,
            "tagsWithheld": self.tags_withheld,
            "resumed": self.resumed,
        }
        if self.vsa is not None:
            out["vsa"] = self.vsa
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass(frozen=True)
class PromotionRecord:
    source: str
    source_digest: str | None
    verdict: Verdict
    policy_files: tuple[str, ...]
    policy_digest: str
    started: datetime
    finished: datetime
    dry_run: bool
    destinations: tuple[DestinationResult, ...] = ()
    verification_result: Result = "FAILED"  # of the source, whatever the mode
    version: str = field(default=__version__)

    @property
    def outcome(self) -> RunOutcome:
        if not self.verdict.passed:
            return "refused"
        if self.dry_run:
            return "planned"
        if all(d.outcome == "promoted" for d in self.destinations):
            return "promoted"
        return "partial"

    @property
    def exit_code(self) -> int:
        """3 if anything could not complete, else 1 if anything failed, else 0."""
        if not self.verdict.passed:
            return EXIT_INCOMPLETE if self.verdict.outcome == "error" else EXIT_POLICY
        codes = [d.exit_code for d in self.destinations]
        if EXIT_INCOMPLETE in codes:
            return EXIT_INCOMPLETE
        return max(codes, default=EXIT_OK)

    def to_json(self) -> dict[str, Any]:
        return {
            "apiVersion": RECORD_API_VERSION,
            "kind": RECORD_KIND,
            "slsacheckVersion": self.version,
            "startedAt": _time(self.started),
            "finishedAt": _time(self.finished),
            "dryRun": self.dry_run,
            "outcome": self.outcome,
            "source": {"image": self.source, "digest": self.source_digest, "verdict": self.verdict.to_json(),
                       "judgedBy": list(self.verdict.policies), "verificationResult": self.verification_result},
            "policy": {"files": list(self.policy_files), "digest": self.policy_digest},
            "destinations": [d.to_json() for d in self.destinations],
        }


def render_text(record: PromotionRecord) -> str:
    """The record for people: the source verdict comes first (rendered by the caller)."""
    lines: list[str] = []
    if record.outcome == "refused":
        lines.append(f"refused: {record.source} did not pass verification; nothing was copied")
        return "\n".join(lines) + "\n"
    verb = "would promote" if record.dry_run else "promoting"
    lines.append(f"{verb} {record.source_digest} to {len(record.destinations)} destination(s)")
    if not record.verdict.policies:
        lines.append(f"no policy judged {record.source} (noMatch let it through): it is promoted UNVERIFIED; "
                     "verification result FAILED")
    elif record.verification_result == "FAILED":
        lines.append("checks failed under mode: warn, which does not stop a promotion; verification result FAILED")
    for d in record.destinations:
        lines.append("")
        lines.append(f"destination {d.image}: {d.outcome.upper()}")
        if d.judged_by:
            judges = ", ".join(f"{j.policy.name} ({' and '.join(j.reasons)})" for j in d.judged_by)
            lines.append(f"  judged by: {judges}")
        elif d.outcome != "error":
            lines.append("  judged by: no policy (noMatch decides)")
        if d.resumed:
            lines.append("  finished an earlier promotion that copied the image and withheld its tags"
                         if d.outcome == "promoted" else
                         "  an earlier run already copied the image here and withheld its tags")
        if d.image_copy is not None:
            c = d.image_copy
            lines.append(
                f"  image: {len(c.manifests_copied)} manifest(s) and {len(c.blobs_copied)} blob(s) "
                f"{'to copy' if record.dry_run else 'copied'}, {len(c.blobs_mounted)} mounted, "
                f"{len(c.manifests_present) + len(c.blobs_present)} already there"
            )
        for item in d.evidence:
            lines.append(f"  evidence: {item.describe(dry_run=record.dry_run)}")
        if not d.evidence and d.image_copy is not None:
            lines.append("  evidence: none found at the source")
        if d.vsa is not None:
            lines.append(f"  verification summary attached: {d.vsa.get('tag') or d.vsa.get('bundle')}")
        for t in d.tag_results:
            if t.action == "present":
                lines.append(f"  tag {t.tag}: already there")
            else:
                moved = f" (moved from {t.previous})" if t.previous else ""
                lines.append(f"  tag {t.tag}: {'to set' if record.dry_run else 'set'}{moved}")
        if d.verdict is not None:
            lines.append(f"  verdict at the destination: {d.verdict.outcome.upper()}"
                         f" (verification result {d.verification_result})")
            lines.extend(f"    {failed_line(check)}" for check in d.verdict.failed)
            for reason in d.verdict.incomplete:
                lines.append(f"    incomplete: {reason}")
        if d.digest is not None:
            same = "equal to the source" if d.digest_matches else "DIFFERENT from the source"
            lines.append(f"  digest: {d.digest} ({same})")
        if d.tags_withheld:
            lines.append("  PARTIAL: image and evidence copied, tags withheld")
        if d.error is not None:
            lines.append(f"  error: {d.error}")
    lines.append("")
    summary = "" if record.dry_run else f" (verification result {record.verification_result})"
    lines.append(f"result: {record.outcome}{summary}")
    return "\n".join(lines) + "\n"
