"""`slsacheck promote` on the real registry: verify, then copy with every piece of evidence.

A signed, attested two-platform index in `staging/app` goes to `prod/app`, to a second
repository on the same registry (blobs mounted) and to an `oci:` layout; every destination
verifies with the same policy and resolves to the source digest; a second run sends
nothing. An image that fails the policy is refused and nothing appears anywhere. A
destination the policy does not cover gets the content but never the tag. The source tag
is resolved once: the copy is by digest.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slsacheck.errors import NotFound
from slsacheck.models.digest import Digest
from slsacheck.oci.layout import LayoutStore
from slsacheck.oci.registry import RegistryStore
from slsacheck.policy.load import load_policies
from slsacheck.promote import promote
from tests.integration.test_promote_helpers import (
    Keys,
    check_verdicts,
    judge,
    keys,
    policy_file,
    signed_index,
    signer,
    valid_record,
)
from tests.support.cli import Cli, cli
from tests.support.proxy import run_proxy
from tests.support.registry import RunningRegistry

__all__ = ["cli", "keys"]  # fixtures, imported so pytest finds them here

pytestmark = pytest.mark.integration


def _no_repository(store: RegistryStore) -> None:
    with pytest.raises(NotFound):
        list(store.tags())


def test_promote_index_to_two_repositories_and_a_layout_then_nothing_resent(
    cli: Cli, keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    built = signed_index(reg, f"{repo_name}/staging/app", "v1", keys.release)
    layout = tmp_path / "handover"
    policy = policy_file(tmp_path, [f"{reg.host}/{repo_name}/**", f"oci:{tmp_path}/**"], keys.release_pub)
    src = f"{reg.host}/{repo_name}/staging/app:v1"
    prod = f"{reg.host}/{repo_name}/prod/app"
    mirror = f"{reg.host}/{repo_name}/mirror/app:stable"
    record_path = tmp_path / "record.json"

    run = cli("promote", src, prod, mirror, f"oci:{layout}", "--policy", str(policy), "--record", str(record_path),
              "--output", "json")
    assert run.code == 0, run.out + run.err
    doc = run.json()
    assert json.loads(record_path.read_text()) == doc
    valid_record(doc)
    check_verdicts(doc)
    assert doc["outcome"] == "promoted"
    assert doc["source"]["digest"] == str(built.digest) and doc["source"]["verdict"]["outcome"] == "pass"
    by_image = {d["image"]: d for d in doc["destinations"]}
    assert by_image[prod]["tags"] == ["v1"] and by_image[mirror]["tags"] == ["stable"]
    for d in doc["destinations"]:
        assert d["outcome"] == "promoted" and d["digestMatches"] is True and d["digest"] == str(built.digest)
        assert d["verdict"]["outcome"] == "pass" and d["verdict"]["digest"] == str(built.digest)
        assert not d["copied"]["sentNothing"]
        kinds = {(e["kind"], e["action"]) for e in d["copied"]["evidence"]}
        assert {("signatures", "copied"), ("attestations", "copied"), ("referrer", "copied")} <= kinds
        # Three manifests (index and two images) signed, so three .sig manifests.
        assert sum(1 for e in d["copied"]["evidence"] if e["kind"] == "signatures") == 3
    # Same registry: the second repository's blobs were mounted, not uploaded.
    image = by_image[mirror]["copied"]["image"]
    assert image["blobsMounted"] and not image["blobsCopied"]
    # Distribution 2.8 has no referrers API: the fallback index lists them; a layout needs none.
    assert all(e["listedInFallbackIndex"] for e in by_image[prod]["copied"]["evidence"] if e["kind"] == "referrer")
    assert not any(e["listedInFallbackIndex"] for e in by_image[f"oci:{layout}"]["copied"]["evidence"]
                   if e["kind"] == "referrer")

    for dst in (f"{prod}:v1", mirror, f"oci:{layout}:v1"):
        verdict = judge(dst, policy, reg.options)
        assert verdict.outcome == "pass", verdict.to_json()
        assert verdict.digest == str(built.digest)
        evidence = verdict.to_json()["evidence"]
        # Both places hold evidence at the destination: the .sig/.att tags and the bundles.
        assert len(evidence["signatures"]["verified"]) == 2 and len(evidence["attestations"]["verified"]) == 2
    store = reg.store(f"{repo_name}/prod/app")
    referrers = store.referrers(built.digest)
    assert len(referrers) == 2 and len({r.digest for r in referrers}) == 2  # signature and attestation bundles
    assert LayoutStore(layout).resolve("v1").digest == built.digest

    again = cli("promote", src, prod, mirror, f"oci:{layout}", "--policy", str(policy), "--output", "json")
    assert again.code == 0, again.out + again.err
    second = again.json()
    valid_record(second)
    for d in second["destinations"]:
        assert d["copied"]["sentNothing"], d["copied"]
        assert d["copied"]["image"]["manifestsCopied"] == [] and d["copied"]["image"]["blobsCopied"] == []
        assert {e["action"] for e in d["copied"]["evidence"]} == {"present"}
        assert {t["action"] for t in d["copied"]["tags"]} == {"present"}
    # The fallback index kept one entry per referrer: merging twice adds nothing.
    assert len(store.fetch_manifest(built.digest.tag_form).children) == 2


def test_dry_run_says_what_would_be_copied_and_writes_nothing(
    cli: Cli, keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    built = signed_index(reg, f"{repo_name}/staging/app", "v2", keys.release)
    policy = policy_file(tmp_path, [f"{reg.host}/{repo_name}/**", f"oci:{tmp_path}/**"], keys.release_pub)
    layout = tmp_path / "planned"
    run = cli("promote", f"{reg.host}/{repo_name}/staging/app:v2", f"{reg.host}/{repo_name}/prod/app",
              f"oci:{layout}", "--policy", str(policy), "--dry-run")
    assert run.code == 0, run.out + run.err
    assert "would promote" in run.out and "to copy" in run.out and "tag v2: to set" in run.out
    assert "result: planned" in run.out
    _no_repository(reg.store(f"{repo_name}/prod/app"))
    assert not layout.exists()

    as_json = cli("promote", f"{reg.host}/{repo_name}/staging/app:v2", f"{reg.host}/{repo_name}/prod/app",
                  "--policy", str(policy), "--dry-run", "--output", "json").json()
    valid_record(as_json)
    planned = as_json["destinations"][0]
    assert planned["outcome"] == "planned" and planned["verdict"] is None
    assert str(built.digest) in planned["copied"]["image"]["manifestsCopied"]
    assert planned["copied"]["image"]["dryRun"] is True
    _no_repository(reg.store(f"{repo_name}/prod/app"))


def test_failing_image_is_refused_and_nothing_appears(
    cli: Cli, keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    from slsacheck.oci import scratch

    scratch.push(reg.store(f"{repo_name}/staging/app"), scratch.image({"unsigned": b"1"}), tag="v1")
    policy = policy_file(tmp_path, [f"{reg.host}/{repo_name}/**", f"oci:{tmp_path}/**"], keys.release_pub)
    layout = tmp_path / "never"
    record_path = tmp_path / "refused.json"
    run = cli("promote", f"{reg.host}/{repo_name}/staging/app:v1", f"{reg.host}/{repo_name}/prod/app",
              f"oci:{layout}", "--policy", str(policy), "--record", str(record_path))
    assert run.code == 1, run.out + run.err
    assert "FAIL" in run.out and "signatures.threshold" in run.out
    assert "refused" in run.out and "nothing was copied" in run.out
    _no_repository(reg.store(f"{repo_name}/prod/app"))
    assert not layout.exists()
    doc = json.loads(record_path.read_text())
    valid_record(doc)
    assert doc["outcome"] == "refused" and doc["destinations"] == []
    assert doc["source"]["verdict"]["outcome"] == "fail"


def test_signed_but_not_attested_is_refused(
    cli: Cli, keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    signed_index(reg, f"{repo_name}/staging/app", "v1", keys.release, attest=False)
    policy = policy_file(tmp_path, [f"{reg.host}/{repo_name}/**"], keys.release_pub)
    run = cli("promote", f"{reg.host}/{repo_name}/staging/app:v1", f"{reg.host}/{repo_name}/prod/app",
              "--policy", str(policy), "--output", "json")
    assert run.code == 1
    failed = {c["id"] for c in run.json()["source"]["verdict"]["checks"] if c["outcome"] == "fail"}
    assert failed == {"attestations.provenance.present"}
    _no_repository(reg.store(f"{repo_name}/prod/app"))


def test_destination_its_own_policy_refuses_gets_no_tag(
    cli: Cli, keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    built = signed_index(reg, f"{repo_name}/staging/app", "v1", keys.release)
    staging = policy_file(tmp_path, [f"{reg.host}/{repo_name}/staging/**"], keys.release_pub, name="staging")
    # The place asks for more than the source's policy: a signature by another key.
    strict = policy_file(tmp_path, [f"{reg.host}/{repo_name}/elsewhere/**"], keys.other_pub, name="strict",
                         attest=False)
    run = cli("promote", f"{reg.host}/{repo_name}/staging/app:v1", f"{reg.host}/{repo_name}/prod/app",
              f"{reg.host}/{repo_name}/elsewhere/app", "--policy", str(staging), "--policy", str(strict),
              "--output", "json")
    assert run.code == 1, run.out + run.err
    doc = run.json()
    valid_record(doc)
    assert doc["outcome"] == "partial"
    by_name = {d["name"]: d for d in doc["destinations"]}
    prod = by_name[f"{reg.host}/{repo_name}/prod/app"]
    assert prod["outcome"] == "promoted" and prod["judgedBy"] == [{"policy": "staging", "matches": ["source"]}]
    elsewhere = by_name[f"{reg.host}/{repo_name}/elsewhere/app"]
    assert elsewhere["outcome"] == "failed" and elsewhere["verdict"]["outcome"] == "fail"
    assert elsewhere["judgedBy"] == [{"policy": "staging", "matches": ["source"]},
                                     {"policy": "strict", "matches": ["destination"]}]
    failed = {(c["policy"], c["id"]) for c in elsewhere["verdict"]["checks"] if c["outcome"] == "fail"}
    assert failed == {("strict", "signatures.threshold")}
    assert elsewhere["copied"]["tags"] == [] and elsewhere["tagsWithheld"] is True
    assert elsewhere["verificationResult"] == "FAILED"
    store = reg.store(f"{repo_name}/elsewhere/app")
    assert "v1" not in set(store.tags())
    assert store.resolve(str(built.digest)).digest == built.digest  # content there, untagged


def test_source_tag_is_resolved_once_and_copied_by_digest(
    keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    built = signed_index(reg, f"{repo_name}/staging/app", "v1", keys.release)
    with run_proxy(reg.host) as proxy:
        policy = policy_file(tmp_path, [f"{proxy.host}/{repo_name}/**", f"{reg.host}/{repo_name}/**"],
                             keys.release_pub)
        record = promote(f"{proxy.host}/{repo_name}/staging/app:v1", [f"{reg.host}/{repo_name}/prod/app"],
                         load_policies([policy]), policy_files=[policy], options=reg.options)
        asked_by_tag = proxy.count("GET", "/manifests/v1") + proxy.count("HEAD", "/manifests/v1")
    assert record.outcome == "promoted", record.to_json()
    assert asked_by_tag == 1
    assert reg.store(f"{repo_name}/prod/app").resolve("v1").digest == built.digest


def test_destination_naming_a_digest_is_refused_before_anything(
    cli: Cli, keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    policy = policy_file(tmp_path, [f"{reg.host}/{repo_name}/**"], keys.release_pub)
    digest = Digest.of(b"x")
    run = cli("promote", f"{reg.host}/{repo_name}/staging/app:v1", f"{reg.host}/{repo_name}/prod/app@{digest}",
              "--policy", str(policy))
    assert run.code == 2
    assert "names a digest" in run.err
    missing = cli("promote", f"{reg.host}/{repo_name}/staging/app:v1", f"{reg.host}/{repo_name}/prod/app",
                  "--policy", str(policy), "--attest-record")
    assert missing.code == 2 and "--attest-record needs --key" in missing.err



def test_moving_a_tag_records_what_it_named_and_a_dry_run_plans_the_merge(
    cli: Cli, keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    first = signed_index(reg, f"{repo_name}/staging/app", "v1", keys.release)
    second = signed_index(reg, f"{repo_name}/staging/app", "v2", keys.release)
    policy = policy_file(tmp_path, [f"{reg.host}/{repo_name}/**"], keys.release_pub)
    prod = f"{reg.host}/{repo_name}/prod/app:stable"
    assert cli("promote", f"{reg.host}/{repo_name}/staging/app:v1", prod, "--policy", str(policy)).code == 0
    # Another signer adds a signature for the second image at the destination meanwhile.
    from slsacheck.attach.sign import sign_image
    from slsacheck.oci.copy import copy

    store = reg.store(f"{repo_name}/prod/app")
    copy(reg.store(f"{repo_name}/staging/app"), store, str(second.digest))
    sign_image(store, reg.ref(f"{repo_name}/prod/app").with_digest(second.digest), signer(keys.other),
               fmt="legacy")
    before = store.fetch_manifest(f"{second.digest.tag_form}.sig").digest

    plan = cli("promote", f"{reg.host}/{repo_name}/staging/app:v2", prod, "--policy", str(policy), "--dry-run",
               "--output", "json")
    assert plan.code == 0, plan.out + plan.err
    planned = plan.json()["destinations"][0]["copied"]
    top_sig = next(e for e in planned["evidence"] if e["reference"] == f"{second.digest.tag_form}.sig")
    assert top_sig["action"] == "merged" and top_sig["layersAdded"] == 1
    assert planned["tags"] == [{"tag": "stable", "action": "set", "previous": str(first.digest)}]
    assert store.resolve("stable").digest == first.digest  # the dry run moved nothing
    assert store.fetch_manifest(f"{second.digest.tag_form}.sig").digest == before

    run = cli("promote", f"{reg.host}/{repo_name}/staging/app:v2", prod, "--policy", str(policy), "--output", "json")
    assert run.code == 0, run.out + run.err
    assert run.json()["destinations"][0]["copied"]["tags"] == [
        {"tag": "stable", "action": "set", "previous": str(first.digest)}
    ]
    assert store.resolve("stable").digest == second.digest
    assert len(store.fetch_manifest(f"{second.digest.tag_form}.sig").layers) == 2
