"""slsa-verifier's `verify-artifact` flags as the policy's provenance rules (pure).

`--builder-id`, `--source-uri`, `--source-tag`/`--source-branch` become a `ProvenanceRules`
judged by `provenance_rules.provenance_checks`, the code that judges an image policy's
`provenance` section: one set of rules, one set of check ids. The flags take exact values
(a `*` or `?` is refused: patterns belong in a policy file).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slsacheck.errors import InputError
from slsacheck.models.verdict import Check, Outcome
from slsacheck.policy.globs import Glob, GlobError, compile_glob
from slsacheck.policy.model import ProvenanceRules, SourceRules
from slsacheck.policy.provenance_facts import provenance_facts
from slsacheck.policy.provenance_rules import provenance_checks

__all__ = ["ProvenanceFlags", "checks_over_all", "is_provenance"]

PROVENANCE_PRESENT = "attestations.provenance.present"


def _exact(flag: str, value: str) -> Glob:
    if any(c in value for c in "*?"):
        raise InputError(f"{flag} takes an exact value, not a pattern", found=value,
                         hint="patterns belong in a policy file's provenance rules")
    try:
        return compile_glob(value)
    except GlobError as exc:
        raise InputError(f"{flag}: {exc}", found=value) from None


@dataclass(frozen=True)
class ProvenanceFlags:
    builder_id: str | None = None
    source_uri: str | None = None
    source_tag: str | None = None
    source_branch: str | None = None

    def rules(self) -> ProvenanceRules | None:
        """The rules the flags stand for; None when no flag is given."""
        if self.source_tag and self.source_branch:
            raise InputError("give --source-tag or --source-branch, not both", hint="a build runs on one ref")
        if not any((self.builder_id, self.source_uri, self.source_tag, self.source_branch)):
            return None
        if (self.source_tag or self.source_branch) and not self.source_uri:
            raise InputError("--source-tag/--source-branch need --source-uri", hint="name the repository they are in")
        source = None
        if self.source_uri:
            refs: tuple[Glob, ...] = ()
            if self.source_tag:
                refs = (_exact("--source-tag", f"refs/tags/{self.source_tag.removeprefix('refs/tags/')}"),)
            elif self.source_branch:
                refs = (_exact("--source-branch", f"refs/heads/{self.source_branch.removeprefix('refs/heads/')}"),)
            source = SourceRules(repositories=(_exact("--source-uri", self.source_uri.removeprefix("git+")),),
                                 refs=refs)
        builders = (_exact("--builder-id", self.builder_id),) if self.builder_id else ()
        return ProvenanceRules(builder_ids=builders, source=source)


def is_provenance(predicate_type: str) -> bool:
    return predicate_type.startswith("https://slsa.dev/provenance/")


def checks_over_all(rules: ProvenanceRules, statements: Sequence[tuple[str, Mapping[str, Any]]], *,
                    now: datetime) -> list[Check]:
    """The rules over every (predicate type, statement) that is SLSA provenance: each must hold
    for all of them (two signed claims about one file that disagree are a reason to stop)."""
    provenance = [s for t, s in statements if is_provenance(t)]
    if not provenance:
        return [Check(PROVENANCE_PRESENT, Outcome.FAIL, expected="a SLSA provenance attestation",
                      found=", ".join(sorted({t for t, _ in statements})) or "none",
                      hint="the provenance flags judge SLSA provenance; pass the provenance attestation")]
    merged: dict[str, Check] = {}
    for statement in provenance:
        for check in provenance_checks(rules, provenance_facts(statement), now=now):
            kept = merged.get(check.id)
            if kept is None or (kept.outcome is Outcome.PASS and check.outcome is not Outcome.PASS):
                merged[check.id] = check
    return list(merged.values())
