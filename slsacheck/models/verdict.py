"""A Verdict is data: what was judged, and every check with its outcome and reasons.

The CLI, the admission webhook, the Tekton task and the audit report all render the
same Verdict. Check ids are the dotted path of the policy rule that produced them
(`signatures.threshold`, `attestations.provenance.present`, `provenance.builderIds`,
...): stable across releases, documented, and what exceptions and reports name.

Fail closed: a Verdict passes only if it has at least one check, no check failed, and
nothing kept the verification from completing (`incomplete`).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slsacheck.models.evidence import Evidence


class Outcome(enum.StrEnum):
    PASS = "pass"  # noqa: S105 (an outcome, not a password)
    FAIL = "fail"
    WARN = "warn"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    outcome: Outcome
    policy: str | None = None
    expected: str | None = None
    found: str | None = None
    hint: str | None = None
    message: str | None = None

    def named(self, policy: str) -> Check:
        """This check as made by `policy`. Every evaluated check goes through here, so it
        is spelled out rather than left to `dataclasses.replace`, which costs several times
        more; a test holds it to the field list."""
        return Check(self.id, self.outcome, policy, self.expected, self.found, self.hint, self.message)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "outcome": self.outcome.value}
        for key in ("policy", "message", "expected", "found", "hint"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True)
class Verdict:
    image: str
    digest: str | None
    policies: Sequence[str] = ()
    checks: Sequence[Check] = ()
    # Reasons the verification could not complete (registry down, timeout, ...).
    incomplete: Sequence[str] = ()
    # What the verdict rests on (None when the image was never read).
    evidence: Evidence | None = None

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.outcome is Outcome.FAIL]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.outcome is Outcome.WARN]

    @property
    def passed(self) -> bool:
        return bool(self.checks) and not self.failed and not self.incomplete

    @property
    def outcome(self) -> str:
        """`pass`, `warn` (passed with warnings), `fail`, or `error` (could not complete)."""
        if self.incomplete:
            return "error"
        if not self.checks or self.failed:
            return "fail"
        return "warn" if self.warnings else "pass"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "image": self.image,
            "digest": self.digest,
            "outcome": self.outcome,
            "policies": list(self.policies),
            "checks": [c.to_json() for c in self.checks],
            # Said outright, as the other reports do, so a reader need not infer it from `incomplete`.
            "verification": {"complete": not self.incomplete},
        }
        if self.incomplete:
            out["incomplete"] = list(self.incomplete)
        if self.evidence is not None:
            out["evidence"] = self.evidence.to_json()
        return out
