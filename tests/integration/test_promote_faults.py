"""Promotion when the world is not clean: a connection that drops mid-copy, a destination
that already carries another signer's evidence, a registry behind htpasswd auth, and a
wrong credential.

The interruption test cuts the destination's connection after N requests, for growing N,
and after EVERY interrupted run checks that each tag the destination shows names a
manifest whose blobs and children are all there, and that the promoted tag appears only
at the end; the re-runs finish the job and the destination verifies.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from slsacheck.attach import cosign_tags as ct
from slsacheck.attach.sign import sign_image
from slsacheck.errors import NotFound
from slsacheck.oci.copy import copy
from slsacheck.oci.options import RegistryOptions
from slsacheck.oci.registry import RegistryStore
from slsacheck.policy.load import load_policies
from slsacheck.promote import promote
from tests.integration.test_promote_helpers import (
    Keys,
    complete,
    judge,
    keys,
    policy_file,
    signed_index,
    signer,
    valid_record,
)
from tests.support.cli import Cli, cli
from tests.support.proxy import Proxy, run_proxy
from tests.support.registry import RunningRegistry, basic_auth_entry, write_docker_config

__all__ = ["cli", "keys"]  # fixtures, imported so pytest finds them here

pytestmark = pytest.mark.integration


def _tags(store: RegistryStore) -> list[str]:
    try:
        return list(store.tags())
    except NotFound:
        return []


def _count_writes(proxy: Proxy, into: dict[str, int]) -> None:
    for seen in proxy.requests:
        if seen.method in into and seen.status is not None:
            into[seen.method] += 1


def test_interrupted_promotion_resumes_and_never_tags_an_incomplete_image(
    keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    built = signed_index(reg, f"{repo_name}/staging/app", "v1", keys.release)
    src = f"{reg.host}/{repo_name}/staging/app:v1"
    direct = reg.store(f"{repo_name}/prod/app")
    # No transport retries: every dropped request is an interruption, not a hiccup.
    options = RegistryOptions(retries=0, timeout=10)
    with run_proxy(reg.host) as proxy:
        policy = policy_file(tmp_path, [f"{reg.host}/{repo_name}/**", f"{proxy.host}/{repo_name}/**"],
                             keys.release_pub)
        policy_set = load_policies([policy])
        dst = f"{proxy.host}/{repo_name}/prod/app"
        interrupted = 0
        writes = {"POST": 0, "PUT": 0}  # answered uploads and manifest/blob PUTs, over every run
        for attempt in range(40):
            _count_writes(proxy, writes)
            proxy.clear()
            proxy.drop("", times=None, after=4 + 5 * attempt)
            record = promote(src, [dst], policy_set, options=options)
            for tag in _tags(direct):
                assert complete(direct, tag), f"tag {tag} names an incomplete manifest after run {attempt}"
            if record.outcome == "promoted":
                break
            result = record.destinations[0]
            assert result.outcome == "error" and result.exit_code == 3, result.to_json()
            assert "v1" not in _tags(direct), "the promoted tag appeared before the promotion finished"
            interrupted += 1
        else:
            pytest.fail("the promotion never completed")
        assert interrupted >= 5, "the drops should have cut the promotion at several points"
        _count_writes(proxy, writes)
        proxy.clear()
        again = promote(src, [dst], policy_set, options=options)
        assert again.destinations[0].sent_nothing, again.to_json()
        assert proxy.count("PUT") == proxy.count("POST") == proxy.count("PATCH") == 0
        # Re-runs re-send at most the one upload each interruption cut short: compare with
        # the same promotion, uninterrupted, to a fresh repository.
        clean = {"POST": 0, "PUT": 0}
        assert promote(src, [f"{dst}-clean"], policy_set, options=options).outcome == "promoted"
        _count_writes(proxy, clean)
        assert clean["POST"] > 0
        assert writes["POST"] <= clean["POST"] + interrupted and writes["PUT"] <= clean["PUT"] + interrupted
    assert direct.resolve("v1").digest == built.digest
    verdict = judge(f"{reg.host}/{repo_name}/prod/app:v1", policy, reg.options)
    assert verdict.outcome == "pass", verdict.to_json()
    assert len(direct.fetch_manifest(built.digest.tag_form).children) == 2  # no duplicate referrer entries


def test_existing_signatures_from_another_signer_survive_the_merge(
    cli: Cli, keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    built = signed_index(reg, f"{repo_name}/staging/app", "v1", keys.release)
    prod_repo = f"{repo_name}/prod/app"
    prod = reg.store(prod_repo)
    copy(reg.store(f"{repo_name}/staging/app"), prod, str(built.digest))
    # Someone else signed the same digest at the destination: a .sig layer and a bundle.
    sign_image(prod, reg.ref(prod_repo).with_digest(built.digest), signer(keys.other), fmt="both")
    theirs = prod.fetch_manifest(ct.signature_tag(built.digest))
    their_bundles = {d.digest for d in prod.referrers(built.digest)}
    assert len(theirs.layers) == 1 and len(their_bundles) == 1

    include = [f"{reg.host}/{repo_name}/**"]
    release = policy_file(tmp_path, include, keys.release_pub, name="release")
    other = policy_file(tmp_path, include, keys.other_pub, name="other", attest=False)
    run = cli("promote", f"{reg.host}/{repo_name}/staging/app:v1", f"{reg.host}/{prod_repo}",
              "--policy", str(release), "--output", "json")
    assert run.code == 0, run.out + run.err
    doc = run.json()
    valid_record(doc)
    top_sig = [e for e in doc["destinations"][0]["copied"]["evidence"]
               if e["kind"] == "signatures" and e["subject"] == str(built.digest)]
    assert top_sig == [{"kind": "signatures", "subject": str(built.digest), "reference":
                        ct.signature_tag(built.digest), "action": "merged", "layersAdded": 1}]

    merged = prod.fetch_manifest(ct.signature_tag(built.digest))
    assert len(merged.layers) == 2
    assert merged.json["layers"][0] == theirs.json["layers"][0]  # theirs kept as it was, first
    bundles = [d.digest for d in prod.referrers(built.digest)]
    assert len(bundles) == 3 and len(set(bundles)) == 3 and their_bundles <= set(bundles)
    for policy in (release, other):
        verdict = judge(f"{reg.host}/{prod_repo}:v1", policy, reg.options)
        assert verdict.outcome == "pass", verdict.to_json()
    for key in (keys.release_pub, keys.other_pub):
        verified = cli("verify", "--key", str(key), f"{reg.host}/{prod_repo}:v1")
        assert verified.code == 0, verified.out + verified.err

    again = cli("promote", f"{reg.host}/{repo_name}/staging/app:v1", f"{reg.host}/{prod_repo}",
                "--policy", str(release), "--output", "json")
    assert again.code == 0 and again.json()["destinations"][0]["copied"]["sentNothing"]
    assert len(prod.fetch_manifest(ct.signature_tag(built.digest)).layers) == 2


@pytest.fixture
def to_auth(registry_http: RunningRegistry, registry_auth: RunningRegistry) -> tuple[RunningRegistry, RunningRegistry]:
    """A plain-HTTP source registry and a TLS + htpasswd destination registry."""
    return registry_http, registry_auth


def test_destination_behind_htpasswd_auth_through_a_docker_config(
    cli: Cli, keys: Keys, to_auth: tuple[RunningRegistry, RunningRegistry], repo_name: str, tmp_path: Path
) -> None:
    registry_http, registry_auth = to_auth
    built = signed_index(registry_http, f"{repo_name}/staging/app", "v1", keys.release)
    policy = policy_file(tmp_path, [f"{registry_http.host}/{repo_name}/**", f"{registry_auth.host}/{repo_name}/**"],
                         keys.release_pub)
    assert registry_auth.ca_path is not None
    dst = f"{registry_auth.host}/{repo_name}/prod/app"
    run = cli("promote", f"{registry_http.host}/{repo_name}/staging/app:v1", dst, "--policy", str(policy),
              "--ca-bundle", str(registry_auth.ca_path), "--docker-config", str(registry_auth.docker_config))
    assert run.code == 0, run.out + run.err
    assert "result: promoted" in run.out
    verdict = judge(f"{dst}:v1", policy, registry_auth.options)
    assert verdict.outcome == "pass" and verdict.digest == str(built.digest)


def test_wrong_credential_names_the_registry_and_the_credential_source(
    cli: Cli, keys: Keys, to_auth: tuple[RunningRegistry, RunningRegistry], repo_name: str, tmp_path: Path
) -> None:
    registry_http, registry_auth = to_auth
    signed_index(registry_http, f"{repo_name}/staging/app", "v1", keys.release)
    policy = policy_file(tmp_path, [f"{registry_http.host}/{repo_name}/**", f"{registry_auth.host}/{repo_name}/**"],
                         keys.release_pub)
    assert registry_auth.ca_path is not None and registry_auth.username is not None
    wrong = "wrong-" + (registry_auth.password or "")[::-1]
    config = write_docker_config(tmp_path / "bad" / "config.json",
                                 {registry_auth.host: basic_auth_entry(registry_auth.username, wrong)})
    dst = f"{registry_auth.host}/{repo_name}/prod/app"
    run = cli("promote", f"{registry_http.host}/{repo_name}/staging/app:v1", dst, "--policy", str(policy),
              "--ca-bundle", str(registry_auth.ca_path), "--docker-config", str(config))
    assert run.code == 3, run.out + run.err
    assert registry_auth.host in run.err and str(config) in run.err and "401" in run.err
    assert wrong not in run.out + run.err and (registry_auth.password or "") not in run.out + run.err
    # Nothing was tagged there (with the right credential, the repository has no tags).
    with pytest.raises(NotFound):
        list(registry_auth.store(f"{repo_name}/prod/app").tags())


def test_tampered_blob_from_the_source_fails_closed_and_a_clean_rerun_finishes(
    keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    built = signed_index(reg, f"{repo_name}/staging/app", "v1", keys.release)
    layer = built.children[1].blobs[1][0]
    direct = reg.store(f"{repo_name}/prod/app")
    with run_proxy(reg.host) as proxy:
        policy = policy_file(tmp_path, [f"{reg.host}/{repo_name}/**", f"{proxy.host}/{repo_name}/**"],
                             keys.release_pub)
        policy_set = load_policies([policy])
        src = f"{proxy.host}/{repo_name}/staging/app:v1"
        dst = f"{reg.host}/{repo_name}/prod/app"
        proxy.tamper(f"/blobs/{layer.digest}")
        record = promote(src, [dst], policy_set, options=RegistryOptions(retries=0, timeout=10))
        result = record.destinations[0]
        assert record.verdict.passed  # verification reads signatures, not image layers
        assert result.outcome == "error" and result.exit_code == 1 and record.exit_code == 1
        assert "digest mismatch" in (result.error or "") and str(layer.digest) in (result.error or "")
        assert "v1" not in _tags(direct) and not direct.blob_exists(layer.digest)
        proxy.clear()
        again = promote(src, [dst], policy_set, options=reg.options)
    assert again.outcome == "promoted", again.to_json()
    assert complete(direct, "v1") and direct.resolve("v1").digest == built.digest


@pytest.fixture
def auth_to_token(
    registry_auth: RunningRegistry, registry_token: RunningRegistry
) -> tuple[RunningRegistry, RunningRegistry]:
    """Two registries that both want credentials: htpasswd basic auth, and token auth."""
    return registry_auth, registry_token


def test_credentials_per_registry_from_one_docker_config(
    cli: Cli, keys: Keys, auth_to_token: tuple[RunningRegistry, RunningRegistry], repo_name: str, tmp_path: Path
) -> None:
    source, destination = auth_to_token
    assert source.ca_path is not None and destination.ca_path is not None
    assert source.username and source.password and destination.username and destination.password
    built = signed_index(source, f"{repo_name}/staging/app", "v1", keys.release)
    config = write_docker_config(tmp_path / "docker" / "config.json", {
        source.host: basic_auth_entry(source.username, source.password),
        destination.host: basic_auth_entry(destination.username, destination.password),
    })
    cas = tmp_path / "cas.pem"
    cas.write_bytes(source.ca_path.read_bytes() + destination.ca_path.read_bytes())
    policy = policy_file(tmp_path, [f"{source.host}/{repo_name}/**", f"{destination.host}/{repo_name}/**"],
                         keys.release_pub)
    dst = f"{destination.host}/{repo_name}/prod/app"
    run = cli("promote", f"{source.host}/{repo_name}/staging/app:v1", dst, "--policy", str(policy),
              "--ca-bundle", str(cas), "--docker-config", str(config), "--output", "json")
    assert run.code == 0, run.out + run.err
    assert run.json()["destinations"][0]["digest"] == str(built.digest)
    verdict = judge(f"{dst}:v1", policy, destination.options)
    assert verdict.outcome == "pass", verdict.to_json()
