"""Which policies judge a promoted copy, and what a verdict says once the mode is set aside.

Where the image is going is not what judged it: a policy written for the staging registry
names neither the production registry nor an `oci:` hand-over directory. So a destination
is judged by

- every policy that judged the source: the copy must verify as the source did, which
  proves its evidence arrived intact (signatures, attestations, bundles, by digest); such
  a policy's exceptions keep matching the source's name, so the two verdicts can differ
  only by what arrived, and
- every policy whose `images` match the destination's own name: the place may ask for
  more than the source's policies did.

With neither (the source matched no policy and `--no-match` let it through), the set's
`noMatch` decides at the destination too.

`verification_result` is the one-word summary a VSA and the promotion record state:
`PASSED` only when at least one policy judged the image, the verification completed and
every check held. `mode: warn` turns failed checks into warnings so that surfaces let the
image through; it never turns the summary into `PASSED` (a failed check under warn is
still a failed check). A warning that is not a failure (an expired exception, which only
says its checks apply again) does not fail the summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from slsacheck.models.verdict import Check, Outcome, Verdict
from slsacheck.policy import checkids as ids

if TYPE_CHECKING:
    from slsacheck.policy.model import Policy, PolicySet

Reason = Literal["source", "destination"]
Result = Literal["PASSED", "FAILED"]
_EXCEPTION_PREFIX = ids.exception(0).split("[", 1)[0] + "["


@dataclass(frozen=True)
class Judge:
    """One policy that judges a destination, and why: it judged the source, its `images`
    match the destination's name, or both."""

    policy: Policy
    reasons: tuple[Reason, ...]

    def to_json(self) -> dict[str, object]:
        return {"policy": self.policy.name, "matches": list(self.reasons)}


def judges_for(source: Sequence[Policy], policy_set: PolicySet, destination: str) -> tuple[Judge, ...]:
    """The source's policies, then those matching `destination`'s name; each once."""
    by_name: dict[str, list[Reason]] = {p.name: ["source"] for p in source}
    chosen = {p.name: p for p in source}
    for policy in policy_set.matching(destination):
        chosen.setdefault(policy.name, policy)
        by_name.setdefault(policy.name, []).append("destination")
    return tuple(Judge(chosen[name], tuple(reasons)) for name, reasons in by_name.items())


def source_policies(verdict: Verdict, policy_set: PolicySet) -> list[Policy]:
    """The policies that judged the source, by the names its verdict carries."""
    return [policy_set.by_name(name) for name in verdict.policies]


def failed_checks(verdict: Verdict, policies: Sequence[Policy]) -> list[Check]:
    """Every check that did not hold, whatever the mode reported it as."""
    warn_mode = {p.name for p in policies if p.mode == "warn"}

    def failed(check: Check) -> bool:
        if check.outcome is Outcome.FAIL:
            return True
        if check.outcome is not Outcome.WARN:
            return False
        return check.id == ids.POLICY_MATCH or (
            check.policy in warn_mode and not check.id.startswith(_EXCEPTION_PREFIX)
        )

    return [c for c in verdict.checks if failed(c)]


def verification_result(verdict: Verdict, policies: Sequence[Policy]) -> Result:
    """`PASSED` only for a complete verification by at least one policy with no failed check."""
    if not verdict.policies or verdict.incomplete or not verdict.checks:
        return "FAILED"
    return "FAILED" if failed_checks(verdict, policies) else "PASSED"
