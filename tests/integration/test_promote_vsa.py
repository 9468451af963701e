"""The promotion's signed verification summary (SLSA VSA v1) at each destination.

With `--attest-record --key KEY`, each destination gets an attestation of predicate type
`https://slsa.dev/verification_summary/v1` about the promoted digest, signed by KEY,
found both in `.att` and as a bundle referrer. Its fields say who verified what against
which policy (URI and content digest), from which attestations, with which result; a
SLSA level appears only when the policy declares it. A destination that fails gets a
FAILED summary and no tag. The level rules are also checked without a registry.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from slsacheck.attach import cosign_tags as ct
from slsacheck.errors import PolicyError
from slsacheck.models.verdict import Check, Outcome, Verdict
from slsacheck.oci.layout import LayoutStore
from slsacheck.oci.store import Store
from slsacheck.policy.load import load_policies
from slsacheck.promote.vsa import LEVELS_ANNOTATION, VERIFIER_ID, VSA_PREDICATE_TYPE, declared_levels, verified_levels
from slsacheck.verify.collect import collect_evidence
from tests.integration.test_promote_helpers import (
    Keys,
    keys,
    policy_file,
    signed_index,
    valid_record,
)
from tests.support.cli import Cli, cli
from tests.support.registry import RunningRegistry

__all__ = ["cli", "keys"]  # fixtures, imported so pytest finds them here

LEVEL3 = {LEVELS_ANNOTATION: "SLSA_BUILD_LEVEL_3"}


def _summaries(store: Store, digest_text: str, name: str, policy: Path) -> list[dict[str, Any]]:
    """Every VSA statement at `store` that verifies with the policy's authorities."""
    from slsacheck.models.digest import Digest

    authorities = load_policies([policy]).policies[0].authorities
    evidence = collect_evidence(store, Digest.parse(digest_text), name, authorities)
    return [dict(a.statement) for a in evidence.attestations if a.predicate_type == VSA_PREDICATE_TYPE]


@pytest.mark.integration
def test_signed_summary_at_every_destination_names_policy_inputs_and_level(
    cli: Cli, keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    built = signed_index(reg, f"{repo_name}/staging/app", "v1", keys.release)
    policy = policy_file(tmp_path, [f"{reg.host}/{repo_name}/**", f"oci:{tmp_path}/**"], keys.release_pub,
                         annotations=LEVEL3)
    layout = tmp_path / "handover"
    prod = f"{reg.host}/{repo_name}/prod/app"
    run = cli("promote", f"{reg.host}/{repo_name}/staging/app:v1", prod, f"oci:{layout}", "--policy", str(policy),
              "--attest-record", "--key", str(keys.release), "--output", "json")
    assert run.code == 0, run.out + run.err
    doc = run.json()
    valid_record(doc)
    policy_digest = load_policies([policy]).digest()
    stores: dict[str, Store] = {prod: reg.store(f"{repo_name}/prod/app"), f"oci:{layout}": LayoutStore(layout)}
    for d in doc["destinations"]:
        assert d["vsa"]["verificationResult"] == "PASSED" and d["vsa"]["verifiedLevels"] == ["SLSA_BUILD_LEVEL_3"]
        store = stores[d["name"]]
        # The summary is one more layer of the .att manifest (the copied attestation kept).
        assert len(store.fetch_manifest(ct.attestation_tag(built.digest)).layers) == 2
        summaries = _summaries(store, str(built.digest), d["name"], policy)
        assert len(summaries) == 2  # in .att and as a bundle referrer, one signing
        statement = summaries[0]
        assert statement["subject"][0]["name"] == d["name"]
        assert statement["subject"][0]["digest"] == {"sha256": built.digest.hex}
        vsa = statement["predicate"]
        assert vsa["verifier"]["id"] == VERIFIER_ID
        datetime.strptime(vsa["timeVerified"], "%Y-%m-%dT%H:%M:%SZ")
        assert vsa["resourceUri"] == f"{d['name']}@{built.digest}"
        assert vsa["policy"] == {"uri": policy.resolve().as_uri(), "digest": {"sha256": policy_digest[7:]}}
        assert vsa["verificationResult"] == "PASSED" and vsa["verifiedLevels"] == ["SLSA_BUILD_LEVEL_3"]
        # The inputs are the two attestations that verified at the destination (.att layer, bundle).
        inputs = vsa["inputAttestations"]
        assert len(inputs) == 2 and all(i["uri"].startswith(d["name"]) for i in inputs)
        att_layers = {layer.digest.hex for layer in store.fetch_manifest(ct.attestation_tag(built.digest)).layers}
        assert any(i["digest"]["sha256"] in att_layers for i in inputs)


@pytest.mark.integration
def test_summary_without_a_declared_level_and_another_key_does_not_verify_it(
    cli: Cli, keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    built = signed_index(reg, f"{repo_name}/staging/app", "v1", keys.release)
    policy = policy_file(tmp_path, [f"{reg.host}/{repo_name}/**"], keys.release_pub)
    other = policy_file(tmp_path, [f"{reg.host}/{repo_name}/**"], keys.other_pub, name="other")
    prod = f"{reg.host}/{repo_name}/prod/app"
    run = cli("promote", f"{reg.host}/{repo_name}/staging/app:v1", prod, "--policy", str(policy),
              "--attest-record", "--key", str(keys.release), "--output", "json")
    assert run.code == 0, run.out + run.err
    store = reg.store(f"{repo_name}/prod/app")
    summaries = _summaries(store, str(built.digest), prod, policy)
    assert summaries and summaries[0]["predicate"]["verifiedLevels"] == []
    assert _summaries(store, str(built.digest), prod, other) == []


@pytest.mark.integration
def test_failing_destination_gets_a_failed_summary_and_no_tag(
    cli: Cli, keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    built = signed_index(reg, f"{repo_name}/staging/app", "v1", keys.release)
    policy = policy_file(tmp_path, [f"{reg.host}/{repo_name}/staging/**"], keys.release_pub, annotations=LEVEL3)
    strict = policy_file(tmp_path, [f"{reg.host}/{repo_name}/uncovered/**"], keys.other_pub, name="strict",
                         annotations=LEVEL3)
    dst = f"{reg.host}/{repo_name}/uncovered/app"
    run = cli("promote", f"{reg.host}/{repo_name}/staging/app:v1", dst, "--policy", str(policy),
              "--policy", str(strict), "--attest-record", "--key", str(keys.release), "--output", "json")
    assert run.code == 1, run.out + run.err
    d = run.json()["destinations"][0]
    assert d["outcome"] == "failed" and d["vsa"]["verificationResult"] == "FAILED"
    assert d["vsa"]["verifiedLevels"] == []
    store = reg.store(f"{repo_name}/uncovered/app")
    assert "v1" not in set(store.tags())
    layers = store.fetch_manifest(ct.attestation_tag(built.digest)).layers
    assert any(layer.annotations.get("predicateType") == VSA_PREDICATE_TYPE for layer in layers)


@pytest.mark.integration
def test_wrong_key_password_stops_before_anything_is_copied(
    cli: Cli, keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    signed_index(reg, f"{repo_name}/staging/app", "v1", keys.release)
    policy = policy_file(tmp_path, [f"{reg.host}/{repo_name}/**"], keys.release_pub)
    (tmp_path / "password").write_text("not-the-password")
    run = cli("promote", f"{reg.host}/{repo_name}/staging/app:v1", f"{reg.host}/{repo_name}/prod/app",
              "--policy", str(policy), "--attest-record", "--key", str(keys.release),
              "--password-file", str(tmp_path / "password"))
    assert run.code == 2, run.out + run.err
    assert str(keys.release) in run.err and "not-the-password" not in run.err
    assert _tags_or_none(reg, f"{repo_name}/prod/app") == []


def _tags_or_none(reg: RunningRegistry, repo: str) -> list[str]:
    from slsacheck.errors import NotFound

    try:
        return list(reg.store(repo).tags())
    except NotFound:
        return []


# -- the level rules, without a registry -----------------------------------------------------


def _policies(tmp_path: Path, *annotations: dict[str, str] | None) -> list[Any]:
    files = [policy_file(tmp_path, ["registry.example.com/**"], tmp_path / "k.pub", name=f"p{i}", annotations=a)
             for i, a in enumerate(annotations)]
    (tmp_path / "k.pub").write_bytes(_public_key())
    return list(load_policies(files).policies)


def _public_key() -> bytes:
    from slsacheck.signing.keys import generate_key_pair

    return generate_key_pair(b"")[1]


def _verdict(outcome: Outcome) -> Verdict:
    return Verdict("registry.example.com/app@sha256:" + "0" * 64, "sha256:" + "0" * 64, ("p0",),
                   (Check("signatures.threshold", outcome, "p0"),))


def test_levels_only_when_every_matching_policy_declares_them_and_the_verdict_passed(tmp_path: Path) -> None:
    both = _policies(tmp_path, LEVEL3, {LEVELS_ANNOTATION: "SLSA_BUILD_LEVEL_3, SLSA_SOURCE_LEVEL_2"})
    assert declared_levels(both[1]) == ("SLSA_BUILD_LEVEL_3", "SLSA_SOURCE_LEVEL_2")
    assert verified_levels(_verdict(Outcome.PASS), both) == ["SLSA_BUILD_LEVEL_3"]
    assert verified_levels(_verdict(Outcome.FAIL), both) == []
    (tmp_path / "silent").mkdir()
    one_silent = _policies(tmp_path / "silent", LEVEL3, None)
    assert verified_levels(_verdict(Outcome.PASS), one_silent) == []
    assert verified_levels(_verdict(Outcome.PASS), []) == []


def test_a_malformed_level_is_a_policy_error(tmp_path: Path) -> None:
    (policy,) = _policies(tmp_path, {LEVELS_ANNOTATION: "level three"})
    with pytest.raises(PolicyError, match=LEVELS_ANNOTATION):
        declared_levels(policy)


def test_record_of_a_refusal_is_valid_json_schema_wise() -> None:
    from datetime import UTC

    from slsacheck.promote.record import PromotionRecord

    now = datetime.now(UTC)
    record = PromotionRecord("registry.example.com/app:v1", None,
                             Verdict("registry.example.com/app:v1", None, incomplete=("registry down",)),
                             ("p.yaml",), "sha256:" + "1" * 64, now, now, False)
    doc = json.loads(json.dumps(record.to_json()))
    valid_record(doc)
    assert doc["outcome"] == "refused" and record.exit_code == 3
