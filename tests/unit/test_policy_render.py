"""Verdicts rendered as text and JSON (validated by schemas/verdict.schema.json), and the
shipped policies judging synthetic evidence."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from slsacheck.models.verdict import Check, Outcome, Verdict
from slsacheck.models.verdict_render import checks_table as render_text
from slsacheck.models.verdict_render import render_json
from slsacheck.policy.evaluate import evaluate, no_match_verdict, verdict
from slsacheck.policy.load import load_policies
from tests.support.env import ROOT
from tests.support.policy_evidence import (
    DIGEST,
    IMAGE,
    NOW,
    attestation,
    evidence,
    keyless_signer,
    signature,
    tekton_v1_statement,
    write_policy,
)


def _schema() -> Draft202012Validator:
    schema = json.loads((ROOT / "schemas" / "verdict.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _shipped(tmp_path: Path, name: str) -> Path:
    shutil.copy(ROOT / "policies" / name, tmp_path / name)
    write_policy(tmp_path, "", name="unused", keys=("cosign.pub",), roots=("trusted_root.json",))
    return tmp_path / name


def _tekton_statement() -> dict[str, Any]:
    """The passing Tekton statement, moved to the shipped policy's placeholder org and registries."""
    s = tekton_v1_statement()
    bd = s["predicate"]["buildDefinition"]
    for dep in bd["resolvedDependencies"]:
        dep["uri"] = (
            dep["uri"]
            .replace("github.com/acme", "github.com/example-org")
            .replace("oci://gcr.io/", "oci://gcr.io/tekton-releases/")
        )
    for bp in s["predicate"]["runDetails"]["byproducts"]:
        if bp["name"].endswith("CHAINS-GIT_URL"):
            bp["content"] = base64.b64encode(b'"https://github.com/example-org/app"').decode()
    return s


def test_shipped_tekton_policy_passes_and_fails(tmp_path: Path) -> None:
    policy = load_policies([_shipped(tmp_path, "tekton-slsa3.yaml")]).policies[0]
    ev = evidence(
        signatures=[signature("tekton-chains", keyless_signer())],
        attestations=[attestation("tekton-chains", _tekton_statement(), signer=keyless_signer())],
    )
    checks = evaluate(policy, ev, now=NOW)
    assert [c.id for c in checks if c.outcome is not Outcome.PASS] == []
    v = verdict(ev.image, ev.digest, [policy], checks)
    assert v.passed
    _schema().validate(v.to_json())

    untouched = tekton_v1_statement()  # acme sources and gcr.io/test* step images: not this policy's
    ev = evidence(
        signatures=[signature("tekton-chains", keyless_signer())],
        attestations=[attestation("tekton-chains", untouched, signer=keyless_signer())],
    )
    failed = {c.id for c in evaluate(policy, ev, now=NOW) if c.outcome is Outcome.FAIL}
    assert failed == {"provenance.source.repositories", "provenance.stepImages"}


def test_shipped_key_signed_only(tmp_path: Path) -> None:
    policy = load_policies([_shipped(tmp_path, "key-signed-only.yaml")]).policies[0]
    assert [c.outcome for c in evaluate(policy, evidence(signatures=[signature("release-key")]), now=NOW)] == [
        Outcome.PASS
    ]
    checks = evaluate(policy, evidence(signatures=[signature("someone-else")]), now=NOW)
    assert [(c.id, c.outcome) for c in checks] == [("signatures.threshold", Outcome.FAIL)]


def test_text_rendering_shows_failures_with_expected_found_hint() -> None:
    v = Verdict(
        IMAGE,
        str(DIGEST),
        ["p"],
        [
            Check("signatures.threshold", Outcome.PASS, policy="p", expected="e", found="f"),
            Check(
                "provenance.builderIds",
                Outcome.FAIL,
                policy="p",
                expected="builder X",
                found="builder Y",
                hint="rebuild on X",
            ),
            Check("provenance.stepImages", Outcome.SKIP, policy="p", message="exempted until 2027-03-31: legacy"),
        ],
    )
    text = render_text(v)
    assert "verdict:  FAIL" in text
    assert "FAIL  provenance.builderIds" in text and "expected: builder X" in text and "hint: rebuild on X" in text
    assert "exempted until 2027-03-31" in text
    assert "expected: e" not in text  # passing checks stay one line
    assert "1 passed, 1 failed, 0 warnings, 1 skipped" in text


@pytest.mark.parametrize(
    "v",
    [
        no_match_verdict("registry.other.com/x:1", None, "deny"),
        Verdict(
            "img",
            str(DIGEST),
            ["p"],
            [Check("verification.complete", Outcome.FAIL, policy="p", found="x")],
            incomplete=["registry down"],
        ),
        Verdict("img", str(DIGEST), ["p"], [Check("attestations.provenance.conditions[0]", Outcome.WARN, message="m")]),
    ],
)
def test_json_rendering_is_schema_valid(v: Verdict) -> None:
    doc = json.loads(render_json([v]))
    _schema().validate(doc)
    assert doc["outcome"] == v.outcome


def test_verdict_schema_refuses_what_is_not_a_verdict() -> None:
    validator = _schema()
    good = Verdict("img", str(DIGEST), ["p"], [Check("signatures.threshold", Outcome.PASS)]).to_json()
    assert validator.is_valid(good)
    for bad in (
        {**good, "outcome": "maybe"},
        {**good, "digest": "sha256:short"},
        {**good, "checks": [{"id": "x", "outcome": "ok"}]},
        {**good, "extra": 1},
    ):
        assert not validator.is_valid(bad)
    assert "error" in render_text(Verdict("img", None, [], [], incomplete=["x"])).lower()
