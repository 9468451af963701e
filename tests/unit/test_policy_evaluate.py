"""Evaluation matrix: a build the policy accepts passes; breaking one fact fails exactly
the check id that guards it (and nothing else)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from slsacheck.models.evidence import Evidence, Rejected
from slsacheck.models.verdict import Check, Outcome
from slsacheck.policy.evaluate import evaluate, no_match_verdict, verdict
from slsacheck.policy.load import load_policies
from slsacheck.policy.model import Policy
from tests.support.policy_evidence import (
    COMMIT,
    NOW,
    VULN,
    attestation,
    evidence,
    key_signer,
    keyless_signer,
    shared_json,
    signature,
    tekton_v1_statement,
)

POLICY = """\
apiVersion: slsacheck.dev/v1alpha1
kind: ImagePolicy
metadata:
  name: matrix
spec:
  images:
    include: ["registry.example.com/acme/**"]
  authorities:
    - name: release-key
      key: {file: keys/release.pub}
    - name: other-key
      key: {file: keys/other.pub}
    - name: tekton-keyless
      keyless:
        trustedRoot: trust/trusted_root.json
        identities:
          - issuer: https://kubernetes.default.svc.cluster.local
            subjectRegExp: '^https://kubernetes\\.io/namespaces/tekton-chains/serviceaccounts/tekton-chains-controller$'
  signatures:
    authorities: [release-key, tekton-keyless]
    threshold: 1
  attestations:
    - name: provenance
      predicateType: slsaprovenance1
      authorities: [tekton-keyless]
      provenance:
        builderIds: ["https://tekton.dev/chains/v2"]
        buildTypes: ["https://tekton.dev/chains/v2/slsa"]
        source:
          repositories: ["git+https://github.com/acme/*"]
          refs: ["refs/heads/main", "refs/tags/v*"]
          requireCommit: true
        tasks:
          required: [git-clone, trivy-scan, build-push]
          trustedRefs: ["oci://registry.example.com/tekton/*"]
        stepImages:
          requireDigest: true
          allowedRegistries: ["gcr.io"]
        maxAge: 168h
      conditions:
        - expr: >-
            !has(predicate.buildDefinition.externalParameters.runSpec.params) ||
            !predicate.buildDefinition.externalParameters.runSpec.params.exists(p,
              string(p.value).contains("--skip-tls-verify"))
          message: builds must not skip TLS verification
    - name: vulnerabilities
      predicateType: vuln
      authorities: [release-key]
      vulnerabilities:
        maxSeverity: HIGH
        ignoreIds: [CVE-2024-0001]
        maxAge: 72h
  exceptions:
    - images: ["registry.example.com/acme/legacy/**"]
      checks: [provenance.stepImages]
      until: 2027-03-31
      reason: legacy base image pinned by tag until migration
    - images: ["registry.example.com/acme/old/**"]
      checks: [provenance.stepImages]
      until: 2026-01-31
      reason: old images, migration finished
"""

SPEC_EXAMPLE = "vuln/EXTRACTED__sigstore__cosign__specs__COSIGN_VULN_ATTESTATION_SPEC.md__example-predicate.json"
TRIVY_DOC = (
    "vuln/EXTRACTED__aquasecurity__trivy__docs__guide__supply-chain__attestation__vuln.md__cosign-vuln-predicate.json"
)


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    from tests.support.policy_evidence import write_policy

    d = tmp_path_factory.mktemp("matrix")
    file = write_policy(d, POLICY, keys=("keys/release.pub", "keys/other.pub"))
    return load_policies([file]).policies[0]


def vuln_statement(rel: str = SPEC_EXAMPLE, finished: str = "2026-11-26T10:00:00Z") -> dict[str, Any]:
    doc = copy.deepcopy(shared_json(rel))
    predicate = doc.get("predicate", doc)
    predicate["metadata"]["scanFinishedOn"] = finished
    return {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": VULN,
        "subject": [{"name": "registry.example.com/acme/app", "digest": {"sha256": "ab" * 32}}],
        "predicate": predicate,
    }


def good_evidence(prov: dict[str, Any] | None = None, vuln: dict[str, Any] | None = None, **overrides: Any) -> Evidence:
    parts: dict[str, Any] = {
        "signatures": [signature("tekton-keyless", keyless_signer())],
        "attestations": [
            attestation("tekton-keyless", prov or tekton_v1_statement(), signer=keyless_signer()),
            attestation("release-key", vuln or vuln_statement()),
        ],
    }
    parts.update(overrides)
    return evidence(**parts)


def outcomes(checks: list[Check]) -> dict[str, Outcome]:
    return {c.id: c.outcome for c in checks}


def failing(checks: list[Check]) -> set[str]:
    return {c.id for c in checks if c.outcome is Outcome.FAIL}


def test_the_baseline_passes_every_check(policy: Policy) -> None:
    checks = evaluate(policy, good_evidence(), now=NOW)
    assert failing(checks) == set(), [c for c in checks if c.outcome is Outcome.FAIL]
    assert set(outcomes(checks)) == {
        "signatures.threshold",
        "attestations.provenance.present",
        "provenance.builderIds",
        "provenance.buildTypes",
        "provenance.source.repositories",
        "provenance.source.refs",
        "provenance.source.requireCommit",
        "provenance.tasks.required",
        "provenance.tasks.trustedRefs",
        "provenance.stepImages",
        "provenance.maxAge",
        "attestations.provenance.conditions[0]",
        "attestations.vulnerabilities.present",
        "vulnerabilities.maxSeverity",
        "vulnerabilities.maxAge",
    }
    assert all(c.policy == "matrix" for c in checks)
    assert verdict("img", "sha256:" + "ab" * 32, [policy], checks).passed


def _bd(s: dict[str, Any]) -> dict[str, Any]:
    bd: dict[str, Any] = s["predicate"]["buildDefinition"]
    return bd


def _wrong_builder(s: dict[str, Any]) -> None:
    s["predicate"]["runDetails"]["builder"]["id"] = "https://tekton.dev/chains/v2-evil"


def _wrong_repo(s: dict[str, Any]) -> None:
    for dep in _bd(s)["resolvedDependencies"]:
        if dep["uri"].startswith("git+"):
            dep["uri"] = "git+https://github.com/evil/app.git"


def _branch_not_allowed(s: dict[str, Any]) -> None:
    for p in _bd(s)["externalParameters"]["runSpec"]["params"]:
        if p["name"] == "revision":
            p["value"] = "refs/heads/feature-x"


def _commit_not_sha(s: dict[str, Any]) -> None:
    for dep in _bd(s)["resolvedDependencies"]:
        if dep["uri"].startswith("git+"):
            dep["digest"] = {"sha1": COMMIT[:7]}


def _missing_task(s: dict[str, Any]) -> None:
    tasks = _bd(s)["externalParameters"]["runSpec"]["pipelineSpec"]["tasks"]
    tasks[:] = [t for t in tasks if t["name"] != "trivy-scan"]


def _untrusted_task_bundle(s: dict[str, Any]) -> None:
    task = _bd(s)["externalParameters"]["runSpec"]["pipelineSpec"]["tasks"][0]
    task["taskRef"]["params"][0]["value"] = "registry.example.com/tekton/git-clone:1"  # a tag, no digest


def _unpinned_step_image(s: dict[str, Any]) -> None:
    for dep in _bd(s)["resolvedDependencies"]:
        if dep["uri"].startswith("oci://"):
            dep.pop("digest")
            break


def _too_old(s: dict[str, Any]) -> None:
    s["predicate"]["runDetails"]["metadata"]["finishedOn"] = "2026-11-01T00:00:00Z"


def _skip_tls(s: dict[str, Any]) -> None:
    _bd(s)["externalParameters"]["runSpec"]["params"].append({"name": "EXTRA_ARGS", "value": "--skip-tls-verify"})


@pytest.mark.parametrize(
    ("break_it", "check_id"),
    [
        (_wrong_builder, "provenance.builderIds"),
        (_wrong_repo, "provenance.source.repositories"),
        (_branch_not_allowed, "provenance.source.refs"),
        (_commit_not_sha, "provenance.source.requireCommit"),
        (_missing_task, "provenance.tasks.required"),
        (_untrusted_task_bundle, "provenance.tasks.trustedRefs"),
        (_unpinned_step_image, "provenance.stepImages"),
        (_too_old, "provenance.maxAge"),
        (_skip_tls, "attestations.provenance.conditions[0]"),
    ],
)
def test_one_broken_fact_fails_exactly_its_check(
    policy: Policy, break_it: Callable[[dict[str, Any]], None], check_id: str
) -> None:
    s = tekton_v1_statement()
    break_it(s)
    checks = evaluate(policy, good_evidence(prov=s), now=NOW)
    assert failing(checks) == {check_id}
    bad = next(c for c in checks if c.id == check_id)
    assert bad.expected and bad.found and bad.hint


def test_signature_by_an_unlisted_authority_fails_the_threshold(policy: Policy) -> None:
    ev = good_evidence(signatures=[signature("other-key", key_signer("22" * 32))])
    checks = evaluate(policy, ev, now=NOW)
    assert failing(checks) == {"signatures.threshold"}
    check = next(c for c in checks if c.id == "signatures.threshold")
    assert "(authority other-key), not a key of authority " in (check.found or ""), check.found


def test_keyless_signature_without_tlog_proof_does_not_count(policy: Policy) -> None:
    ev = good_evidence(signatures=[signature("tekton-keyless", keyless_signer(tlog=False))])
    assert failing(evaluate(policy, ev, now=NOW)) == {"signatures.threshold"}


def test_attestation_signed_by_untrusted_key_fails_presence_only(policy: Policy) -> None:
    rejected = Rejected(
        "attestation",
        "sha256-abab.att layer 1",
        "signature does not verify with any listed key",
        predicate_type="https://slsa.dev/provenance/v1",
    )
    ev = good_evidence(
        attestations=[attestation("release-key", vuln_statement())],
        rejected=[rejected],
    )
    checks = evaluate(policy, ev, now=NOW)
    assert failing(checks) == {"attestations.provenance.present"}
    present = next(c for c in checks if c.id == "attestations.provenance.present")
    assert "does not verify" in (present.found or "")
    assert outcomes(checks)["provenance.builderIds"] is Outcome.SKIP
    assert outcomes(checks)["signatures.threshold"] is Outcome.PASS


def test_attestation_signed_by_an_authority_not_listed_for_it(policy: Policy) -> None:
    ev = good_evidence(
        attestations=[attestation("release-key", tekton_v1_statement()), attestation("release-key", vuln_statement())]
    )
    checks = evaluate(policy, ev, now=NOW)
    assert failing(checks) == {"attestations.provenance.present"}


def test_vulnerability_above_the_limit(policy: Policy) -> None:
    ev = good_evidence(vuln=vuln_statement(TRIVY_DOC))
    checks = evaluate(policy, ev, now=NOW)
    assert failing(checks) == {"vulnerabilities.maxSeverity"}
    check = next(c for c in checks if c.id == "vulnerabilities.maxSeverity")
    assert "CRITICAL CVE-2021-36159" in (check.found or "")


@pytest.mark.parametrize(("where", "value"), [
    ("Results", -1), ("Results", {}), ("Results", ""), ("Results", [5]),
    ("Vulnerabilities", 7), ("Vulnerabilities", {}), ("Vulnerabilities", [{"Severity": "LOW"}]),
    ("Vulnerabilities", ["CVE-2021-36159"]),
])
def test_a_scan_that_cannot_be_read_whole_fails_closed(policy: Policy, where: str, value: Any) -> None:
    """A signed report whose findings are not all readable is no report: never fewer findings
    (an empty-looking `Results: {}` passed maxSeverity), never a traceback (`Results: -1`)."""
    statement = vuln_statement(TRIVY_DOC)
    report = statement["predicate"]["scanner"]["result"]
    if where == "Results":
        report["Results"] = value
    else:
        report["Results"][0]["Vulnerabilities"] = value
    checks = evaluate(policy, good_evidence(vuln=statement), now=NOW)
    assert failing(checks) == {"vulnerabilities.maxSeverity"}
    check = next(c for c in checks if c.id == "vulnerabilities.maxSeverity")
    assert "cannot be read whole" in (check.found or "")


def test_stale_scan_fails_max_age(policy: Policy) -> None:
    ev = good_evidence(vuln=vuln_statement(finished="2026-11-20T00:00:00Z"))
    assert failing(evaluate(policy, ev, now=NOW)) == {"vulnerabilities.maxAge"}


def test_newest_scan_is_judged(policy: Policy) -> None:
    old_bad = attestation("release-key", vuln_statement(TRIVY_DOC, finished="2026-11-20T00:00:00Z"))
    fresh = attestation("release-key", vuln_statement())
    ev = good_evidence(
        attestations=[attestation("tekton-keyless", tekton_v1_statement(), signer=keyless_signer()), old_bad, fresh]
    )
    assert failing(evaluate(policy, ev, now=NOW)) == set()


def test_every_provenance_must_satisfy_the_rules(policy: Policy) -> None:
    other = tekton_v1_statement()
    _wrong_builder(other)
    ev = good_evidence(
        attestations=[
            attestation("tekton-keyless", tekton_v1_statement(), signer=keyless_signer()),
            attestation("tekton-keyless", other, signer=keyless_signer(), source="referrer sha256:cd"),
            attestation("release-key", vuln_statement()),
        ]
    )
    checks = evaluate(policy, ev, now=NOW)
    assert failing(checks) == {"provenance.builderIds"}
    assert "referrer sha256:cd" in (next(c for c in checks if c.id == "provenance.builderIds").found or "")


def test_active_exception_skips_the_check_with_its_reason(policy: Policy) -> None:
    s = tekton_v1_statement()
    _unpinned_step_image(s)
    ev = good_evidence(prov=s, image="registry.example.com/acme/legacy/app@sha256:" + "ab" * 32)
    checks = evaluate(policy, ev, now=NOW)
    assert failing(checks) == set()
    skipped = next(c for c in checks if c.id == "provenance.stepImages")
    assert skipped.outcome is Outcome.SKIP and "legacy base image" in (skipped.message or "")


def test_expired_exception_stops_applying_and_says_so(policy: Policy) -> None:
    s = tekton_v1_statement()
    _unpinned_step_image(s)
    ev = good_evidence(prov=s, image="registry.example.com/acme/old/app@sha256:" + "ab" * 32)
    checks = evaluate(policy, ev, now=NOW)
    assert failing(checks) == {"provenance.stepImages"}
    assert outcomes(checks)["exceptions[1]"] is Outcome.WARN


def test_incomplete_evidence_fails_and_warn_mode_does_not_hide_it(tmp_path: Path) -> None:
    from tests.support.policy_evidence import write_policy

    file = write_policy(
        tmp_path, POLICY.replace("spec:\n", "spec:\n  mode: warn\n", 1), keys=("keys/release.pub", "keys/other.pub")
    )
    warn_policy = load_policies([file]).policies[0]
    ev = good_evidence(signatures=[], incomplete=["registry.example.com: connection refused"])
    checks = evaluate(warn_policy, ev, now=NOW)
    assert outcomes(checks)["verification.complete"] is Outcome.FAIL
    assert outcomes(checks)["signatures.threshold"] is Outcome.WARN
    v = verdict(ev.image, ev.digest, [warn_policy], checks, ev.incomplete)
    assert not v.passed and v.outcome == "error"


def test_warn_mode_turns_failures_into_warnings(tmp_path: Path) -> None:
    from tests.support.policy_evidence import write_policy

    file = write_policy(
        tmp_path, POLICY.replace("spec:\n", "spec:\n  mode: warn\n", 1), keys=("keys/release.pub", "keys/other.pub")
    )
    warn_policy = load_policies([file]).policies[0]
    s = tekton_v1_statement()
    _wrong_builder(s)
    checks = evaluate(warn_policy, good_evidence(prov=s), now=NOW)
    assert failing(checks) == set()
    assert outcomes(checks)["provenance.builderIds"] is Outcome.WARN
    assert verdict("i", None, [warn_policy], checks).outcome == "warn"


def test_no_evidence_at_all_fails(policy: Policy) -> None:
    checks = evaluate(policy, evidence(), now=NOW)
    assert failing(checks) == {
        "signatures.threshold",
        "attestations.provenance.present",
        "attestations.vulnerabilities.present",
    }


@pytest.mark.parametrize(
    ("mode", "outcome", "passed"),
    [("deny", Outcome.FAIL, False), ("warn", Outcome.WARN, True), ("allow", Outcome.PASS, True)],
)
def test_no_match_verdict(mode: str, outcome: Outcome, passed: bool) -> None:
    v = no_match_verdict("registry.other.com/x:1", None, mode)  # type: ignore[arg-type]
    assert [(c.id, c.outcome) for c in v.checks] == [("policy.match", outcome)]
    assert v.passed is passed


def test_evaluate_needs_an_aware_clock(policy: Policy) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate(policy, good_evidence(), now=NOW.replace(tzinfo=None))


def test_attestation_whose_subject_names_another_image(policy: Policy) -> None:
    s = tekton_v1_statement()
    s["subject"] = [{"name": "registry.example.com/acme/other", "digest": {"sha256": "cd" * 32}}]
    checks = evaluate(policy, good_evidence(prov=s), now=NOW)
    assert failing(checks) == {"attestations.provenance.present"}
    assert "subject does not name" in (next(c for c in checks if c.id == "attestations.provenance.present").found or "")


def test_attestation_whose_envelope_and_statement_disagree_on_the_type(policy: Policy) -> None:
    s = tekton_v1_statement()
    s["predicateType"] = "https://slsa.dev/provenance/v0.2"
    att = attestation("tekton-keyless", s, signer=keyless_signer())
    forged = type(att)(att.authority, att.signer, att.source, "https://slsa.dev/provenance/v1", s)
    checks = evaluate(
        policy, good_evidence(attestations=[forged, attestation("release-key", vuln_statement())]), now=NOW
    )
    assert failing(checks) == {"attestations.provenance.present"}


def test_expected_shows_the_patterns_as_written(policy: Policy) -> None:
    s = tekton_v1_statement()
    _wrong_repo(s)
    check = next(
        c for c in evaluate(policy, good_evidence(prov=s), now=NOW) if c.id == "provenance.source.repositories"
    )
    assert check.expected == "every source repository matching git+https://github.com/acme/*"
    assert "git+https://github.com/evil/app.git" in (check.found or "")
