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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from slsacheck.models.evidence import Evidence


class Outcome(enum.StrEnum):
    PASS = "pass"  # noqa: S105 (an outcome, not a password)
    FAIL = "fail"
    WARN = "warn"
    SKIP = "skip"


@dataclass(frozen=True, slots=True, init=False)
class Check:
    id: str
    outcome: Outcome
    policy: str | None = None
    expected: str | None = None
    found: str | None = None
    hint: str | None = None
    message: str | None = None

    # Written out: an evaluation makes a check per rule (and again per policy, see `named`),
    # and the generated frozen `__init__` sets each field through `object.__setattr__`, about
    # twice the cost of setting the slots directly. A test holds it to the field list.
    def __init__(  # noqa: PLR0917 - the dataclass's own positional order, kept
        self,
        id: str,
        outcome: Outcome,
        policy: str | None = None,
        expected: str | None = None,
        found: str | None = None,
        hint: str | None = None,
        message: str | None = None,
    ) -> None:
        _set_id(self, id)
        _set_outcome(self, outcome)
        _set_policy(self, policy)
        _set_expected(self, expected)
        _set_found(self, found)
        _set_hint(self, hint)
        _set_message(self, message)

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


def _slot_setter(name: str) -> Callable[[Check, Any], None]:
    """The slot's own setter: it bypasses the frozen `__setattr__`, as the generated `__init__` does."""
    setter: Callable[[Check, Any], None] = vars(Check)[name].__set__
    return setter


_set_id, _set_outcome, _set_policy, _set_expected, _set_found, _set_hint, _set_message = map(
    _slot_setter, ("id", "outcome", "policy", "expected", "found", "hint", "message")
)


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
