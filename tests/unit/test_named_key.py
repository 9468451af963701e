"""How a refusal names the key that signed, from each place evidence names it (no network):
a bundle's transparency-log entry, a cosign layer's certificate, cosign's base64 key hint;
a named key is believed only when the signature verifies with it."""

from __future__ import annotations

import base64
import datetime as dt
import json

from cryptography.hazmat.primitives.asymmetric import ec

from slsacheck.attach.candidates import BundleReferrer, LayerMaterial, TagSignature
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Descriptor
from slsacheck.models.digest import Digest
from slsacheck.signing.keys import fingerprint
from slsacheck.verify.named_key import COMMAND_LINE, foreign_key_reason
from tests.support.private_sigstore import PEM, hashedrekord, make_private_sigstore

RELEASE = ec.generate_private_key(ec.SECP256R1())
SIGNER = ec.generate_private_key(ec.SECP256R1())
FPS = [fingerprint(RELEASE.public_key())]
LAYER = Descriptor(mt.DSSE_ENVELOPE, Digest.of(b"x"), 1)


def _fp(key: ec.EllipticCurvePrivateKey) -> str:
    return "sha256:" + fingerprint(key.public_key())[:16]


def _is_signer(key: object) -> bool:
    return fingerprint(key) == fingerprint(SIGNER.public_key())  # type: ignore[arg-type]


def _bundle(material: dict[str, object]) -> BundleReferrer:
    return BundleReferrer("signature", "repo referrer sha256:x", LAYER, {"verificationMaterial": material}, None)


def test_a_bundle_names_its_key_in_its_log_entry() -> None:
    body = base64.b64encode(hashedrekord(b"sig", b"payload", SIGNER.public_key())).decode()
    said = foreign_key_reason(_bundle({"tlogEntries": [{"canonicalizedBody": body}]}), "release", FPS, _is_signer)
    assert said == (f"signed by key {_fp(SIGNER)} (named by the bundle's transparency-log entry), not a key of "
                    f"authority release (its keys: {_fp(RELEASE)})")


def test_cosign_writes_the_hint_as_base64_of_the_fingerprint() -> None:
    hint = base64.b64encode(bytes.fromhex(fingerprint(SIGNER.public_key()))).decode()
    said = foreign_key_reason(_bundle({"publicKey": {"hint": hint}}), "release", FPS, _is_signer)
    assert said.startswith(f"signed by key {_fp(SIGNER)} (as the bundle's publicKey hint says)")


def test_a_layer_certificate_names_the_key_it_certifies() -> None:
    sigstore = make_private_sigstore()
    key, cert = sigstore.leaf(dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
    layer = TagSignature("repo:sha256-x.sig layer 0", LAYER, b"p", b"s",
                         LayerMaterial(certificate=cert.public_bytes(PEM)))
    said = foreign_key_reason(layer, "release", FPS, lambda k: fingerprint(k) == fingerprint(key.public_key()))
    assert said.startswith(f"signed by key {_fp(key)} (named by the layer's certificate)")


def test_a_named_key_that_did_not_sign_is_not_believed() -> None:
    body = base64.b64encode(hashedrekord(b"sig", b"payload", SIGNER.public_key())).decode()
    said = foreign_key_reason(_bundle({"tlogEntries": [{"canonicalizedBody": body}]}), "release", FPS,
                              lambda _: False)
    assert said == (f"signed by a key that is not one of authority release's keys ({_fp(RELEASE)}), or changed "
                    f"after signing; {_fp(SIGNER)} named by the evidence does not verify it either")


def test_garbage_where_a_key_should_be_names_nothing() -> None:
    layer = TagSignature("repo:sha256-x.sig layer 0", LAYER, b"p", b"s",
                         LayerMaterial(rekor_bundle={"Payload": {"body": "not base64 !"}}))
    said = foreign_key_reason(layer, "release", FPS, _is_signer)
    assert said.endswith("the evidence does not name the key")


def test_the_keys_of_verify_key_are_named_as_the_flag_not_as_an_authority() -> None:
    body = base64.b64encode(hashedrekord(b"sig", b"payload", SIGNER.public_key())).decode()
    bundle = _bundle({"tlogEntries": [{"canonicalizedBody": body}]})
    named = foreign_key_reason(bundle, COMMAND_LINE, FPS, _is_signer)
    assert named == (f"signed by key {_fp(SIGNER)} (named by the bundle's transparency-log entry), not a key "
                     f"given with --key ({_fp(RELEASE)})")
    unnamed = foreign_key_reason(bundle, COMMAND_LINE, FPS, lambda _: False)
    assert unnamed.startswith(f"signed by a key that is not one of the keys given with --key ({_fp(RELEASE)})")
    assert "authority" not in named + unnamed


def test_an_entry_listing_thousands_of_keys_costs_a_bounded_number_of_tries() -> None:
    from cryptography.hazmat.primitives import serialization

    from slsacheck.verify.named_key import MAX_NAMED_KEYS

    def verifier(key: ec.EllipticCurvePrivateKey) -> str:
        pem = key.public_key().public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(pem).decode()

    decoys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(MAX_NAMED_KEYS)]
    listed = [{"verifier": verifier(k)} for k in decoys * 250] + [{"verifier": verifier(SIGNER)}]
    body = base64.b64encode(json.dumps({"kind": "dsse", "spec": {"signatures": listed}}).encode()).decode()
    tried: list[object] = []

    def verifies(key: object) -> bool:
        tried.append(key)
        return _is_signer(key)

    said = foreign_key_reason(_bundle({"tlogEntries": [{"canonicalizedBody": body}]}), "release", FPS, verifies)
    assert len(tried) == MAX_NAMED_KEYS  # the signer, listed after 2,000 decoys, is never reached
    assert said.startswith("signed by a key that is not one of authority release's keys")
