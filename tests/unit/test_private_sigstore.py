"""cosign's legacy keyless material against a private Sigstore the test makes: its own
Fulcio-like CA, its own Rekor key signing real SETs, and a trust root naming both.

With keys in hand every check can be exercised on its own, with everything else valid:
the SET, the body binding (a valid SET for another signature proves nothing), the
certificate's validity at the integrated time, and the identity.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from slsacheck.errors import VerificationError
from slsacheck.signing.cosign_material import verify_cosign_material
from slsacheck.signing.dsse import pae
from tests.support.private_sigstore import (
    IDENTITY,
    ISSUER,
    START,
    SUBJECT,
    PrivateSigstore,
    b64,
    hashedrekord,
    make_private_sigstore,
)


@pytest.fixture(scope="module")
def sigstore() -> PrivateSigstore:
    return make_private_sigstore()


def _verify(s: PrivateSigstore, signature: bytes, payload: bytes, cert: x509.Certificate, rekor: Any, **kw: Any) -> Any:
    return verify_cosign_material(
        signature,
        payload,
        certificate_pem=cert.public_bytes(serialization.Encoding.PEM),
        chain_pem=s.ca.public_bytes(serialization.Encoding.PEM),
        rekor_bundle=rekor,
        identity=IDENTITY,
        trusted_root=s.root,
        **kw,
    )


SIGNED_AT = START + dt.timedelta(days=30)
PAYLOAD = (
    b'{"critical":{"identity":{"docker-reference":"r.example/app"},"image":{"docker-manifest-digest":"sha256:'
    + b"a" * 64
    + b'"},"type":"cosign container image signature"},"optional":null}'
)


def test_valid_simple_signing_with_expired_certificate_and_valid_set(sigstore: PrivateSigstore) -> None:
    key, cert = sigstore.leaf(SIGNED_AT)
    signature = key.sign(PAYLOAD, ec.ECDSA(hashes.SHA256()))
    rekor = sigstore.rekor_set(hashedrekord(signature, PAYLOAD, cert), SIGNED_AT + dt.timedelta(minutes=1))
    signer = _verify(sigstore, signature, PAYLOAD, cert, rekor)  # the certificate expired long ago; the SET says when
    assert (signer.subject, signer.issuer, signer.log_index) == (SUBJECT, ISSUER, 7)
    assert signer.integrated_time == SIGNED_AT + dt.timedelta(minutes=1)


def test_set_after_certificate_expiry_fails(sigstore: PrivateSigstore) -> None:
    key, cert = sigstore.leaf(SIGNED_AT)
    signature = key.sign(PAYLOAD, ec.ECDSA(hashes.SHA256()))
    rekor = sigstore.rekor_set(hashedrekord(signature, PAYLOAD, cert), SIGNED_AT + dt.timedelta(hours=1))
    with pytest.raises(VerificationError, match="does not chain to a trusted Fulcio CA at signing time"):
        _verify(sigstore, signature, PAYLOAD, cert, rekor)


def test_valid_set_for_another_signature_fails(sigstore: PrivateSigstore) -> None:
    key, cert = sigstore.leaf(SIGNED_AT)
    signature = key.sign(PAYLOAD, ec.ECDSA(hashes.SHA256()))
    other_payload = PAYLOAD.replace(b"a" * 64, b"b" * 64)
    other = key.sign(other_payload, ec.ECDSA(hashes.SHA256()))
    logged_other = sigstore.rekor_set(hashedrekord(other, other_payload, cert), SIGNED_AT + dt.timedelta(minutes=1))
    with pytest.raises(VerificationError, match="does not match this signature: artifact digest"):
        _verify(sigstore, signature, PAYLOAD, cert, logged_other)
    # a layer copied onto another image: its signature does not cover that image's payload
    logged = sigstore.rekor_set(hashedrekord(signature, PAYLOAD, cert), SIGNED_AT + dt.timedelta(minutes=1))
    with pytest.raises(VerificationError, match="does not verify"):
        _verify(sigstore, signature, other_payload, cert, logged)


def test_set_signed_by_another_key_fails(sigstore: PrivateSigstore) -> None:
    key, cert = sigstore.leaf(SIGNED_AT)
    signature = key.sign(PAYLOAD, ec.ECDSA(hashes.SHA256()))
    rekor = sigstore.rekor_set(hashedrekord(signature, PAYLOAD, cert), SIGNED_AT + dt.timedelta(minutes=1))
    forged = ec.generate_private_key(ec.SECP256R1())
    canonical = json.dumps(rekor["Payload"], sort_keys=True, separators=(",", ":")).encode()
    rekor["SignedEntryTimestamp"] = b64(forged.sign(canonical, ec.ECDSA(hashes.SHA256())))
    with pytest.raises(VerificationError, match="signed entry timestamp"):
        _verify(sigstore, signature, PAYLOAD, cert, rekor)


def test_integrated_time_in_the_future_fails(sigstore: PrivateSigstore) -> None:
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    key, cert = sigstore.leaf(future - dt.timedelta(minutes=1))
    signature = key.sign(PAYLOAD, ec.ECDSA(hashes.SHA256()))
    rekor = sigstore.rekor_set(hashedrekord(signature, PAYLOAD, cert), future)
    with pytest.raises(VerificationError, match="in the future"):
        _verify(sigstore, signature, PAYLOAD, cert, rekor)


def test_dsse_layer_with_intoto_entry(sigstore: PrivateSigstore) -> None:
    key, cert = sigstore.leaf(SIGNED_AT)
    statement = b'{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x","predicate":{}}'
    signed = pae("application/vnd.in-toto+json", statement)
    signature = key.sign(signed, ec.ECDSA(hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    body = json.dumps(
        {
            "apiVersion": "0.0.2",
            "kind": "intoto",
            "spec": {
                "content": {
                    "envelope": {
                        "payloadType": "application/vnd.in-toto+json",
                        "signatures": [{"sig": b64(b64(signature).encode()), "publicKey": b64(pem)}],
                    },
                    "hash": {"algorithm": "sha256", "value": "0" * 64},
                    "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(statement).hexdigest()},
                }
            },
        }
    ).encode()
    rekor = sigstore.rekor_set(body, SIGNED_AT + dt.timedelta(minutes=1))
    assert _verify(sigstore, signature, signed, cert, rekor).subject == SUBJECT
    # the same entry cannot vouch for another payload type over the same statement
    retyped = pae("application/json", statement)
    other_sig = key.sign(retyped, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(VerificationError, match="does not match this signature"):
        _verify(sigstore, other_sig, retyped, cert, rekor)
