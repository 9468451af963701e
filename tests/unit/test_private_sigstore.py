"""cosign's legacy keyless material against a private Sigstore the test makes: its own
Fulcio-like CA, its own Rekor key signing real SETs, and a trust root naming both.

With keys in hand every check can be exercised on its own, with everything else valid:
the SET, the body binding (a valid SET for another signature proves nothing), the
certificate's validity at the integrated time, and the identity.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from slsacheck.errors import VerificationError
from slsacheck.signing.bundle import verify_cosign_material
from slsacheck.signing.dsse import pae
from slsacheck.signing.identity import Identity
from slsacheck.signing.trust import TrustedRoot, trusted_root_from_json

SUBJECT = "https://kubernetes.io/namespaces/ci/serviceaccounts/builder"
ISSUER = "https://issuer.example"
IDENTITY = Identity(subject=SUBJECT, issuer=ISSUER)
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DER = serialization.Encoding.DER
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


@dataclass(frozen=True)
class Instance:
    root: TrustedRoot
    ca_key: ec.EllipticCurvePrivateKey
    ca: x509.Certificate
    rekor_key: ec.EllipticCurvePrivateKey

    @property
    def log_id(self) -> bytes:
        return hashlib.sha256(self.rekor_key.public_key().public_bytes(DER, SPKI)).digest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def sigstore() -> Instance:
    ca_key, rekor_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "private fulcio")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(START)
        .not_valid_after(START + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    rekor_der = rekor_key.public_key().public_bytes(DER, SPKI)
    window = {"start": START.strftime("%Y-%m-%dT%H:%M:%SZ")}
    doc = {
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [
            {
                "baseUrl": "https://rekor.example",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {"rawBytes": _b64(rekor_der), "keyDetails": "PKIX_ECDSA_P256_SHA_256", "validFor": window},
                "logId": {"keyId": _b64(hashlib.sha256(rekor_der).digest())},
            }
        ],
        "certificateAuthorities": [
            {
                "uri": "https://fulcio.example",
                "certChain": {"certificates": [{"rawBytes": _b64(ca.public_bytes(DER))}]},
                "validFor": window,
            }
        ],
        "ctlogs": [],
        "timestampAuthorities": [],
    }
    return Instance(trusted_root_from_json(doc, source="private"), ca_key, ca, rekor_key)


def _leaf(s: Instance, not_before: dt.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_ext = b"\x0c" + bytes([len(ISSUER)]) + ISSUER.encode()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(s.ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + dt.timedelta(minutes=10))
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(SUBJECT)]), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(s.ca_key.public_key()), critical=False)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8"), issuer_ext), critical=False
        )
        .sign(s.ca_key, hashes.SHA256())
    )
    return key, cert


def _hashedrekord(signature: bytes, payload: bytes, cert: x509.Certificate) -> bytes:
    pem = cert.public_bytes(serialization.Encoding.PEM)
    return json.dumps(
        {
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()}},
                "signature": {"content": _b64(signature), "publicKey": {"content": _b64(pem)}},
            },
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()


def _set(s: Instance, body: bytes, integrated: dt.datetime, log_index: int = 7) -> dict[str, Any]:
    payload = {
        "body": _b64(body),
        "integratedTime": int(integrated.timestamp()),
        "logID": s.log_id.hex(),
        "logIndex": log_index,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return {"SignedEntryTimestamp": _b64(s.rekor_key.sign(canonical, ec.ECDSA(hashes.SHA256()))), "Payload": payload}


def _verify(s: Instance, signature: bytes, payload: bytes, cert: x509.Certificate, rekor: Any, **kw: Any) -> Any:
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


def test_valid_simple_signing_with_expired_certificate_and_valid_set(sigstore: Instance) -> None:
    key, cert = _leaf(sigstore, SIGNED_AT)
    signature = key.sign(PAYLOAD, ec.ECDSA(hashes.SHA256()))
    rekor = _set(sigstore, _hashedrekord(signature, PAYLOAD, cert), SIGNED_AT + dt.timedelta(minutes=1))
    signer = _verify(sigstore, signature, PAYLOAD, cert, rekor)  # the certificate expired long ago; the SET says when
    assert (signer.subject, signer.issuer, signer.log_index) == (SUBJECT, ISSUER, 7)
    assert signer.integrated_time == SIGNED_AT + dt.timedelta(minutes=1)


def test_set_after_certificate_expiry_fails(sigstore: Instance) -> None:
    key, cert = _leaf(sigstore, SIGNED_AT)
    signature = key.sign(PAYLOAD, ec.ECDSA(hashes.SHA256()))
    rekor = _set(sigstore, _hashedrekord(signature, PAYLOAD, cert), SIGNED_AT + dt.timedelta(hours=1))
    with pytest.raises(VerificationError, match="does not chain to a trusted Fulcio CA at signing time"):
        _verify(sigstore, signature, PAYLOAD, cert, rekor)


def test_valid_set_for_another_signature_fails(sigstore: Instance) -> None:
    key, cert = _leaf(sigstore, SIGNED_AT)
    signature = key.sign(PAYLOAD, ec.ECDSA(hashes.SHA256()))
    other_payload = PAYLOAD.replace(b"a" * 64, b"b" * 64)
    other = key.sign(other_payload, ec.ECDSA(hashes.SHA256()))
    logged_other = _set(sigstore, _hashedrekord(other, other_payload, cert), SIGNED_AT + dt.timedelta(minutes=1))
    with pytest.raises(VerificationError, match="does not match this signature: artifact digest"):
        _verify(sigstore, signature, PAYLOAD, cert, logged_other)
    # a layer copied onto another image: its signature does not cover that image's payload
    logged = _set(sigstore, _hashedrekord(signature, PAYLOAD, cert), SIGNED_AT + dt.timedelta(minutes=1))
    with pytest.raises(VerificationError, match="does not verify"):
        _verify(sigstore, signature, other_payload, cert, logged)


def test_set_signed_by_another_key_fails(sigstore: Instance) -> None:
    key, cert = _leaf(sigstore, SIGNED_AT)
    signature = key.sign(PAYLOAD, ec.ECDSA(hashes.SHA256()))
    rekor = _set(sigstore, _hashedrekord(signature, PAYLOAD, cert), SIGNED_AT + dt.timedelta(minutes=1))
    forged = ec.generate_private_key(ec.SECP256R1())
    canonical = json.dumps(rekor["Payload"], sort_keys=True, separators=(",", ":")).encode()
    rekor["SignedEntryTimestamp"] = _b64(forged.sign(canonical, ec.ECDSA(hashes.SHA256())))
    with pytest.raises(VerificationError, match="signed entry timestamp"):
        _verify(sigstore, signature, PAYLOAD, cert, rekor)


def test_integrated_time_in_the_future_fails(sigstore: Instance) -> None:
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    key, cert = _leaf(sigstore, future - dt.timedelta(minutes=1))
    signature = key.sign(PAYLOAD, ec.ECDSA(hashes.SHA256()))
    rekor = _set(sigstore, _hashedrekord(signature, PAYLOAD, cert), future)
    with pytest.raises(VerificationError, match="in the future"):
        _verify(sigstore, signature, PAYLOAD, cert, rekor)


def test_dsse_layer_with_intoto_entry(sigstore: Instance) -> None:
    key, cert = _leaf(sigstore, SIGNED_AT)
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
                        "signatures": [{"sig": _b64(_b64(signature).encode()), "publicKey": _b64(pem)}],
                    },
                    "hash": {"algorithm": "sha256", "value": "0" * 64},
                    "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(statement).hexdigest()},
                }
            },
        }
    ).encode()
    rekor = _set(sigstore, body, SIGNED_AT + dt.timedelta(minutes=1))
    assert _verify(sigstore, signature, signed, cert, rekor).subject == SUBJECT
    # the same entry cannot vouch for another payload type over the same statement
    retyped = pae("application/json", statement)
    other_sig = key.sign(retyped, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(VerificationError, match="does not match this signature"):
        _verify(sigstore, other_sig, retyped, cert, rekor)
