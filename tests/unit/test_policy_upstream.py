"""Policies over upstream documents, with the outcomes their upstream tests give.

- slsa-verifier's container provenance (SLSA v0.2, GitHub generator): upstream
  `Test_runVerifyGHAContainerBased` accepts source github.com/slsa-framework/example-package
  and the generator_container_slsa3 builder (bare, @v2.1.0, @refs/tags/v2.1.0), and rejects
  example-packageA, a wrong owner, an untrusted builder and branch master.
- Conforma's Tekton Chains provenance (v0.2) and its golden policy input (a Konflux build
  with 15 pipeline tasks).
- Vulnerability scans: cosign vuln predicates and raw Trivy JSON reports.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from slsacheck.models.digest import Digest
from slsacheck.models.evidence import Evidence
from slsacheck.models.verdict import Check, Outcome
from slsacheck.policy.evaluate import evaluate
from slsacheck.policy.load import load_policies
from slsacheck.policy.model import Policy
from tests.support.policy_evidence import (
    CONFORMA_ENVELOPE,
    CONFORMA_GOLDEN,
    SLSA_VERIFIER_ENVELOPE,
    VULN,
    attestation,
    dsse_statement,
    keyless_signer,
    shared_json,
    write_policy,
)

GENERATOR = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml"

SLSA_VERIFIER_POLICY = """\
apiVersion: slsacheck.dev/v1alpha1
kind: ImagePolicy
metadata: {{name: slsa-verifier-container}}
spec:
  images: {{include: ["ghcr.io/slsa-framework/**"]}}
  authorities:
    - name: github-actions
      keyless:
        trustedRoot: trust/trusted_root.json
        identities:
          - issuer: https://token.actions.githubusercontent.com
            subjectRegExp: '^https://github\\.com/slsa-framework/slsa-github-generator/.*@refs/tags/v[0-9.]+$'
  attestations:
    - name: provenance
      predicateType: slsaprovenance
      authorities: [github-actions]
      provenance:
        builderIds: ["{builder}"]
        source:
          repositories: ["{source}"]
          refs: ["{ref}"]
          requireCommit: true
"""


def _policy(tmp_path: Path, text: str, name: str = "policy.yaml") -> Policy:
    return load_policies([write_policy(tmp_path, text, name=name)]).policies[0]


def _by_id(checks: list[Check]) -> dict[str, Outcome]:
    return {c.id: c.outcome for c in checks}


def _failing(checks: list[Check]) -> set[str]:
    return {c.id for c in checks if c.outcome is Outcome.FAIL}


def _evidence_for(statement: dict[str, Any], authority: str) -> Evidence:
    subject = statement["subject"][0]
    digest = Digest("sha256", subject["digest"]["sha256"])
    return Evidence(
        f"{subject['name']}@{digest}",
        digest,
        attestations=(attestation(authority, statement, signer=keyless_signer("ci", "issuer")),),
    )


@pytest.mark.parametrize(
    ("source", "builder", "ref", "failing"),
    [
        ("github.com/slsa-framework/example-package", GENERATOR, "refs/heads/main", set()),
        ("github.com/slsa-framework/example-package", GENERATOR + "@v2.1.0", "refs/heads/main", set()),
        ("github.com/slsa-framework/example-package", GENERATOR + "@refs/tags/v2.1.0", "refs/heads/main", set()),
        ("https://github.com/slsa-framework/example-package", GENERATOR, "refs/heads/*", set()),
        (
            "github.com/slsa-framework/example-packageA",
            GENERATOR,
            "refs/heads/main",
            {"provenance.source.repositories"},
        ),
        (
            "Agithub.com/slsa-framework/example-package",
            GENERATOR,
            "refs/heads/main",
            {"provenance.source.repositories"},
        ),
        (
            "github.com/Aslsa-framework/example-package",
            GENERATOR,
            "refs/heads/main",
            {"provenance.source.repositories"},
        ),
        (
            "github.com/slsa-framework/example-package",
            "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/not-trusted.yml",
            "refs/heads/main",
            {"provenance.builderIds"},
        ),
        (
            "github.com/slsa-framework/example-package",
            GENERATOR + "@v2.0.0",
            "refs/heads/main",
            {"provenance.builderIds"},
        ),
        ("github.com/slsa-framework/example-package", GENERATOR, "refs/heads/master", {"provenance.source.refs"}),
    ],
)
def test_slsa_verifier_container_provenance(
    tmp_path: Path, source: str, builder: str, ref: str, failing: set[str]
) -> None:
    policy = _policy(tmp_path, SLSA_VERIFIER_POLICY.format(source=source, builder=builder, ref=ref))
    statement = dsse_statement(SLSA_VERIFIER_ENVELOPE)
    assert statement["predicateType"] == "https://slsa.dev/provenance/v0.2"
    checks = evaluate(policy, _evidence_for(statement, "github-actions"), now=datetime.now(UTC))
    assert _failing(checks) == failing
    assert _by_id(checks)["provenance.source.requireCommit"] is Outcome.PASS


TEKTON_V02_POLICY = """\
apiVersion: slsacheck.dev/v1alpha1
kind: ImagePolicy
metadata: {{name: konflux}}
spec:
  images: {{include: ["**"]}}
  authorities:
    - name: chains
      keyless:
        trustedRoot: trust/trusted_root.json
        identities:
          - issuer: https://kubernetes.default.svc.cluster.local
            subjectRegExp: '^https://kubernetes\\.io/namespaces/[a-z0-9-]+/serviceaccounts/[a-z0-9-]+$'
  attestations:
    - name: provenance
      predicateType: slsaprovenance02
      authorities: [chains]
      provenance:
        builderIds: ["https://tekton.dev/chains/v2"]
        buildTypes: ["tekton.dev/v1/PipelineRun", "tekton.dev/v1beta1/PipelineRun"]
        tasks:
          required: [{tasks}]
{extra}
"""

GOLDEN_EXTRA = """\
          trustedRefs: ["oci://quay.io/konflux-ci/tekton-catalog/*"]
        source:
          repositories: ["https://github.com/conforma/*"]
          refs: ["refs/heads/main"]
          requireCommit: true
        stepImages:
          requireDigest: true
          allowedRegistries: ["quay.io/konflux-ci", "quay.io/redhat-appstudio", "registry.access.redhat.com"]
        maxAge: 24h
      conditions:
        - expr: predicate.invocation.parameters["hermetic"] == "true"
          message: builds must be hermetic
"""


def _golden() -> dict[str, Any]:
    statement: dict[str, Any] = copy.deepcopy(shared_json(CONFORMA_GOLDEN)["attestations"][0]["statement"])
    return statement


def test_golden_container_meets_a_konflux_policy(tmp_path: Path) -> None:
    policy = _policy(
        tmp_path, TEKTON_V02_POLICY.format(tasks="git-clone, buildah, clair-scan, sast-snyk-check", extra=GOLDEN_EXTRA)
    )
    finished = datetime(2025, 2, 10, 2, 0, tzinfo=UTC)  # 48 min after buildFinishedOn
    checks = evaluate(policy, _evidence_for(_golden(), "chains"), now=finished)
    assert _failing(checks) == set(), [c for c in checks if c.outcome is Outcome.FAIL]
    assert len(checks) == 11
    later = evaluate(policy, _evidence_for(_golden(), "chains"), now=datetime(2025, 3, 1, tzinfo=UTC))
    assert _failing(later) == {"provenance.maxAge"}


def test_golden_container_without_a_required_task(tmp_path: Path) -> None:
    policy = _policy(tmp_path, TEKTON_V02_POLICY.format(tasks="git-clone, trivy-scan", extra=""))
    checks = evaluate(policy, _evidence_for(_golden(), "chains"), now=datetime(2025, 2, 10, 2, tzinfo=UTC))
    assert _failing(checks) == {"provenance.tasks.required"}
    found = next(c.found for c in checks if c.id == "provenance.tasks.required")
    assert found is not None and found.startswith("missing trivy-scan;") and "clone-repository (git-clone)" in found


def test_golden_container_with_a_step_image_from_elsewhere(tmp_path: Path) -> None:
    policy = _policy(
        tmp_path,
        TEKTON_V02_POLICY.format(
            tasks="git-clone", extra=GOLDEN_EXTRA.replace('"registry.access.redhat.com"', '"registry.example.com"')
        ),
    )
    checks = evaluate(policy, _evidence_for(_golden(), "chains"), now=datetime(2025, 2, 10, 2, tzinfo=UTC))
    assert _failing(checks) == {"provenance.stepImages"}
    assert "registry.access.redhat.com/ubi9/skopeo" in (
        next(c.found for c in checks if c.id == "provenance.stepImages") or ""
    )


def test_conforma_test_image_provenance_records_no_tasks(tmp_path: Path) -> None:
    statement = dsse_statement(CONFORMA_ENVELOPE)
    assert statement["predicate"]["buildType"] == "tekton.dev/v1/PipelineRun"
    policy = _policy(tmp_path, TEKTON_V02_POLICY.format(tasks="git-clone", extra=""))
    checks = evaluate(policy, _evidence_for(statement, "chains"), now=datetime.now(UTC))
    assert _by_id(checks)["provenance.builderIds"] is Outcome.PASS
    assert _by_id(checks)["provenance.buildTypes"] is Outcome.PASS
    assert _failing(checks) == {"provenance.tasks.required"}
    assert "no pipeline tasks recorded" in (next(c.found for c in checks if c.id == "provenance.tasks.required") or "")


# -- vulnerability scans ----------------------------------------------------------------

VULN_POLICY = """\
apiVersion: slsacheck.dev/v1alpha1
kind: ImagePolicy
metadata: {{name: scan}}
spec:
  images: {{include: ["**"]}}
  authorities:
    - name: scanner
      key: {{file: keys/release.pub}}
  attestations:
    - name: scan
      predicateType: "{ptype}"
      authorities: [scanner]
      vulnerabilities:
{rules}
"""

TRIVY_TYPE = "https://trivy.dev/report/v2"
COSIGN_TEST = "vuln/sigstore__cosign__test__testdata__attestations__vuln-predicate.json"
SPEC = "vuln/EXTRACTED__sigstore__cosign__specs__COSIGN_VULN_ATTESTATION_SPEC.md__example-predicate.json"
TRIVY_DOC = (
    "vuln/EXTRACTED__aquasecurity__trivy__docs__guide__supply-chain__attestation__vuln.md__cosign-vuln-predicate.json"
)
ALPINE = "vuln/aquasecurity__trivy__integration__testdata__alpine-39.json.golden"
UBI7 = "vuln/aquasecurity__trivy__integration__testdata__ubi-7-comprehensive.json.golden"
GOMOD = "vuln/aquasecurity__trivy__integration__testdata__gomod.json.golden"
NPM_SUPPRESSED = "vuln/aquasecurity__trivy__integration__testdata__fixtures__convert__npm-with-suppressed.json.golden"
DOCKERFILE = "vuln/aquasecurity__trivy__integration__testdata__dockerfile.json.golden"
UBUNTU = "vuln/aquasecurity__trivy__integration__testdata__ubuntu-1804.json.golden"


def _scan_evidence(authority: str, predicate_type: str, predicate: Any) -> Evidence:
    """registry.example.com/app with one scan statement about it, verified by `authority`."""
    statement = {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": predicate_type,
        "subject": [{"name": "registry.example.com/app", "digest": {"sha256": "cd" * 32}}],
        "predicate": predicate,
    }
    return Evidence(
        "registry.example.com/app@sha256:" + "cd" * 32,
        Digest("sha256", "cd" * 32),
        attestations=(attestation(authority, statement),),
    )


def _scan_checks(tmp_path: Path, rel: str, rules: str, now: datetime) -> dict[str, Check]:
    doc = shared_json(rel)
    predicate = doc.get("predicate", doc)
    ptype = TRIVY_TYPE if "SchemaVersion" in predicate else VULN
    policy = _policy(tmp_path, VULN_POLICY.format(ptype=ptype, rules=rules))
    ev = _scan_evidence("scanner", ptype, predicate)
    checks = {c.id: c for c in evaluate(policy, ev, now=now)}
    assert checks["attestations.scan.present"].outcome is Outcome.PASS
    return checks


LATER = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("rel", "rules", "outcome", "found"),
    [
        (COSIGN_TEST, "        maxSeverity: CRITICAL", Outcome.FAIL, "scanner.result is null"),
        (SPEC, "        maxSeverity: HIGH", Outcome.PASS, "2 findings, worst HIGH"),
        (SPEC, "        maxSeverity: MEDIUM", Outcome.FAIL, "HIGH CVE-2021-28831 in busybox, ssl_client"),
        (TRIVY_DOC, "        maxSeverity: HIGH", Outcome.FAIL, "CRITICAL CVE-2021-36159 in apk-tools"),
        (TRIVY_DOC, "        maxSeverity: HIGH\n        ignoreIds: [CVE-2021-36159]", Outcome.PASS, ""),
        (ALPINE, "        maxSeverity: HIGH", Outcome.FAIL, "CRITICAL CVE-2019-14697 in musl, musl-utils"),
        (ALPINE, "        maxSeverity: HIGH\n        ignoreIds: [CVE-2019-14697]", Outcome.PASS, "worst MEDIUM"),
        (UBI7, "        maxSeverity: MEDIUM", Outcome.FAIL, "HIGH CVE-2022-40897 in setuptools (fixed in 65.5.1)"),
        (UBI7, "        maxSeverity: UNKNOWN\n        ignoreIds: [CVE-2022-40897]", Outcome.FAIL, "LOW CVE-2019-18276"),
        (
            UBI7,
            "        maxSeverity: UNKNOWN\n        ignoreIds: [CVE-2022-40897]\n        ignoreUnfixed: true",
            Outcome.PASS,
            "no findings",
        ),
        (UBUNTU, "        maxSeverity: LOW\n        ignoreUnfixed: true", Outcome.FAIL, "MEDIUM CVE-2019-5094"),
        (GOMOD, "        maxSeverity: MEDIUM", Outcome.PASS, "worst MEDIUM"),
        (GOMOD, "        maxSeverity: UNKNOWN", Outcome.FAIL, "MEDIUM CVE-2022-23628"),
        (
            NPM_SUPPRESSED,
            "        maxSeverity: UNKNOWN\n        ignoreIds: [CVE-2017-20165]",
            Outcome.PASS,
            "no findings",
        ),
        (DOCKERFILE, "        maxSeverity: UNKNOWN", Outcome.PASS, "no findings"),
    ],
)
def test_max_severity_over_upstream_scans(tmp_path: Path, rel: str, rules: str, outcome: Outcome, found: str) -> None:
    check = _scan_checks(tmp_path, rel, rules, LATER)["vulnerabilities.maxSeverity"]
    assert check.outcome is outcome, check
    assert found in (check.found or "")


@pytest.mark.parametrize(
    ("rel", "max_age", "now", "outcome"),
    [
        # cosign's CUE window: the scan (finished 2022-04-12T00:10Z) is fresh a day later, not a month later
        (COSIGN_TEST, "168h", datetime(2022, 4, 13, tzinfo=UTC), Outcome.PASS),
        (COSIGN_TEST, "168h", datetime(2022, 5, 13, tzinfo=UTC), Outcome.FAIL),
        # +09:00 offset: 17:14:04+09:00 is 08:14:04Z, so 46 minutes before 09:00Z
        (TRIVY_DOC, "1h", datetime(2022, 7, 24, 9, 0, tzinfo=UTC), Outcome.PASS),
        (TRIVY_DOC, "30m", datetime(2022, 7, 24, 9, 0, tzinfo=UTC), Outcome.FAIL),
        # raw Trivy report: CreatedAt with nanoseconds
        (ALPINE, "1h", datetime(2021, 8, 25, 12, 50, tzinfo=UTC), Outcome.PASS),
        (ALPINE, "1h", datetime(2021, 8, 25, 14, 0, tzinfo=UTC), Outcome.FAIL),
        # a scan "from the future" is not fresh
        (ALPINE, "1h", datetime(2021, 8, 25, 11, 0, tzinfo=UTC), Outcome.FAIL),
    ],
)
def test_scan_max_age(tmp_path: Path, rel: str, max_age: str, now: datetime, outcome: Outcome) -> None:
    rules = f"        maxAge: {max_age}"
    assert _scan_checks(tmp_path, rel, rules, now)["vulnerabilities.maxAge"].outcome is outcome


def test_shipped_vulnerability_gate(tmp_path: Path) -> None:
    from tests.support.env import ROOT

    text = (ROOT / "policies" / "vulnerability-gate.yaml").read_text()
    policy = load_policies([write_policy(tmp_path, text, keys=("cosign.pub",))]).policies[0]
    doc = shared_json(TRIVY_DOC)
    ev = _scan_evidence("scanner-key", VULN, doc)
    checks = evaluate(policy, ev, now=datetime(2022, 7, 25, tzinfo=UTC))
    assert _failing(checks) == {"vulnerabilities.maxSeverity"}
