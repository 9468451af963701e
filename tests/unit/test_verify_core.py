"""The verification core's types: each kind of candidate is checked by its own rule, a
refusal is a value with its reason, and a `Gate` owns the settings of its verifications."""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from slsacheck.attach.candidates import BundleReferrer, LayerMaterial, TagAttestation, TagSignature
from slsacheck.models.descriptor import Descriptor
from slsacheck.models.digest import Digest
from slsacheck.models.mediatypes import DSSE_ENVELOPE, SIMPLE_SIGNING
from slsacheck.models.reference import ImageRef
from slsacheck.oci.open import SHARED_POOL, ClientPool
from slsacheck.oci.registry import RegistryStore
from slsacheck.policy.authority import KeyAuthority
from slsacheck.signing.dsse import Envelope, Signature, pae
from slsacheck.signing.simplesigning import build_payload
from slsacheck.verify.authorities import Accepted, Refusal, TrustRoots, try_authority
from slsacheck.verify.gate import Gate

IMAGE = Digest.of(b"the image manifest")
OTHER_IMAGE = Digest.of(b"another image's manifest")
KEY = ec.generate_private_key(ec.SECP256R1())
ATTACKER = ec.generate_private_key(ec.SECP256R1())
AUTHORITY = KeyAuthority("release", (KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),))
IN_TOTO = "application/vnd.in-toto+json"


def _sig_layer(payload: bytes, signer: ec.EllipticCurvePrivateKey = KEY) -> TagSignature:
    signature = signer.sign(payload, ec.ECDSA(hashes.SHA256()))
    layer = Descriptor.of(payload, SIMPLE_SIGNING)
    return TagSignature("r.example/app:sha256-x.sig layer 0", layer, payload, signature)


def _att_layer(subject: Digest, signer: ec.EllipticCurvePrivateKey = KEY) -> TagAttestation:
    statement = json.dumps({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "r.example/app", "digest": {subject.algorithm: subject.hex}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {},
    }).encode()
    sig = signer.sign(pae(IN_TOTO, statement), ec.ECDSA(hashes.SHA256()))
    blob = Envelope(IN_TOTO, statement, (Signature("", sig),)).to_json()
    return TagAttestation("r.example/app:sha256-x.att layer 0", Descriptor.of(blob, DSSE_ENVELOPE), json.loads(blob),
                          blob, "https://slsa.dev/provenance/v1")


def _check(candidate: TagSignature | TagAttestation) -> Accepted | Refusal:
    return try_authority(candidate, AUTHORITY, IMAGE, roots=TrustRoots())


def test_a_valid_signature_and_attestation_are_accepted_with_their_signer() -> None:
    fingerprint = hashlib.sha256(
        KEY.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    ).hexdigest()
    signed = _check(_sig_layer(build_payload("r.example/app", IMAGE, {"team": "a"})))
    assert isinstance(signed, Accepted)
    assert (signed.signer.kind, signed.signer.key_fingerprint, dict(signed.optional)) == ("key", fingerprint,
                                                                                         {"team": "a"})
    attested = _check(_att_layer(IMAGE))
    assert isinstance(attested, Accepted) and attested.statement is not None
    assert attested.signer.key_fingerprint == fingerprint


@pytest.mark.parametrize(
    ("candidate", "reason"),
    [
        # copied from another image's .sig: a good signature over a payload naming another digest
        (lambda: _sig_layer(build_payload("r.example/app", OTHER_IMAGE)), "not this image"),
        (lambda: _sig_layer(build_payload("r.example/app", IMAGE), ATTACKER), "not one of authority release's keys"),
        (lambda: _sig_layer(b'{"critical": {}}'), "not a cosign signature payload"),
        (lambda: _att_layer(OTHER_IMAGE), "not this image"),
        (lambda: _att_layer(IMAGE, ATTACKER), "not one of authority release's keys"),
    ],
    ids=["other-image-sig", "attacker-key-sig", "junk-payload", "other-image-att", "attacker-key-att"],
)
def test_a_refusal_is_a_value_with_its_reason(candidate: object, reason: str) -> None:
    result = _check(candidate())  # type: ignore[operator]
    assert isinstance(result, Refusal), result
    assert reason in result.reason


def test_a_signed_attestation_moved_into_a_sig_layer_does_not_count() -> None:
    """The envelope's bytes as a `.sig` payload: no simple-signing payload, so no signature."""
    moved = _att_layer(IMAGE)
    layer = TagSignature(moved.source, Descriptor.of(moved.envelope_blob, SIMPLE_SIGNING), moved.envelope_blob,
                         KEY.sign(moved.envelope_blob, ec.ECDSA(hashes.SHA256())))
    result = _check(layer)
    assert isinstance(result, Refusal) and "not a cosign signature payload" in result.reason


def test_candidate_types_hold_only_what_their_place_carries() -> None:
    """No optional payload/envelope/bundle: a tag signature cannot be built without its payload
    and signature, nor a bundle referrer without its bundle."""
    assert {f.name for f in fields(TagSignature)} == {"source", "layer", "payload", "signature", "material"}
    assert {f.name for f in fields(TagAttestation)} == {
        "source", "layer", "envelope", "envelope_blob", "predicate_type", "material"}
    assert {f.name for f in fields(BundleReferrer)} == {"kind", "source", "layer", "bundle", "predicate_type"}
    with pytest.raises(TypeError):
        TagSignature("s", Descriptor.of(b"x", SIMPLE_SIGNING), b"x")  # type: ignore[call-arg]
    assert LayerMaterial() == LayerMaterial(None, None, None, None)


def test_a_gate_opens_registry_stores_with_its_own_client_pool() -> None:
    ref = ImageRef.parse("registry.example:5000/team/app:1")
    own = ClientPool()
    store = Gate(pool=own).open(ref)
    assert isinstance(store, RegistryStore)
    assert store.client is own.client("registry.example:5000")
    assert store.client is not SHARED_POOL.client("registry.example:5000")
    shared = Gate().open(ref)
    assert isinstance(shared, RegistryStore) and shared.client is SHARED_POOL.client("registry.example:5000")

