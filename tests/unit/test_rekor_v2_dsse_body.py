"""A Rekor v2 `dsse` 0.0.2 entry (what cosign 3 and sigstore-js log for an attestation)
vouches for an envelope only when its body names that envelope's payload, signature and
signer. Each test builds the body an attacker would present: an honest entry of another
envelope, another signer's, one with the hash in another algorithm."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from slsacheck.errors import VerificationError
from slsacheck.signing._rekor_body import Binding, verify_body
from slsacheck.signing._tlog import TlogEntry
from tests.support.private_sigstore import make_ca

PAYLOAD = b'{"_type":"https://in-toto.io/Statement/v1"}'
SIGNATURE = b"\x30\x44" + b"s" * 68
_, SIGNER = make_ca("signer")
_, OTHER = make_ca("someone else")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _verifier(cert: x509.Certificate) -> dict[str, Any]:
    return {"x509Certificate": {"rawBytes": _b64(cert.public_bytes(serialization.Encoding.DER))},
            "keyDetails": "PKIX_ECDSA_P256_SHA_256"}


def _entry(*, payload: bytes = PAYLOAD, signature: bytes = SIGNATURE, cert: x509.Certificate = SIGNER,
           algorithm: str = "SHA2_256", signatures: list[dict[str, Any]] | None = None) -> TlogEntry:
    spec = {
        "payloadHash": {"algorithm": algorithm, "digest": _b64(hashlib.sha256(payload).digest())},
        "signatures": signatures if signatures is not None
        else [{"content": _b64(signature), "verifier": _verifier(cert)}],
    }
    body = json.dumps({"apiVersion": "0.0.2", "kind": "dsse", "spec": {"dsseV002": spec}}).encode()
    return TlogEntry(log_index=0, log_id=b"l" * 32, kind="dsse", version="0.0.2", body=body,
                     integrated_time=None, set_signature=None, proof=None)


BINDING = Binding(signature=SIGNATURE, verifier=SIGNER, signed_digests={}, payload_type="application/vnd.in-toto+json",
                  payload=PAYLOAD)


def test_the_entry_of_this_envelope_binds() -> None:
    verify_body(_entry(), BINDING)
    # Among several signatures, this one by this signer is enough.
    others = [{"content": _b64(b"another"), "verifier": _verifier(OTHER)},
              {"content": _b64(SIGNATURE), "verifier": _verifier(SIGNER)}]
    verify_body(_entry(signatures=others), BINDING)


@pytest.mark.parametrize(
    ("forged", "words"),
    [
        (_entry(payload=b'{"another": "statement"}'), "DSSE payload hash"),
        (_entry(algorithm="SHA2_384"), "DSSE payload hash"),
        (_entry(signature=b"another signature"), "does not list this envelope's signature"),
        (_entry(cert=OTHER), "does not list this envelope's signature"),
        (_entry(signatures=[]), "does not list this envelope's signature"),
        # This signature, but listed with another signer; and another's signature with this signer.
        (_entry(signatures=[{"content": _b64(SIGNATURE), "verifier": _verifier(OTHER)},
                            {"content": _b64(b"x"), "verifier": _verifier(SIGNER)}]),
         "does not list this envelope's signature"),
    ],
)
def test_an_entry_naming_anything_else_is_refused(forged: TlogEntry, words: str) -> None:
    with pytest.raises(VerificationError, match=words):
        verify_body(forged, BINDING)


def test_a_dsse_entry_never_vouches_for_a_message_signature() -> None:
    message = Binding(signature=SIGNATURE, verifier=SIGNER, signed_digests={"sha256": hashlib.sha256(PAYLOAD).digest()})
    with pytest.raises(VerificationError, match="cannot log a message signature"):
        verify_body(_entry(), message)


def test_a_body_without_its_fields_is_a_mismatch_not_a_crash() -> None:
    body = json.dumps({"apiVersion": "0.0.2", "kind": "dsse", "spec": {"dsseV002": {}}}).encode()
    bare = TlogEntry(log_index=0, log_id=b"l" * 32, kind="dsse", version="0.0.2", body=body,
                     integrated_time=None, set_signature=None, proof=None)
    with pytest.raises(VerificationError, match="lacks a field"):
        verify_body(bare, BINDING)
