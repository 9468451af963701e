"""Junk evidence next to good evidence, in an OCI layout, judged by the gate: each bad
candidate is rejected with its reason and the rest is judged; a limit that leaves evidence
unread makes the verdict incomplete; nothing ends in a traceback.

The junk is built as someone with push access builds it: layers appended to the cosign
tags, referrers with the image as subject, envelopes signed by the trusted key but
serialised so that two parsers read them differently.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtensionOID

from slsacheck.attach import cosign_tags as ct
from slsacheck.attach.candidates import collect_candidates
from slsacheck.attach.predicates import statement
from slsacheck.attach.reading import MAX_CANDIDATES
from slsacheck.attach.referrers import bundle_artifact, push_bundle
from slsacheck.attach.sign import attest_image, sign_image
from slsacheck.errors import VerificationError
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Descriptor
from slsacheck.models.digest import Digest
from slsacheck.models.reference import ImageRef
from slsacheck.models.verdict import Verdict
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from slsacheck.policy.load import load_policies
from slsacheck.signing.bundle import verify_bundle
from slsacheck.signing.dsse import pae
from slsacheck.verify.gate import verify_image
from tests.support.cli import Run, cli
from tests.support.gate_scenarios import KeyPair, key_pair
from tests.support.policy_evidence import key_policy
from tests.support.private_sigstore import IDENTITY, START, b64, make_private_sigstore

__all__ = ["cli"]  # the fixture, imported for pytest

CUSTOM = "https://cosign.sigstore.dev/attestation/v1"
DEEP = b"[" * 100_000 + b"]" * 100_000


class Image:
    """A layout image signed and attested by the release key, and the policy demanding both."""

    def __init__(self, tmp_path: Path, key: KeyPair) -> None:
        self.store = LayoutStore(tmp_path / "layout", create=True)
        self.descriptor = scratch.push(self.store, scratch.image({"/app": b"app"}), tag="v1")
        self.ref = ImageRef.parse(f"oci:{tmp_path / 'layout'}:v1")
        self.key = key
        sign_image(self.store, self.ref, key.signer, fmt="legacy")
        attest_image(self.store, self.ref, key.signer, predicate_type=CUSTOM, predicate={"ok": True}, fmt="legacy")
        (tmp_path / "release.pub").write_bytes(key.public_pem)
        policy = tmp_path / "policy.yaml"
        policy.write_text(key_policy("release", [f"oci:{tmp_path / 'layout'}"], key=tmp_path / "release.pub"))
        self.policies = load_policies([policy])

    def verify(self) -> Verdict:
        return verify_image(self.ref, self.policies, store=self.store)

    def append(self, tag: str, data: bytes, media_type: str, annotations: dict[str, str]) -> None:
        ct.append_layers(self.store, tag, [ct.Layer(data, media_type, annotations)])


@pytest.fixture
def image(tmp_path: Path) -> Image:
    return Image(tmp_path, key_pair())


def _rejected(verdict: Verdict) -> list[str]:
    evidence = verdict.to_json()["evidence"]
    return [r["reason"] for kind in ("signatures", "attestations") for r in evidence[kind]["rejected"]]


def _att(image: Image) -> str:
    return ct.attestation_tag(image.descriptor.digest)


def test_deep_junk_in_att_layer_and_bundle_is_rejected_and_the_rest_judged(image: Image) -> None:
    image.append(_att(image), DEEP, mt.DSSE_ENVELOPE, {mt.ANN_SIGNATURE: "", mt.ANN_PREDICATE_TYPE: CUSTOM})
    image.append(_att(image), b'{"payloadType":"x"}', mt.DSSE_ENVELOPE,
                 {mt.ANN_SIGNATURE: "", mt.ANN_BUNDLE: DEEP.decode()})
    push_bundle(image.store, image.descriptor,
                bundle_artifact(b'{"a":' + DEEP + b"}", image.descriptor, "dsse-envelope", predicate_type=CUSTOM))
    verdict = image.verify()
    assert verdict.outcome == "pass", verdict.to_json()
    reasons = _rejected(verdict)
    assert len(reasons) == 3 and all("nested deeper than" in r for r in reasons), reasons


def test_audit_records_the_rejected_junk_and_judges_the_rest(
    image: Image, tmp_path: Path, cli: Callable[..., Run]
) -> None:
    image.append(_att(image), DEEP, mt.DSSE_ENVELOPE, {mt.ANN_SIGNATURE: "", mt.ANN_PREDICATE_TYPE: CUSTOM})
    (tmp_path / "images.txt").write_text(f"{image.ref}\n")
    run = cli("audit", "--images-file", str(tmp_path / "images.txt"), "--policy", str(tmp_path / "policy.yaml"),
              "--format", "json", "--output", str(tmp_path / "audit.json"))
    assert run.code == 0, run.out + run.err
    record = json.loads((tmp_path / "audit.json").read_text())["images"][0]
    assert record["outcome"] == "pass" and record["error"] is None
    rejected = record["verdict"]["evidence"]["attestations"]["rejected"]
    assert [r["reason"] for r in rejected] == ["the DSSE envelope is not valid JSON (nested deeper than 100 levels)"]


def test_an_envelope_with_a_duplicate_key_is_rejected_though_its_signature_verifies(image: Image) -> None:
    att = _att(image)
    image.store.delete_manifest(image.store.resolve(att).digest)  # its only attestation: the ambiguous one
    payload = statement(image.ref.name, image.descriptor.digest, CUSTOM, {"ok": True})
    sig = base64.b64encode(image.key.signer.sign(pae(mt.IN_TOTO_PAYLOAD, payload))).decode()
    # The signed payload last: a last-wins parser verifies it, a first-wins one reads `{}`.
    envelope = (
        f'{{"payloadType":"{mt.IN_TOTO_PAYLOAD}","payload":"{base64.b64encode(b"{}").decode()}",'
        f'"signatures":[{{"keyid":"","sig":"{sig}"}}],"payload":"{base64.b64encode(payload).decode()}"}}'
    ).encode()
    image.append(att, envelope, mt.DSSE_ENVELOPE, {mt.ANN_SIGNATURE: "", mt.ANN_PREDICATE_TYPE: CUSTOM})
    verdict = image.verify()
    assert verdict.outcome == "fail", verdict.to_json()
    assert any("duplicate key 'payload'" in r for r in _rejected(verdict)), _rejected(verdict)


def test_more_layers_than_the_cap_make_the_verdict_incomplete(image: Image) -> None:
    layers = [ct.Layer(b'{"junk":%d}' % i, mt.DSSE_ENVELOPE, {mt.ANN_SIGNATURE: ""}) for i in range(MAX_CANDIDATES)]
    ct.append_layers(image.store, _att(image), layers)  # the good attestation is layer 0: still not enough
    verdict = image.verify()
    assert verdict.outcome == "error"
    assert any(f"lists {MAX_CANDIDATES + 1} layers, more than the {MAX_CANDIDATES}" in i for i in verdict.incomplete)


def test_the_verdict_carries_its_typed_evidence_and_each_gap_once(image: Image) -> None:
    clean = image.verify()
    assert clean.outcome == "pass" and clean.evidence is not None
    assert [(s.authority, s.signer.kind) for s in clean.evidence.signatures] == [("release-key", "key")]
    assert [a.predicate_type for a in clean.evidence.attestations] == [CUSTOM]
    assert any(where.endswith(".att") for where in clean.evidence.searched)
    layers = [ct.Layer(b'{"junk":%d}' % i, mt.DSSE_ENVELOPE, {mt.ANN_SIGNATURE: ""}) for i in range(MAX_CANDIDATES)]
    ct.append_layers(image.store, _att(image), layers)
    verdict = image.verify()
    assert verdict.evidence is not None
    # One gap, recorded once while collecting: the verdict and its evidence say it the same way.
    assert len(verdict.incomplete) == 1 and tuple(verdict.incomplete) == tuple(verdict.evidence.incomplete)
    assert verdict.to_json()["evidence"] == verdict.evidence.to_json()
    assert verdict.to_json()["incomplete"] == list(verdict.incomplete)


def _cert_with_broken_extension(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    sigstore = make_private_sigstore()
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(sigstore.ca.subject)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(START)
        .not_valid_after(START + dt.timedelta(minutes=10))
        # DER that is no SubjectAlternativeName: cryptography refuses it on first access.
        .add_extension(x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x30\x05\x01"), False)
        .sign(sigstore.ca_key, hashes.SHA256())
    )


def _bundle_with_broken_cert(artifact: bytes) -> dict[str, object]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert_with_broken_extension(key)
    return {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"certificate": {"rawBytes": b64(cert.public_bytes(Encoding.DER))}, "tlogEntries": []},
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": b64(hashlib.sha256(artifact).digest())},
            "signature": b64(key.sign(artifact, ec.ECDSA(hashes.SHA256()))),
        },
    }


def test_a_certificate_with_a_malformed_extension_is_a_verification_error(tmp_path: Path) -> None:
    sigstore = make_private_sigstore()
    with pytest.raises(VerificationError, match="extension does not parse"):
        verify_bundle(_bundle_with_broken_cert(b"artifact"), artifact=b"artifact", identity=IDENTITY,
                      trusted_root=sigstore.root)


def test_verify_bundle_cli_with_a_malformed_certificate_exits_1_without_traceback(
    tmp_path: Path, cli: Callable[..., Run]
) -> None:
    sigstore = make_private_sigstore()
    (tmp_path / "artifact").write_bytes(b"artifact")
    (tmp_path / "bundle.json").write_text(json.dumps(_bundle_with_broken_cert(b"artifact")))
    (tmp_path / "root.json").write_text(json.dumps(sigstore.doc))
    run = cli("verify-bundle", "--bundle", str(tmp_path / "bundle.json"), "--certificate-identity",
              IDENTITY.subject or "", "--certificate-oidc-issuer", IDENTITY.issuer or "",
              "--trusted-root", str(tmp_path / "root.json"), str(tmp_path / "artifact"))
    assert run.code == 1, run.out + run.err
    assert "Traceback" not in run.err and "extension does not parse" in run.out + run.err


def test_a_bundle_referrer_with_a_malformed_certificate_is_rejected_and_the_rest_judged(image: Image) -> None:
    manifest = image.store.fetch_manifest(image.ref.identifier).raw
    artifact = bundle_artifact(_bundle_with_broken_cert(manifest), image.descriptor, "message-signature")
    push_bundle(image.store, image.descriptor, artifact)
    verdict = image.verify()
    assert verdict.outcome == "pass", verdict.to_json()
    assert any("extension does not parse" in r for r in _rejected(verdict))


def test_the_verdict_shows_the_limits_and_what_was_read(image: Image) -> None:
    limits = image.verify().to_json()["evidence"]["limits"]
    assert limits["candidatesPerPlace"] == MAX_CANDIDATES and limits["evidenceBytes"] == mt.MAX_VERIFICATION_EVIDENCE
    assert 0 < limits["evidenceBytesRead"] < 64 * 1024


def test_identical_blob_descriptors_share_one_parse(image: Image) -> None:
    data = ct.envelope_bytes({"payloadType": "x", "payload": "e30=", "signatures": []})
    layers = [ct.Layer(data, mt.DSSE_ENVELOPE, {mt.ANN_SIGNATURE: "", "n": str(i)}) for i in range(20)]
    ct.append_layers(image.store, _att(image), layers)
    found = collect_candidates(image.store, image.descriptor.digest)
    envelopes = [c.envelope for c in found.attestations if c.envelope_blob == data]
    assert len(envelopes) == 20 and all(e is envelopes[0] for e in envelopes)


def test_one_blob_listed_many_times_is_parsed_and_checked_once(image: Image, monkeypatch: pytest.MonkeyPatch) -> None:
    from slsacheck.verify import authorities

    counts = {"payload": 0, "envelope": 0}
    real_payload, real_envelope = authorities.parse_payload, authorities.Envelope.from_json

    def payload(data: bytes, **kw: object) -> object:
        counts["payload"] += 1
        return real_payload(data, **kw)  # type: ignore[arg-type]

    def envelope(data: object, **kw: object) -> object:
        counts["envelope"] += 1
        return real_envelope(data, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(authorities, "parse_payload", payload)
    monkeypatch.setattr(authorities.Envelope, "from_json", envelope)
    digest = image.descriptor.digest
    sig = b'{"critical":{"identity":{"docker-reference":"x"},"image":{"docker-manifest-digest":"sha256:' + \
        b"1" * 64 + b'"},"type":"cosign container image signature"},"optional":null}'
    ct.append_layers(image.store, ct.signature_tag(digest), [
        ct.Layer(sig, mt.SIMPLE_SIGNING, {mt.ANN_SIGNATURE: base64.b64encode(b"%d" % i).decode()}) for i in range(40)])
    att = ct.envelope_bytes({"payloadType": mt.IN_TOTO_PAYLOAD, "payload": "e30=", "signatures": []})
    ct.append_layers(image.store, _att(image), [
        ct.Layer(att, mt.DSSE_ENVELOPE, {mt.ANN_SIGNATURE: "", "n": str(i)}) for i in range(40)])
    verdict = image.verify()
    assert verdict.outcome == "pass"
    assert len(_rejected(verdict)) == 80
    # The good signature and attestation, and one parse for all 40 listings of each junk blob.
    assert counts == {"payload": 2, "envelope": 2}, counts


def test_a_blob_past_its_size_cap_is_unread_evidence_and_the_verdict_incomplete(image: Image, tmp_path: Path) -> None:
    # A trusted scan too large to read may be the one that fails: never judged without it.
    att = _att(image)
    (tmp_path / "layout" / "blobs" / "sha256" / Digest.of(b"unread").hex).write_bytes(b"unread")
    current = image.store.fetch_manifest(att)
    huge = Descriptor(mt.DSSE_ENVELOPE, Digest.of(b"unread"), mt.MAX_EVIDENCE_SIZE + 1,
                      {mt.ANN_SIGNATURE: "", mt.ANN_PREDICATE_TYPE: CUSTOM})
    merged = ct.merge_layers(current, [huge])
    image.store.push_blob(Descriptor.of(merged.config, mt.OCI_CONFIG), merged.config)
    image.store.push_manifest(merged.manifest, mt.OCI_MANIFEST, tag=att)
    verdict = image.verify()
    assert verdict.outcome == "error", verdict.to_json()
    assert any("layer 1 was not read" in line and "larger" in line for line in verdict.incomplete), verdict.incomplete


def test_a_referrers_index_past_the_manifest_cap_hides_nothing(image: Image, tmp_path: Path) -> None:
    """The `sha256-<hex>` index padded past 4 MiB: the bundles it lists are unread evidence."""
    digest = image.descriptor.digest
    padded = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [],
                         "annotations": {"pad": "x" * (mt.MAX_MANIFEST_SIZE + 1)}}).encode()
    blob = Digest.of(padded)
    path = tmp_path / "layout"
    (path / "blobs" / "sha256" / blob.hex).write_bytes(padded)
    index = json.loads((path / "index.json").read_text())
    index["manifests"].append({"mediaType": mt.OCI_INDEX, "digest": str(blob), "size": len(padded),
                               "annotations": {mt.ANN_REF_NAME: digest.tag_form}})
    (path / "index.json").write_text(json.dumps(index))
    verdict = image.verify()
    assert verdict.outcome == "error", verdict.to_json()
    assert any(f"the referrers of {digest} was not read" in line for line in verdict.incomplete), verdict.incomplete
