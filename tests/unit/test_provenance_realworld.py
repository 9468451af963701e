"""`provenance validate` accepts provenance as real builders write it, the same documents
`verify --policy` accepts: SLSA v0.2 from slsa-github-generator (in-toto-golang's
`buildInvocationID`), Tekton Chains via Conforma, npm (sigstore-js) v0.2 and v1 statements
from real Sigstore bundles. A tolerance is a spelling, never a looser shape."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from slsacheck.models.digest import Digest
from slsacheck.models.evidence import Evidence
from slsacheck.models.verdict import Outcome
from slsacheck.policy.evaluate import evaluate
from slsacheck.policy.load import load_policies
from slsacheck.provenance.validate import InvalidProvenance, check, validate_file
from tests.support.env import shared_file
from tests.support.policy_evidence import (
    CONFORMA_ENVELOPE,
    SLSA_VERIFIER_ENVELOPE,
    attestation,
    dsse_statement,
    keyless_signer,
    write_policy,
)

GO = ("realworld", "sigstore__sigstore-go")
BUNDLES = ("pkg", "testing", "data", "bundles")


def _bundle_statement(*rel: str) -> dict[str, Any]:
    bundle = json.loads(shared_file(*GO, *rel).read_text())
    statement: dict[str, Any] = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    return statement


STATEMENTS = {
    "slsa-github-generator v0.2 (buildInvocationID)": lambda: dsse_statement(SLSA_VERIFIER_ENVELOPE),
    "tekton chains v0.2 (Conforma)": lambda: dsse_statement(CONFORMA_ENVELOPE),
    "npm v1": lambda: _bundle_statement(*BUNDLES, "sigstore.js@2.0.0-provenance.sigstore.json"),
    "npm v0.2 (dsse bundle)": lambda: _bundle_statement(*BUNDLES, "dsse.sigstore.json"),
    "npm v0.2 (bundle-provenance)": lambda: _bundle_statement("examples", "bundle-provenance.json"),
    "npm v0.2 (statement file)": lambda: json.loads(
        shared_file(*GO, "examples", "statement-provenance-sigstorejs1.3.0.json").read_text()
    ),
}


@pytest.mark.parametrize("name", list(STATEMENTS))
def test_real_provenance_validates(tmp_path: Path, name: str) -> None:
    statement = STATEMENTS[name]()
    assert check(statement) == []
    path = tmp_path / "statement.json"
    path.write_text(json.dumps(statement, indent=2))
    assert validate_file(path) == statement


POLICY = """\
apiVersion: slsacheck.dev/v1alpha1
kind: ImagePolicy
metadata: {name: agree}
spec:
  images: {include: ["**"]}
  authorities:
    - name: ci
      keyless:
        trustedRoot: trust/trusted_root.json
        identities: [{issuer: issuer, subject: ci}]
  attestations:
    - name: provenance
      predicateType: https://slsa.dev/provenance/v0.2
      authorities: [ci]
      provenance:
        builderIds: ["https://github.com/slsa-framework/slsa-github-generator/**"]
"""


def test_validate_and_verify_agree_on_the_generator_spelling(tmp_path: Path) -> None:
    statement = dsse_statement(SLSA_VERIFIER_ENVELOPE)
    assert "buildInvocationID" in statement["predicate"]["metadata"]
    policy = load_policies([write_policy(tmp_path, POLICY)]).policies[0]
    digest = Digest("sha256", statement["subject"][0]["digest"]["sha256"])
    signed = attestation("ci", statement, signer=keyless_signer("ci", "issuer"))
    evidence = Evidence(f"ghcr.io/x@{digest}", digest, attestations=(signed,))
    outcomes = {c.id: c.outcome for c in evaluate(policy, evidence, now=datetime.now(UTC))}
    assert outcomes["attestations.provenance.present"] is Outcome.PASS
    assert outcomes["provenance.builderIds"] is Outcome.PASS
    assert check(statement) == []


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda m: m.update(buildInvocationID=13531731005), "buildInvocationID"),  # a number, not text
        (lambda m: m.update(build_invocation_id="x"), "build_invocation_id"),  # nobody's spelling
        (lambda m: m.update(buildinvocationid="x"), "buildinvocationid"),
        (lambda m: m.update(reproducible="no"), "reproducible"),
    ],
)
def test_tolerance_is_a_spelling_not_a_looser_shape(tmp_path: Path, edit: Any, where: str) -> None:
    statement = copy.deepcopy(dsse_statement(SLSA_VERIFIER_ENVELOPE))
    edit(statement["predicate"]["metadata"])
    problems = check(statement)
    assert problems and all(p.path[:2] == ("predicate", "metadata") for p in problems)
    assert any(where in p.message or where in map(str, p.path) for p in problems)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(statement))
    with pytest.raises(InvalidProvenance, match="predicate/metadata"):
        validate_file(path)
