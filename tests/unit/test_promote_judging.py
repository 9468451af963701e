"""The promotion's one-word summary and the choice of judges, without a registry.

`verification_result` is FAILED whenever a check did not hold, whether the policy
enforces it or only warns; a warning that is not a failure (an expired exception) does
not fail it; nothing judged, or an incomplete verification, is never PASSED.
"""

from __future__ import annotations

from pathlib import Path

from slsacheck.models.verdict import Check, Outcome, Verdict
from slsacheck.policy.load import load_policies
from slsacheck.policy.model import Policy, PolicySet
from slsacheck.promote.judging import failed_checks, judges_for, verification_result
from tests.support.policy_evidence import key_policy, public_pem

DIGEST = "sha256:" + "0" * 64


def _policies(tmp_path: Path) -> PolicySet:
    (tmp_path / "k.pub").write_bytes(public_pem())
    files = []
    for name, include, mode in (("enforced", "registry.example.com/staging/**", "enforce"),
                                ("warned", "registry.example.com/staging/**", "warn"),
                                ("prod", "registry.example.com/prod/**", "enforce")):
        path = tmp_path / f"{name}.yaml"
        path.write_text(key_policy(name, [include], key=tmp_path / "k.pub", mode=mode))
        files.append(path)
    return load_policies(files)


def _verdict(*checks: Check, incomplete: tuple[str, ...] = ()) -> Verdict:
    names = tuple(dict.fromkeys(c.policy for c in checks if c.policy))
    return Verdict("registry.example.com/staging/app", DIGEST, names, checks, incomplete)


def test_a_failure_reported_as_a_warning_still_fails_the_summary(tmp_path: Path) -> None:
    policies = list(_policies(tmp_path).policies)
    warned = Check("signatures.threshold", Outcome.WARN, "warned")
    passed = Check("signatures.threshold", Outcome.PASS, "enforced")
    assert verification_result(_verdict(passed, warned), policies) == "FAILED"
    assert failed_checks(_verdict(passed, warned), policies) == [warned]
    assert verification_result(_verdict(passed), policies) == "PASSED"


def test_an_expired_exception_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    policies = list(_policies(tmp_path).policies)
    expired = [Check("exceptions[0]", Outcome.WARN, name) for name in ("warned", "enforced")]
    passed = Check("signatures.threshold", Outcome.PASS, "warned")
    assert verification_result(_verdict(passed, *expired), policies) == "PASSED"


def test_nothing_judged_or_incomplete_is_never_passed(tmp_path: Path) -> None:
    policies = list(_policies(tmp_path).policies)
    allowed = Verdict("registry.example.com/x", DIGEST, (), (Check("policy.match", Outcome.PASS),))
    assert verification_result(allowed, policies) == "FAILED"
    warned = Verdict("registry.example.com/x", DIGEST, (), (Check("policy.match", Outcome.WARN),))
    assert verification_result(warned, policies) == "FAILED"
    passed = Check("signatures.threshold", Outcome.PASS, "enforced")
    assert verification_result(_verdict(passed, incomplete=("registry down",)), policies) == "FAILED"
    assert verification_result(_verdict(Check("signatures.threshold", Outcome.FAIL, "enforced")),
                               policies) == "FAILED"


def test_judges_are_the_source_policies_then_those_naming_the_destination(tmp_path: Path) -> None:
    policy_set = _policies(tmp_path)
    source: list[Policy] = policy_set.matching("registry.example.com/staging/app")
    assert [p.name for p in source] == ["enforced", "warned"]
    prod = judges_for(source, policy_set, "registry.example.com/prod/app")
    assert [j.to_json() for j in prod] == [
        {"policy": "enforced", "matches": ["source"]},
        {"policy": "warned", "matches": ["source"]},
        {"policy": "prod", "matches": ["destination"]},
    ]
    handover = judges_for(source, policy_set, "oci:/tmp/handover")
    assert [j.policy.name for j in handover] == ["enforced", "warned"]
    mirror = judges_for(source, policy_set, "registry.example.com/staging/mirror")
    assert [j.to_json()["matches"] for j in mirror] == [["source", "destination"], ["source", "destination"]]
    assert judges_for([], policy_set, "oci:/tmp/handover") == ()
