"""DSSE: PAE, the envelope's exact JSON, strict parsing, verification, the slsa-verifier VSA."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from slsacheck.errors import VerificationError
from slsacheck.signing.dsse import (
    IN_TOTO_PAYLOAD_TYPE,
    Envelope,
    MalformedEnvelope,
    Signature,
    pae,
    verify_envelope,
)
from slsacheck.signing.keysigner import KeySigner
from slsacheck.signing.verify_sig import PublicKeyVerifier
from tests.support.env import shared_file

VERIFY = "anchors/verify"
VSA = "slsa-framework__slsa-verifier__cli__slsa-verifier__testdata__vsa__gce__v1__gke-gce-pre.bcid-vsa.jsonl"
VSA_KEY = "slsa-framework__slsa-verifier__cli__slsa-verifier__testdata__vsa__gce__v1__vsa_signing_public_key.pem"
VSA_KEYID = "keystore://76574:prod:vsa_signing_public_key"
STATEMENT = b'{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x","predicate":{}}'


@pytest.fixture(scope="module")
def signer() -> KeySigner:
    return KeySigner(ec.generate_private_key(ec.SECP256R1()))


def _verifier(s: KeySigner) -> PublicKeyVerifier:
    return PublicKeyVerifier.from_pem(s.public_key_pem)


def test_pae_is_dssev1() -> None:
    # The example from the DSSE protocol document.
    assert pae("http://example.com/HelloWorld", b"hello world") == \
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    assert pae("", b"") == b"DSSEv1 0  0 "
    assert pae("t\u00e9", b"\x00\xff") == b"DSSEv1 3 t\xc3\xa9 2 \x00\xff"  # lengths in bytes


def test_sign_dsse_writes_cosigns_envelope(signer: KeySigner) -> None:
    signed = signer.sign_dsse(IN_TOTO_PAYLOAD_TYPE, STATEMENT)
    env = dict(signed.envelope)
    assert list(env) == ["payloadType", "payload", "signatures"]
    assert env["payloadType"] == IN_TOTO_PAYLOAD_TYPE
    assert base64.b64decode(env["payload"]) == STATEMENT
    assert [list(s) for s in env["signatures"]] == [["keyid", "sig"]]
    assert env["signatures"][0]["keyid"] == ""
    assert signed.material.public_key_pem == signer.public_key_pem

    parsed = Envelope.from_json(env)
    assert parsed.to_json() == (
        b'{"payloadType":"application/vnd.in-toto+json","payload":"' + env["payload"].encode()
        + b'","signatures":[{"keyid":"","sig":"' + env["signatures"][0]["sig"].encode() + b'"}]}'
    )
    assert Envelope.from_json(parsed.to_json()) == parsed
    assert verify_envelope(parsed, _verifier(signer), expected_payload_type=IN_TOTO_PAYLOAD_TYPE) == STATEMENT
    # The signature is over PAE, not over the bare payload.
    _verifier(signer).verify(parsed.signatures[0].sig, pae(IN_TOTO_PAYLOAD_TYPE, STATEMENT))
    with pytest.raises(VerificationError):
        _verifier(signer).verify(parsed.signatures[0].sig, STATEMENT)


def test_ed25519_envelope(signer: KeySigner) -> None:
    ed = KeySigner(ed25519.Ed25519PrivateKey.generate())
    env = Envelope.from_json(ed.sign_dsse(IN_TOTO_PAYLOAD_TYPE, STATEMENT).envelope)
    assert verify_envelope(env, _verifier(ed)) == STATEMENT
    with pytest.raises(VerificationError):
        verify_envelope(env, _verifier(signer))


def test_changed_payload_type_payload_or_signature_fail(signer: KeySigner) -> None:
    env = Envelope.from_json(signer.sign_dsse(IN_TOTO_PAYLOAD_TYPE, STATEMENT).envelope)
    verifier = _verifier(signer)
    retyped = Envelope("application/json", env.payload, env.signatures)
    with pytest.raises(VerificationError, match="no DSSE signature verifies"):
        verify_envelope(retyped, verifier)
    with pytest.raises(VerificationError, match="payloadType is not the expected one"):
        verify_envelope(retyped, verifier, expected_payload_type=IN_TOTO_PAYLOAD_TYPE)
    with pytest.raises(VerificationError, match="no DSSE signature verifies") as info:
        verify_envelope(Envelope(env.payload_type, env.payload.replace(b"x", b"y"), env.signatures), verifier)
    assert "1 signature(s)" in (info.value.found or "")
    sig = bytearray(env.signatures[0].sig)
    sig[-1] ^= 0x80
    with pytest.raises(VerificationError):
        verify_envelope(Envelope(env.payload_type, env.payload, (Signature("", bytes(sig)),)), verifier)
    with pytest.raises(VerificationError, match="no signatures"):
        verify_envelope(Envelope(env.payload_type, env.payload, ()), verifier)


def test_one_good_signature_among_several(signer: KeySigner) -> None:
    other = KeySigner(ec.generate_private_key(ec.SECP256R1()))
    good = Envelope.from_json(signer.sign_dsse(IN_TOTO_PAYLOAD_TYPE, STATEMENT).envelope).signatures[0]
    bad = Envelope.from_json(other.sign_dsse(IN_TOTO_PAYLOAD_TYPE, STATEMENT).envelope).signatures[0]
    env = Envelope(IN_TOTO_PAYLOAD_TYPE, STATEMENT, (Signature("other", bad.sig), Signature("mine", good.sig)))
    assert verify_envelope(env, _verifier(signer)) == STATEMENT
    assert verify_envelope(env, _verifier(signer), keyid="mine") == STATEMENT
    with pytest.raises(VerificationError, match="no DSSE signature verifies"):
        verify_envelope(env, _verifier(signer), keyid="other")
    with pytest.raises(VerificationError, match="required keyid"):
        verify_envelope(env, _verifier(signer), keyid="")


def _valid() -> dict[str, Any]:
    return {"payloadType": "t", "payload": "aGk=", "signatures": [{"keyid": "k", "sig": "AAEC"}]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("payloadType"), "no payloadType"),
        (lambda d: d.update(payloadType=1), "no payloadType"),
        (lambda d: d.pop("payload"), "payload .* is not a base64 string"),
        (lambda d: d.update(payload="aGk=!"), "payload .* is not valid base64"),
        (lambda d: d.update(payload="aG k="), "payload .* is not valid base64"),
        (lambda d: d.update(payload="ab+_"), "mix of the standard and URL-safe"),
        (lambda d: d.update(payload="abcde"), "truncated"),
        (lambda d: d.update(payload="ab=="[:3] + "=="), "truncated"),
        (lambda d: d.update(signatures={}), "no signatures list"),
        (lambda d: d.update(signatures=["x"]), "signature 0 .* is not an object"),
        (lambda d: d["signatures"][0].pop("sig"), "sig of signature 0"),
        (lambda d: d["signatures"][0].update(keyid=3), "non-string keyid"),
    ],
)
def test_malformed_envelopes(change: Any, message: str) -> None:
    doc = _valid()
    change(doc)
    with pytest.raises(MalformedEnvelope, match=message):
        Envelope.from_json(doc)
    with pytest.raises(MalformedEnvelope, match=message):
        Envelope.from_json(json.dumps(doc).encode())


def test_malformed_json_text() -> None:
    with pytest.raises(MalformedEnvelope, match="not valid JSON"):
        Envelope.from_json(b'{"payloadType": ')
    with pytest.raises(MalformedEnvelope, match="not a JSON object"):
        Envelope.from_json(b"[1]")
    with pytest.raises(MalformedEnvelope, match="duplicate JSON key 'payload'"):
        Envelope.from_json(b'{"payloadType":"t","payload":"aGk=","payload":"aGo=","signatures":[]}')


def test_base64_forms_accepted() -> None:
    std = Envelope.from_json({"payloadType": "t", "payload": "+/+/", "signatures": [{"sig": "aGk"}]})
    url = Envelope.from_json({"payloadType": "t", "payload": "-_-_", "signatures": [{"sig": "aGk="}]})
    assert std.payload == url.payload == b"\xfb\xff\xbf"
    assert std.signatures == (Signature("", b"hi"),)  # missing keyid reads as empty


# -- upstream: slsa-framework's VSA, signed with a raw r||s (P1363) ECDSA signature ----------


def _vsa() -> tuple[Envelope, PublicKeyVerifier]:
    env = Envelope.from_json(shared_file(VERIFY, VSA).read_bytes(), where="the VSA")
    return env, PublicKeyVerifier.from_pem(shared_file(VERIFY, VSA_KEY).read_bytes())


def test_vsa_verifies_with_its_key() -> None:
    env, verifier = _vsa()
    assert len(env.signatures) == 1 and len(env.signatures[0].sig) == 64
    payload = verify_envelope(env, verifier, expected_payload_type=IN_TOTO_PAYLOAD_TYPE, keyid=VSA_KEYID)
    statement = json.loads(payload)
    assert statement["predicateType"] == "https://slsa.dev/verification_summary/v1"
    assert statement["subject"][0]["digest"] == {"gce_image_id": "8970095005306000053"}
    assert verify_envelope(env, verifier) == payload


@pytest.mark.parametrize("keyid", ["my_key_id", ""])
def test_vsa_fails_with_another_keyid(keyid: str) -> None:
    env, verifier = _vsa()
    with pytest.raises(VerificationError, match="required keyid"):
        verify_envelope(env, verifier, keyid=keyid)


def test_vsa_fails_with_a_flipped_byte() -> None:
    env, verifier = _vsa()
    for i in (0, 31, 32, 63):
        sig = bytearray(env.signatures[0].sig)
        sig[i] ^= 0x01
        with pytest.raises(VerificationError):
            verify_envelope(Envelope(env.payload_type, env.payload, (Signature(VSA_KEYID, bytes(sig)),)), verifier)
    payload = bytearray(env.payload)
    payload[100] ^= 0x01
    with pytest.raises(VerificationError):
        verify_envelope(Envelope(env.payload_type, bytes(payload), env.signatures), verifier)
    other = KeySigner(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(VerificationError):
        verify_envelope(env, _verifier(other))
