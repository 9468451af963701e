"""The attach layer on its own: cosign tag manifests, bundle referrers, candidates.

Pure builders are tested as data; the I/O half runs on a real OCI layout directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from slsacheck.attach import cosign_tags as ct
from slsacheck.attach.candidates import collect_candidates
from slsacheck.attach.predicates import predicate_type, statement
from slsacheck.attach.referrers import bundle_artifact, merge_fallback_index, push_bundle
from slsacheck.errors import InputError
from slsacheck.models import Descriptor, Digest, Manifest
from slsacheck.models import mediatypes as mt
from slsacheck.models.statement import Statement
from slsacheck.oci.layout import LayoutStore
from slsacheck.signing.signer import Material, SignedEnvelope, SignedMessage
from tests.support.env import shared_file

IMAGE = Digest.of(b"an image manifest")


def _sig(n: int, **material: Any) -> SignedMessage:
    return SignedMessage(f"payload {n}".encode(), f"sig {n}".encode(), Material(**material))


def _manifest(raw: bytes) -> Manifest:
    return Manifest.parse(raw, mt.OCI_MANIFEST)


def test_signature_layer_carries_cosign_annotations() -> None:
    rekor = {"SignedEntryTimestamp": "c2V0", "Payload": {"body": "Ym9keQ==", "integratedTime": 1, "logIndex": 2,
                                                         "logID": "ab"}}
    layer = ct.signature_layer(_sig(1, certificate=b"CERT", chain=b"CHAIN", rekor_bundle=rekor))
    assert layer.media_type == mt.SIMPLE_SIGNING
    assert layer.annotations[mt.ANN_SIGNATURE] == "c2lnIDE="
    assert layer.annotations[mt.ANN_CERTIFICATE] == "CERT"
    assert layer.annotations[mt.ANN_CHAIN] == "CHAIN"
    # Go's encoding of cosign's struct: compact, in field order.
    assert layer.annotations[mt.ANN_BUNDLE].startswith('{"SignedEntryTimestamp":"c2V0","Payload":{"body"')


def test_attestation_layer_has_empty_signature_annotation_and_predicate_type() -> None:
    env = {"payloadType": mt.IN_TOTO_PAYLOAD, "payload": "e30=", "signatures": [{"keyid": "", "sig": "AA=="}]}
    layer = ct.attestation_layer(SignedEnvelope(env), "https://slsa.dev/provenance/v1")
    assert layer.annotations == {mt.ANN_SIGNATURE: "", mt.ANN_PREDICATE_TYPE: "https://slsa.dev/provenance/v1"}
    assert json.loads(layer.data) == env


def test_merge_appends_keeps_existing_and_skips_identical() -> None:
    one, two = ct.signature_layer(_sig(1)).descriptor, ct.signature_layer(_sig(2)).descriptor
    first = ct.merge_layers(None, [one])
    assert [d.digest for d in first.added] == [one.digest]
    # An unknown field on an existing layer survives the merge, byte for byte.
    doc = json.loads(first.manifest)
    doc["layers"][0]["urls"] = ["https://example.invalid/x"]
    existing = _manifest(json.dumps(doc).encode())
    again = ct.merge_layers(existing, [one])
    assert not again.changed
    second = ct.merge_layers(existing, [one, two, two])
    assert [d.digest for d in second.added] == [two.digest]
    layers = json.loads(second.manifest)["layers"]
    assert [x["digest"] for x in layers] == [str(one.digest), str(two.digest)]
    assert layers[0]["urls"] == ["https://example.invalid/x"]
    config = json.loads(second.config)
    assert config["rootfs"]["diff_ids"] == [str(one.digest), str(two.digest)]
    assert json.loads(second.manifest)["config"]["digest"] == str(Digest.of(second.config))


def test_same_payload_other_annotations_is_a_new_layer() -> None:
    one = ct.signature_layer(_sig(1)).descriptor
    other = ct.Layer(b"payload 1", mt.SIMPLE_SIGNING, {mt.ANN_SIGNATURE: "b3RoZXI="}).descriptor
    merged = ct.merge_layers(_manifest(ct.merge_layers(None, [one]).manifest), [other])
    assert merged.changed and len(json.loads(merged.manifest)["layers"]) == 2


def test_cosign_config_is_byte_identical_to_cosigns() -> None:
    # The slsa-verifier `.att` manifest, written by cosign, names its config by digest:
    # our config for the same layer must hash to it.
    att = shared_file(
        "anchors", "verify",
        "slsa-framework__slsa-verifier__cli__slsa-verifier__testdata__gha_generic_container__v2.1.0__"
        "container_workflow_dispatch__blobs__sha256__21454caf3a160dfbe6359f0501aa8401c6c0f2c7a8b71380ea21f8c4b48b64fe",
    )
    manifest = json.loads(att.read_bytes())
    config = ct.cosign_config([layer["digest"] for layer in manifest["layers"]])
    assert str(Digest.of(config)) == manifest["config"]["digest"]
    assert len(config) == manifest["config"]["size"]


def test_bundle_artifact_is_a_referrer_with_empty_config() -> None:
    subject = Descriptor.of(b"an image manifest", mt.OCI_MANIFEST)
    art = bundle_artifact({"mediaType": mt.SIGSTORE_BUNDLE_V03}, subject, "dsse-envelope",
                          predicate_type="https://slsa.dev/provenance/v1")
    doc = json.loads(art.manifest)
    assert doc["artifactType"] == mt.SIGSTORE_BUNDLE_V03
    assert doc["config"] == {"mediaType": mt.OCI_EMPTY, "digest": str(Digest.of(b"{}")), "size": 2}
    assert doc["layers"] == [{"mediaType": mt.SIGSTORE_BUNDLE_V03, "digest": str(Digest.of(art.bundle)),
                              "size": len(art.bundle)}]
    assert doc["subject"] == {"mediaType": mt.OCI_MANIFEST, "digest": str(subject.digest), "size": subject.size}
    assert doc["annotations"][mt.ANN_BUNDLE_CONTENT] == "dsse-envelope"
    assert doc["annotations"][mt.ANN_BUNDLE_PREDICATE_TYPE] == "https://slsa.dev/provenance/v1"
    assert doc["annotations"][mt.ANN_CREATED].endswith("Z")
    assert art.descriptor.artifact_type == mt.SIGSTORE_BUNDLE_V03


def test_fallback_index_merge() -> None:
    a = Descriptor.of(b"a", mt.OCI_MANIFEST, artifact_type=mt.SIGSTORE_BUNDLE_V03)
    b = Descriptor.of(b"b", mt.OCI_MANIFEST, artifact_type=mt.SIGSTORE_BUNDLE_V03)
    first = merge_fallback_index(None, a)
    assert first is not None
    index = Manifest.parse(first, mt.OCI_INDEX)
    assert merge_fallback_index(index, a) is None
    second = merge_fallback_index(index, b)
    assert second is not None
    assert [d.digest for d in Manifest.parse(second, mt.OCI_INDEX).children] == [a.digest, b.digest]


@pytest.mark.parametrize(
    ("name", "uri"),
    [
        ("slsaprovenance", "https://slsa.dev/provenance/v0.2"),
        ("slsaprovenance02", "https://slsa.dev/provenance/v0.2"),
        ("slsaprovenance1", "https://slsa.dev/provenance/v1"),
        ("spdxjson", "https://spdx.dev/Document"),
        ("cyclonedx", "https://cyclonedx.org/bom"),
        ("vuln", "https://cosign.sigstore.dev/attestation/vuln/v1"),
        ("openvex", "https://openvex.dev/ns"),
        ("custom", "https://cosign.sigstore.dev/attestation/v1"),
        ("https://example.com/predicate/v3", "https://example.com/predicate/v3"),
    ],
)
def test_predicate_type_aliases(name: str, uri: str) -> None:
    assert predicate_type(name) == uri


def test_unknown_predicate_alias_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown predicate type"):
        predicate_type("slsaprovenance3")


def test_statement_names_the_image_digest() -> None:
    parsed = Statement.from_json(statement("registry.example/team/app", IMAGE, "https://x.example/p", {"a": 1}))
    assert parsed.names_digest(IMAGE)
    assert [s.name for s in parsed.subjects] == ["registry.example/team/app"]


# -- I/O on a real layout ------------------------------------------------------------------


def _layout_with_image(tmp_path: Path) -> tuple[LayoutStore, Descriptor]:
    store = LayoutStore(tmp_path / "layout", create=True)
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    cdesc = Descriptor.of(config, mt.OCI_CONFIG)
    store.push_blob(cdesc, config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                           "config": cdesc.to_json(), "layers": []}).encode()
    return store, store.push_manifest(manifest, mt.OCI_MANIFEST, tag="v1")


def test_append_layers_twice_keeps_both_and_is_idempotent(tmp_path: Path) -> None:
    store, image = _layout_with_image(tmp_path)
    tag = ct.signature_tag(image.digest)
    r1 = ct.append_layers(store, tag, [ct.signature_layer(_sig(1))])
    r2 = ct.append_layers(store, tag, [ct.signature_layer(_sig(2))])
    r3 = ct.append_layers(store, tag, [ct.signature_layer(_sig(2))])
    assert (r1.added, r2.added, r3.added) == (1, 1, 0)
    found = collect_candidates(store, image.digest)
    assert [c.payload for c in found.signatures] == [b"payload 1", b"payload 2"]
    assert found.rejected == () and found.incomplete == ()


class _RacingStore:
    """A real layout whose tag another writer overwrites right after each of our writes."""

    def __init__(self, inner: LayoutStore, races: int) -> None:
        self.inner = inner
        self.races = races

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def push_manifest(self, manifest: bytes, media_type: str, *, tag: str | None = None) -> Descriptor:
        written = self.inner.push_manifest(manifest, media_type, tag=tag)
        if tag and self.races > 0:
            self.races -= 1
            rival = ct.signature_layer(_sig(100 + self.races))
            self.inner.push_blob(rival.descriptor, rival.data)
            # The rival read the tag before our write: its manifest lacks our layer.
            merged = ct.merge_layers(None, [rival.descriptor])
            self.inner.push_blob(Descriptor.of(merged.config, mt.OCI_CONFIG), merged.config)
            self.inner.push_manifest(merged.manifest, mt.OCI_MANIFEST, tag=tag)
        return written


def test_append_retries_when_a_concurrent_writer_drops_our_layer(tmp_path: Path) -> None:
    store, image = _layout_with_image(tmp_path)
    tag = ct.signature_tag(image.digest)
    racing = _RacingStore(store, races=2)
    result = ct.append_layers(racing, tag, [ct.signature_layer(_sig(1))], backoff=0)  # type: ignore[arg-type]
    assert result.attempts == 3
    payloads = [c.payload for c in collect_candidates(store, image.digest).signatures]
    assert b"payload 1" in payloads and b"payload 100" in payloads  # ours and the rival's last


def test_append_gives_up_after_bounded_attempts(tmp_path: Path) -> None:
    store, image = _layout_with_image(tmp_path)
    racing = _RacingStore(store, races=10)
    with pytest.raises(ct.ConcurrentUpdate, match="overwritten by another writer 3 times"):
        ct.append_layers(racing, ct.signature_tag(image.digest), [ct.signature_layer(_sig(1))],  # type: ignore[arg-type]
                         attempts=3, backoff=0)


def test_push_bundle_is_found_as_a_referrer(tmp_path: Path) -> None:
    store, image = _layout_with_image(tmp_path)
    bundle = {"mediaType": mt.SIGSTORE_BUNDLE_V03, "verificationMaterial": {}, "dsseEnvelope": {}}
    pushed = push_bundle(store, image, bundle_artifact(bundle, image, "dsse-envelope", predicate_type="x:y"))
    found = collect_candidates(store, image.digest)
    assert [c.source.endswith(str(pushed.manifest.digest)) for c in found.attestations] == [True]
    assert found.attestations[0].bundle == bundle


def test_malformed_layers_are_rejected_with_reasons(tmp_path: Path) -> None:
    store, image = _layout_with_image(tmp_path)
    bad_b64 = ct.Layer(b"payload", mt.SIMPLE_SIGNING, {mt.ANN_SIGNATURE: "not*base64"})
    no_sig = ct.Layer(b"payload 2", mt.SIMPLE_SIGNING, {})
    not_json = ct.Layer(b"{not json", mt.DSSE_ENVELOPE, {mt.ANN_SIGNATURE: "", mt.ANN_PREDICATE_TYPE: "x:y"})
    ct.append_layers(store, ct.signature_tag(image.digest), [bad_b64, no_sig])
    ct.append_layers(store, ct.attestation_tag(image.digest), [not_json])
    found = collect_candidates(store, image.digest)
    assert found.signatures == () and found.attestations == ()
    reasons = sorted(r.reason for r in found.rejected)
    assert any("not valid base64" in r for r in reasons)
    assert any("has no dev.cosignproject.cosign/signature" in r for r in reasons)
    assert any("DSSE envelope is not valid JSON" in r for r in reasons)
