"""Promotion carries evidence about the promoted digest, and nothing an attacker adds.

The attacker can push to the staging repository (not delete). They list a whole unsigned
image in the `sha256-<hex>` referrers fallback index (under a bundle's artifact type, and
as a "referrer" with no subject), attach image-shaped and mis-addressed referrers, pad
the `.sig` and `.att` manifests with tar layers and config blobs, and bury the real
provenance bundle behind hundreds of junk referrers. On the real registry, the promotion
must copy exactly the signatures, attestations, bundles and SBOMs about the digest, say
what it left behind and why, and never report "promoted" while the evidence that decides
the verdict is missing.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from slsacheck.attach import cosign_tags as ct
from slsacheck.attach.sign import attest_image, sign_image
from slsacheck.errors import NotFound
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Descriptor
from slsacheck.models.digest import Digest
from slsacheck.oci import scratch
from slsacheck.oci.registry import RegistryStore
from slsacheck.policy.load import load_policies
from slsacheck.promote import evidence, promote
from slsacheck.promote.carry import SPDX_JSON
from tests.integration.test_promote_helpers import (
    PREDICATE,
    Keys,
    judge,
    keys,
    policy_file,
    signer,
    valid_record,
)
from tests.support.cli import Cli, cli
from tests.support.registry import RunningRegistry, image_manifest, push_small_image

__all__ = ["cli", "keys"]  # fixtures, imported so pytest finds them here

pytestmark = pytest.mark.integration
CUSTOM = "https://cosign.sigstore.dev/attestation/v1"
EMPTY = Descriptor.of(mt.EMPTY_JSON, mt.OCI_EMPTY)


def _absent(store: RegistryStore, digest: Digest) -> bool:
    try:
        store.resolve(str(digest))
    except NotFound:
        return True
    return False


def _push_artifact(store: RegistryStore, artifact_type: str | None, subject: Descriptor | None,
                   layers: list[tuple[bytes, str]], config: tuple[bytes, str] = (mt.EMPTY_JSON, mt.OCI_EMPTY),
                   ) -> Descriptor:
    """A referrer-shaped manifest, pushed untagged (the attacker lists it afterwards)."""
    config_desc = Descriptor.of(config[0], config[1])
    store.push_blob(config_desc, config[0])
    descs = []
    for data, media_type in layers:
        desc = Descriptor.of(data, media_type)
        store.push_blob(desc, data)
        descs.append(desc)
    fields: dict[str, object] = {}
    if artifact_type is not None:
        fields["artifactType"] = artifact_type
    if subject is not None:
        fields["subject"] = {"mediaType": subject.media_type, "digest": str(subject.digest), "size": subject.size}
    raw = image_manifest(config_desc, descs, **fields)
    pushed = store.push_manifest(raw, mt.OCI_MANIFEST)
    return Descriptor(mt.OCI_MANIFEST, pushed.digest, pushed.size, artifact_type=artifact_type)


def _list_in_fallback(store: RegistryStore, subject: Digest, entries: list[Descriptor]) -> None:
    """Add `entries` to the subject's fallback index, after what is there, in one write."""
    try:
        index = json.loads(store.fetch_manifest(subject.tag_form).raw)
    except NotFound:
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}
    for entry in entries:
        item: dict[str, object] = {"mediaType": entry.media_type, "digest": str(entry.digest), "size": entry.size}
        if entry.artifact_type:
            item["artifactType"] = entry.artifact_type
        index["manifests"].append(item)
    store.push_manifest(json.dumps(index).encode(), mt.OCI_INDEX, tag=subject.tag_form)


def _signed_image(reg: RunningRegistry, repo: str, keys: Keys, *, attest: str = "both") -> scratch.Built:
    built = scratch.image({"app": secrets.token_bytes(16)})
    store = reg.store(repo)
    scratch.push(store, built, tag="v1")
    ref = reg.ref(repo).with_digest(built.digest)
    sign_image(store, ref, signer(keys.release), fmt="legacy")
    attest_image(store, ref, signer(keys.release), predicate_type=CUSTOM, predicate=PREDICATE, fmt=attest)
    return built


def _evidence(doc: dict[str, object]) -> list[dict[str, object]]:
    destinations = doc["destinations"]
    assert isinstance(destinations, list)
    items = destinations[0]["copied"]["evidence"]
    assert isinstance(items, list)
    return items


def test_fallback_index_junk_is_skipped_with_reasons_and_never_copied(
    cli: Cli, keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    repo = f"{repo_name}/staging/app"
    built = _signed_image(reg, repo, keys)
    store = reg.store(repo)
    image = built.descriptor
    # A whole unsigned image, listed once as a bundle and once with no type at all.
    unsigned = push_small_image(store, None, seed="unsigned", layer_size=4096)
    as_bundle = Descriptor(mt.OCI_MANIFEST, unsigned.manifest.digest, unsigned.manifest.size,
                           artifact_type=mt.SIGSTORE_BUNDLE_V03)
    # Referrers that point at the image but are images themselves, or point elsewhere.
    tar = secrets.token_bytes(2048)
    image_shaped = _push_artifact(store, None, image, [(tar, mt.OCI_LAYER)],
                                  config=(b'{"architecture":"amd64","os":"linux"}', mt.OCI_CONFIG))
    elsewhere = _push_artifact(store, mt.SIGSTORE_BUNDLE_V03, unsigned.manifest, [(b"{}", mt.SIGSTORE_BUNDLE_V03)])
    padded_bundle = _push_artifact(store, mt.SIGSTORE_BUNDLE_V03, image,
                                   [(b"{}", mt.SIGSTORE_BUNDLE_V03), (tar, mt.OCI_LAYER)])
    exotic = _push_artifact(store, "application/vnd.example.junk", image, [(b"junk", "application/octet-stream")])
    sbom = _push_artifact(store, SPDX_JSON, image, [(b'{"spdxVersion":"SPDX-2.3"}', SPDX_JSON)])
    junk = [as_bundle, image_shaped, elsewhere, padded_bundle, exotic]
    _list_in_fallback(store, built.digest, [*junk, sbom])

    policy = policy_file(tmp_path, [f"{reg.host}/{repo_name}/**"], keys.release_pub)
    run = cli("promote", f"{reg.host}/{repo}:v1", f"{reg.host}/{repo_name}/prod/app", "--policy", str(policy),
              "--output", "json")
    assert run.code == 0, run.out + run.err
    doc = run.json()
    valid_record(doc)
    items = {e["reference"]: e for e in _evidence(doc) if e["kind"] == "referrer"}
    for entry in junk:
        assert items[str(entry.digest)]["action"] == "skipped", items[str(entry.digest)]
    def reason(entry: Descriptor) -> str:
        return str(items[str(entry.digest)]["reason"])

    assert "no subject" in reason(as_bundle)
    assert "application/vnd.oci.image.config.v1+json" in reason(image_shaped)
    assert f"not the promoted {built.digest}" in reason(elsewhere)
    assert "2 layers" in reason(padded_bundle)
    assert "application/vnd.example.junk" in reason(exotic)
    assert items[str(sbom.digest)]["action"] == "copied"
    carried = {items[k]["reference"] for k in items if items[k]["action"] == "copied"}
    assert len(carried) == 2  # the attestation bundle and the SBOM

    prod = reg.store(f"{repo_name}/prod/app")
    for entry in junk:
        assert _absent(prod, entry.digest), entry
    assert not prod.blob_exists(unsigned.layer.digest) and not prod.blob_exists(Descriptor.of(tar, "x").digest)
    listed = {d.digest for d in prod.referrers(built.digest)}
    assert listed == {Digest.parse(d) for d in carried}
    assert judge(f"{reg.host}/{repo_name}/prod/app:v1", policy, reg.options).outcome == "pass"

    text = cli("promote", f"{reg.host}/{repo}:v1", f"{reg.host}/{repo_name}/prod/app", "--policy", str(policy))
    assert text.code == 0
    assert f"referrer {as_bundle.digest}: skipped (it has no subject" in text.out


def test_padded_sig_and_att_manifests_carry_only_their_evidence_layers(
    cli: Cli, keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    repo = f"{repo_name}/staging/app"
    built = _signed_image(reg, repo, keys, attest="legacy")
    store = reg.store(repo)
    tar = secrets.token_bytes(8192)
    fake_config = b'{"architecture":"amd64","os":"linux","padding":"' + b"x" * 4096 + b'"}'
    padding = [(tar, mt.OCI_LAYER), (fake_config, mt.OCI_CONFIG)]
    for tag in (ct.signature_tag(built.digest), ct.attestation_tag(built.digest)):
        honest = store.fetch_manifest(tag)
        layers = [*honest.json["layers"]]
        for data, media_type in padding:
            desc = Descriptor.of(data, media_type)
            store.push_blob(desc, data)
            layers.insert(0, desc.to_json())
        big_config = Descriptor.of(fake_config, mt.OCI_CONFIG)
        padded = {**honest.json, "layers": layers, "config": big_config.to_json()}
        store.push_manifest(json.dumps(padded).encode(), mt.OCI_MANIFEST, tag=tag)
    policy = policy_file(tmp_path, [f"{reg.host}/{repo_name}/**"], keys.release_pub)
    assert judge(f"{reg.host}/{repo}:v1", policy, reg.options).outcome == "pass"  # padding rejected, not fatal

    argv = ("promote", f"{reg.host}/{repo}:v1", f"{reg.host}/{repo_name}/prod/app", "--policy", str(policy),
            "--output", "json")
    run = cli(*argv)
    assert run.code == 0, run.out + run.err
    doc = run.json()
    valid_record(doc)
    prod = reg.store(f"{repo_name}/prod/app")
    expected_type = {"signatures": mt.SIMPLE_SIGNING, "attestations": mt.DSSE_ENVELOPE}
    for item in _evidence(doc):
        if item["kind"] == "referrer":
            continue
        assert item["action"] == "copied" and "left behind" in item["reason"]
        skipped = item["layersSkipped"]
        assert [(s["index"], s["mediaType"]) for s in skipped] == [(0, mt.OCI_CONFIG), (1, mt.OCI_LAYER)]
        arrived = prod.fetch_manifest(str(item["reference"]))
        assert [layer.media_type for layer in arrived.layers] == [expected_type[item["kind"]]]
        assert arrived.config is not None and arrived.config.size < 1024
    assert not prod.blob_exists(Descriptor.of(tar, "x").digest)
    assert not prod.blob_exists(Descriptor.of(fake_config, "x").digest)
    assert judge(f"{reg.host}/{repo_name}/prod/app:v1", policy, reg.options).outcome == "pass"

    again = cli(*argv)
    assert again.code == 0
    assert again.json()["destinations"][0]["copied"]["sentNothing"]


def test_merge_into_a_destination_signature_carries_no_padding(
    cli: Cli, keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    repo = f"{repo_name}/staging/app"
    built = _signed_image(reg, repo, keys)
    store = reg.store(repo)
    tag = ct.signature_tag(built.digest)
    tar = secrets.token_bytes(4096)
    desc = Descriptor.of(tar, mt.OCI_LAYER)
    store.push_blob(desc, tar)
    honest = store.fetch_manifest(tag)
    store.push_manifest(json.dumps({**honest.json, "layers": [*honest.json["layers"], desc.to_json()]}).encode(),
                        mt.OCI_MANIFEST, tag=tag)
    prod_repo = f"{repo_name}/prod/app"
    prod = reg.store(prod_repo)
    from slsacheck.oci.copy import copy

    copy(store, prod, str(built.digest))
    sign_image(prod, reg.ref(prod_repo).with_digest(built.digest), signer(keys.other), fmt="legacy")
    policy = policy_file(tmp_path, [f"{reg.host}/{repo_name}/**"], keys.release_pub)
    run = cli("promote", f"{reg.host}/{repo}:v1", f"{reg.host}/{prod_repo}", "--policy", str(policy),
              "--output", "json")
    assert run.code == 0, run.out + run.err
    sig = next(e for e in _evidence(run.json()) if e["reference"] == tag)
    assert sig["action"] == "merged" and sig["layersAdded"] == 1
    assert [s["mediaType"] for s in sig["layersSkipped"]] == [mt.OCI_LAYER]
    merged = prod.fetch_manifest(tag)
    assert [layer.media_type for layer in merged.layers] == [mt.SIMPLE_SIGNING, mt.SIMPLE_SIGNING]
    assert not prod.blob_exists(desc.digest)


def test_real_provenance_behind_hundreds_of_junk_referrers_arrives(
    cli: Cli, keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    repo = f"{repo_name}/staging/app"
    built = scratch.image({"app": secrets.token_bytes(16)})
    store = reg.store(repo)
    scratch.push(store, built, tag="v1")
    image = built.descriptor
    ref = reg.ref(repo).with_digest(built.digest)
    sign_image(store, ref, signer(keys.release), fmt="legacy")
    # 300 referrers first, before the one bundle that holds the provenance.
    junk = [_push_artifact(store, "application/vnd.example.junk", image, [(str(i).encode(), "text/plain")])
            for i in range(300)]
    _list_in_fallback(store, built.digest, junk)
    attest_image(store, ref, signer(keys.release), predicate_type=CUSTOM, predicate=PREDICATE, fmt="bundle")
    listing = store.referrers(built.digest)
    assert len(listing) == 301 and listing[-1].artifact_type == mt.SIGSTORE_BUNDLE_V03
    policy = policy_file(tmp_path, [f"{reg.host}/{repo_name}/**"], keys.release_pub)
    assert judge(f"{reg.host}/{repo}:v1", policy, reg.options).outcome == "pass"

    run = cli("promote", f"{reg.host}/{repo}:v1", f"{reg.host}/{repo_name}/prod/app", "--policy", str(policy),
              "--output", "json")
    assert run.code == 0, run.out + run.err
    doc = run.json()
    valid_record(doc)
    referrers = [e for e in _evidence(doc) if e["kind"] == "referrer"]
    assert len(referrers) == 301
    assert sum(e["action"] == "skipped" for e in referrers) == 300
    (bundle,) = [e for e in referrers if e["action"] == "copied"]
    assert bundle["reference"] == str(listing[-1].digest)
    destination = doc["destinations"][0]
    assert destination["verdict"]["outcome"] == "pass"
    assert len(destination["verdict"]["evidence"]["attestations"]["verified"]) == 1


def test_more_referrers_than_the_cap_fail_the_destination_not_promote_part(
    keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = registry_http
    repo = f"{repo_name}/staging/app"
    built = _signed_image(reg, repo, keys, attest="bundle")
    store = reg.store(repo)
    image = built.descriptor
    sboms = [_push_artifact(store, SPDX_JSON, image, [(f'{{"n":{i}}}'.encode(), SPDX_JSON)]) for i in range(4)]
    _list_in_fallback(store, built.digest, sboms)
    monkeypatch.setattr(evidence, "MAX_REFERRERS", 4)  # five listed: the bundle and four SBOMs
    policy = policy_file(tmp_path, [f"{reg.host}/{repo_name}/**"], keys.release_pub)
    record = promote(f"{reg.host}/{repo}:v1", [f"{reg.host}/{repo_name}/prod/app"], load_policies([policy]),
                     options=reg.options)
    result = record.destinations[0]
    assert record.outcome == "partial" and record.exit_code == 3
    assert result.outcome == "error" and result.exit_code == 3
    assert "5 referrers listed" in (result.error or "") and "at most 4" in (result.error or "")
    try:
        tags = set(reg.store(f"{repo_name}/prod/app").tags())
    except NotFound:
        tags = set()
    assert "v1" not in tags


def test_unreadable_att_manifest_and_referrer_are_skipped_not_a_crash(
    cli: Cli, keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    """Junk an attacker pushes where evidence is looked for (a manifest nested deeper than
    any parser of slsacheck reads, at the `.att` tag and listed as a referrer) is reported as
    skipped with its reason; the real evidence still travels and the promotion passes."""
    reg = registry_http
    repo = f"{repo_name}/staging/app"
    built = _signed_image(reg, repo, keys, attest="bundle")
    store = reg.store(repo)
    config = Descriptor.of(mt.EMPTY_JSON, mt.OCI_EMPTY)
    store.push_blob(config, mt.EMPTY_JSON)
    deep = "[" * 500 + "]" * 500  # Distribution's parser takes it; slsacheck's bounded one refuses it
    junk = image_manifest(config, [], junk=json.loads(deep))
    store.push_manifest(junk, mt.OCI_MANIFEST, tag=ct.attestation_tag(built.digest))
    pushed = store.push_manifest(image_manifest(config, [], artifactType=mt.SIGSTORE_BUNDLE_V03,
                                                subject=built.descriptor.to_json(), junk=json.loads(deep)),
                                 mt.OCI_MANIFEST)
    _list_in_fallback(store, built.digest, [Descriptor(mt.OCI_MANIFEST, pushed.digest, pushed.size,
                                                       artifact_type=mt.SIGSTORE_BUNDLE_V03)])

    policy = policy_file(tmp_path, [f"{reg.host}/{repo_name}/**"], keys.release_pub)
    run = cli("promote", f"{reg.host}/{repo}:v1", f"{reg.host}/{repo_name}/prod/app", "--policy", str(policy),
              "--output", "json")
    assert run.code == 0, run.out + run.err
    assert "Traceback" not in run.err
    items = _evidence(run.json())
    att = [e for e in items if e["kind"] == "attestations"]
    assert [e["action"] for e in att] == ["skipped"] and "unreadable" in str(att[0]["reason"])
    referrers = {e["reference"]: e for e in items if e["kind"] == "referrer"}
    assert referrers[str(pushed.digest)]["action"] == "skipped"
    assert "unreadable" in str(referrers[str(pushed.digest)]["reason"])
    assert [e["action"] for e in referrers.values()].count("copied") == 1  # the real attestation bundle
    assert judge(f"{reg.host}/{repo_name}/prod/app:v1", policy, reg.options).outcome == "pass"
