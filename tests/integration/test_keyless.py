"""Keyless signing against a real loopback Sigstore (Fulcio, Rekor v1, TSA from
`@sigstore/mock`), judged by two independent verifiers: sigstore-python
(`verify identity --offline` with the mock's trust config) and `@sigstore/verify`.

The mock accepts any well-formed token, so the identity in each certificate is the one
the test asked for; that lets the negative tests name a wrong identity or issuer and
expect a rejection for that reason alone.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from slsacheck.errors import VerificationError
from slsacheck.signing.bundle import verify_bundle
from slsacheck.signing.cosign_material import verify_cosign_material
from slsacheck.signing.dsse import Envelope as DsseEnvelope
from slsacheck.signing.identity import Identity
from slsacheck.signing.keyless import KeylessSigner
from slsacheck.signing.signer import Signer
from slsacheck.signing.trust import load_trusted_root
from tests.support.peers import js_verify, py_verify_identity
from tests.support.sigstore_mock import DEFAULT_ISSUER, MockSigstore, mock_sigstore

__all__ = ["mock_sigstore"]  # the fixture, imported for pytest

pytestmark = pytest.mark.integration

SUBJECT = "https://kubernetes.io/namespaces/ci/serviceaccounts/release-signer"
PAYLOAD = (
    b'{"critical":{"identity":{"docker-reference":"registry.example/app"},'
    b'"image":{"docker-manifest-digest":"sha256:' + b"ab" * 32 + b'"},'
    b'"type":"cosign container image signature"},"optional":null}'
)


def statement(artifact: bytes) -> bytes:
    return json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "registry.example/app", "digest": {"sha256": hashlib.sha256(artifact).hexdigest()}}],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {"buildDefinition": {"buildType": "https://tekton.dev/chains/v2/slsa"}},
        },
        separators=(",", ":"),
    ).encode()


@pytest.fixture(scope="module")
def signer(mock_sigstore: MockSigstore) -> KeylessSigner:
    return KeylessSigner(mock_sigstore.token(SUBJECT), trust_config=str(mock_sigstore.trust_config))


@pytest.fixture(scope="module")
def signed_message(signer: KeylessSigner, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("message")
    signed = signer.sign_message(PAYLOAD)
    (out / "payload.json").write_bytes(PAYLOAD)
    assert signed.material.sigstore_bundle is not None
    (out / "bundle.json").write_text(json.dumps(signed.material.sigstore_bundle))
    return {"artifact": out / "payload.json", "bundle": out / "bundle.json"}


@pytest.fixture(scope="module")
def signed_statement(signer: KeylessSigner, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dsse")
    artifact = b"the image manifest bytes"
    signed = signer.sign_dsse("application/vnd.in-toto+json", statement(artifact))
    (out / "artifact.bin").write_bytes(artifact)
    assert signed.material.sigstore_bundle is not None
    (out / "bundle.json").write_text(json.dumps(signed.material.sigstore_bundle))
    return {"artifact": out / "artifact.bin", "bundle": out / "bundle.json"}


def both_peers(
    mock: MockSigstore, bundle: Path, artifact: Path, *, identity: str = SUBJECT, issuer: str = DEFAULT_ISSUER
) -> tuple[Any, Any]:
    py = py_verify_identity(bundle, artifact, trust_config=mock.trust_config, identity=identity, issuer=issuer)
    js = js_verify(bundle, artifact=artifact, trusted_root=mock.trusted_root, identity=identity, issuer=issuer)
    return py, js


# -- the signatures verify with both independent verifiers ----------------------------------


def test_keyless_signer_is_a_signer(signer: KeylessSigner) -> None:
    assert isinstance(signer, Signer)
    assert SUBJECT in signer.description
    assert (signer.identity, signer.issuer) == (SUBJECT, DEFAULT_ISSUER)


def test_message_bundle_verifies_with_sigstore_python_and_sigstore_js(
    mock_sigstore: MockSigstore, signed_message: dict[str, Path]
) -> None:
    py, js = both_peers(mock_sigstore, signed_message["bundle"], signed_message["artifact"])
    assert py.ok, py.output
    assert js.ok, js.output


def test_dsse_bundle_verifies_with_sigstore_python_and_sigstore_js(
    mock_sigstore: MockSigstore, signed_statement: dict[str, Path]
) -> None:
    py, js = both_peers(mock_sigstore, signed_statement["bundle"], signed_statement["artifact"])
    assert py.ok, py.output
    assert js.ok, js.output
    # An attestation is about a digest (an image's); both peers take it without the bytes.
    digest = "sha256:" + hashlib.sha256(signed_statement["artifact"].read_bytes()).hexdigest()
    py = py_verify_identity(
        signed_statement["bundle"],
        digest,
        trust_config=mock_sigstore.trust_config,
        identity=SUBJECT,
        issuer=DEFAULT_ISSUER,
    )
    assert py.ok, py.output
    js = js_verify(
        signed_statement["bundle"],
        digest=digest,
        trusted_root=mock_sigstore.trusted_root,
        identity=SUBJECT,
        issuer=DEFAULT_ISSUER,
    )
    assert js.ok, js.output


# -- what cosign's annotations need is there and is right -----------------------------------


def test_message_material_has_leaf_chain_set_and_timestamp(signer: KeylessSigner, mock_sigstore: MockSigstore) -> None:
    signed = signer.sign_message(PAYLOAD)
    material = signed.material
    assert material.certificate and material.chain and material.rekor_bundle and material.sigstore_bundle
    leaf = x509.load_pem_x509_certificate(material.certificate)
    chain = x509.load_pem_x509_certificates(material.chain)

    # The chain ends at the trusted root's Fulcio CA and signs the leaf.
    root_doc = json.loads(mock_sigstore.trusted_root.read_text())
    fulcio_root = base64.b64decode(root_doc["certificateAuthorities"][0]["certChain"]["certificates"][-1]["rawBytes"])
    assert chain[-1].public_bytes(serialization.Encoding.DER) == fulcio_root
    leaf.verify_directly_issued_by(chain[0])
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [SUBJECT]

    # The signature is ECDSA-SHA256 over the exact payload bytes, by the leaf's key:
    # what cosign puts in `dev.cosignproject.cosign/signature`.
    public_key = leaf.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(signed.signature, PAYLOAD, ec.ECDSA(hashes.SHA256()))

    # The SET verifies with the trusted root's Rekor key over the canonical payload.
    rekor = material.rekor_bundle
    assert set(rekor) == {"SignedEntryTimestamp", "Payload"}
    assert set(rekor["Payload"]) == {"body", "integratedTime", "logIndex", "logID"}
    assert isinstance(rekor["Payload"]["integratedTime"], int)
    assert isinstance(rekor["Payload"]["logIndex"], int)
    tlog = root_doc["tlogs"][0]
    assert rekor["Payload"]["logID"] == base64.b64decode(tlog["logId"]["keyId"]).hex()
    rekor_key = serialization.load_der_public_key(base64.b64decode(tlog["publicKey"]["rawBytes"]))
    assert isinstance(rekor_key, ec.EllipticCurvePublicKey)
    rekor_key.verify(
        base64.b64decode(rekor["SignedEntryTimestamp"]),
        rfc8785.dumps(dict(rekor["Payload"])),
        ec.ECDSA(hashes.SHA256()),
    )
    # The logged body names this signature and this certificate.
    body = json.loads(base64.b64decode(rekor["Payload"]["body"]))
    assert body["kind"] == "hashedrekord"
    assert base64.b64decode(body["spec"]["signature"]["content"]) == signed.signature
    assert body["spec"]["data"]["hash"]["value"] == hashlib.sha256(PAYLOAD).hexdigest()

    # The mock's TSA answered sigstore-python's RFC 3161 request.
    assert material.rfc3161_timestamp is not None
    stamps = material.sigstore_bundle["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
    assert base64.b64decode(stamps[0]["signedTimestamp"]) == material.rfc3161_timestamp


def test_dsse_envelope_is_the_statement_signed_over_pae(signer: KeylessSigner) -> None:
    payload = statement(b"artifact")
    signed = signer.sign_dsse("application/vnd.in-toto+json", payload)
    envelope = signed.envelope
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert base64.b64decode(envelope["payload"]) == payload  # bytes kept exactly
    assert signed.material.certificate is not None
    leaf_key = x509.load_pem_x509_certificate(signed.material.certificate).public_key()
    assert isinstance(leaf_key, ec.EllipticCurvePublicKey)
    payload_type = envelope["payloadType"].encode()
    pae = b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type, len(payload), payload)
    leaf_key.verify(base64.b64decode(envelope["signatures"][0]["sig"]), pae, ec.ECDSA(hashes.SHA256()))
    assert signed.material.rekor_bundle is not None
    body = json.loads(base64.b64decode(signed.material.rekor_bundle["Payload"]["body"]))
    assert body["kind"] == "dsse"


def test_one_certificate_for_every_signature_of_a_signer(signer: KeylessSigner) -> None:
    first = signer.sign_message(b"one")
    second = signer.sign_dsse("application/vnd.in-toto+json", statement(b"two"))
    assert first.material.certificate == second.material.certificate


# -- the peers reject what they must ------------------------------------------------------


def _tampered(bundle: Path, out: Path, change: Any) -> Path:
    doc = copy.deepcopy(json.loads(bundle.read_text()))
    change(doc)
    out.write_text(json.dumps(doc))
    return out


def _rejected_by_both(
    mock: MockSigstore, bundle: Path, artifact: Path, *, identity: str = SUBJECT, issuer: str = DEFAULT_ISSUER
) -> tuple[Any, Any]:
    """Both peers' results for `bundle`, having asserted that neither accepts it."""
    py, js = both_peers(mock, bundle, artifact, identity=identity, issuer=issuer)
    assert not py.ok, py.output
    assert not js.ok, js.output
    return py, js


def _flip_b64(value: str) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[len(raw) // 2] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def test_tampered_message_signature_is_rejected_by_both_peers(
    mock_sigstore: MockSigstore, signed_message: dict[str, Path], tmp_path: Path
) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["messageSignature"]["signature"] = _flip_b64(doc["messageSignature"]["signature"])

    bad = _tampered(signed_message["bundle"], tmp_path / "bad.json", change)
    _rejected_by_both(mock_sigstore, bad, signed_message["artifact"])


def test_other_artifact_is_rejected_by_both_peers(
    mock_sigstore: MockSigstore, signed_message: dict[str, Path], tmp_path: Path
) -> None:
    other = tmp_path / "other.json"
    other.write_bytes(PAYLOAD.replace(b"ab", b"cd"))
    _rejected_by_both(mock_sigstore, signed_message["bundle"], other)


def test_tampered_dsse_payload_is_rejected_by_both_peers(
    mock_sigstore: MockSigstore, signed_statement: dict[str, Path], tmp_path: Path
) -> None:
    def change(doc: dict[str, Any]) -> None:
        stmt = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
        stmt["predicate"]["buildDefinition"]["buildType"] = "https://evil.example/build"
        doc["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(stmt).encode()).decode()

    bad = _tampered(signed_statement["bundle"], tmp_path / "bad.json", change)
    _rejected_by_both(mock_sigstore, bad, signed_statement["artifact"])


def test_tampered_log_entry_is_rejected_by_both_peers(
    mock_sigstore: MockSigstore, signed_message: dict[str, Path], tmp_path: Path
) -> None:
    # The log index is covered by the Signed Entry Timestamp and by nothing else a
    # verifier recomputes, so only the SET check can catch this change.
    def change(doc: dict[str, Any]) -> None:
        entry = doc["verificationMaterial"]["tlogEntries"][0]
        entry["logIndex"] = str(int(entry["logIndex"]) + 1)

    bad = _tampered(signed_message["bundle"], tmp_path / "bad.json", change)
    py, js = _rejected_by_both(mock_sigstore, bad, signed_message["artifact"])
    assert py.says("invalid inclusion promise"), py.output
    assert js.says("TLOG_INCLUSION_PROMISE_ERROR"), js.output


def test_wrong_identity_or_issuer_is_rejected_by_both_peers(
    mock_sigstore: MockSigstore, signed_message: dict[str, Path]
) -> None:
    for identity, issuer in [(SUBJECT + "-other", DEFAULT_ISSUER), (SUBJECT, "https://other-issuer.invalid")]:
        py, js = _rejected_by_both(
            mock_sigstore, signed_message["bundle"], signed_message["artifact"], identity=identity, issuer=issuer
        )
        assert py.says("SANs do not match") or py.says("OIDCIssuer does not match"), py.output
        assert js.says("UNTRUSTED_SIGNER_ERROR"), js.output


# -- slsacheck's own verifiers accept what the keyless signer made -------------------------


def test_keyless_bundles_verify_with_slsacheck(
    mock_sigstore: MockSigstore, signed_message: dict[str, Path], signed_statement: dict[str, Path]
) -> None:
    root = load_trusted_root(mock_sigstore.trusted_root)
    identity = Identity(subject=SUBJECT, issuer=DEFAULT_ISSUER)
    for signed, kind in [(signed_message, "message"), (signed_statement, "dsse")]:
        result = verify_bundle(
            signed["bundle"].read_bytes(),
            artifact=signed["artifact"].read_bytes(),
            identity=identity,
            trusted_root=root,
        )
        assert (result.kind, result.subject, result.issuer) == (kind, SUBJECT, DEFAULT_ISSUER)
        assert result.timestamps  # the RFC 3161 timestamp from the mock TSA was checked too


def test_cosign_material_verifies_with_slsacheck(signer: KeylessSigner, mock_sigstore: MockSigstore) -> None:
    root = load_trusted_root(mock_sigstore.trusted_root)
    identity = Identity(subject=SUBJECT, issuer=DEFAULT_ISSUER)
    message = signer.sign_message(PAYLOAD)
    m = message.material
    assert m.certificate is not None and m.rekor_bundle is not None
    verified = verify_cosign_material(
        message.signature,
        PAYLOAD,
        certificate_pem=m.certificate,
        chain_pem=m.chain,
        rekor_bundle=m.rekor_bundle,
        identity=identity,
        trusted_root=root,
    )
    assert verified.log_index == m.rekor_bundle["Payload"]["logIndex"]

    attested = signer.sign_dsse("application/vnd.in-toto+json", statement(b"image"))
    envelope = DsseEnvelope.from_json(dict(attested.envelope))
    a = attested.material
    assert a.certificate is not None and a.rekor_bundle is not None
    verify_cosign_material(
        envelope.signatures[0].sig,
        envelope.pae(),
        certificate_pem=a.certificate,
        chain_pem=a.chain,
        rekor_bundle=a.rekor_bundle,
        identity=identity,
        trusted_root=root,
        envelope=envelope,
    )

    # A SET over another log index, or a signature from another entry, does not pass.
    forged = {**m.rekor_bundle, "Payload": {**m.rekor_bundle["Payload"], "logIndex": 1 + verified.log_index}}
    with pytest.raises(VerificationError):
        verify_cosign_material(
            message.signature,
            PAYLOAD,
            certificate_pem=m.certificate,
            chain_pem=m.chain,
            rekor_bundle=forged,
            identity=identity,
            trusted_root=root,
        )
    with pytest.raises(VerificationError):
        verify_cosign_material(
            message.signature,
            PAYLOAD,
            certificate_pem=m.certificate,
            chain_pem=m.chain,
            rekor_bundle=a.rekor_bundle,
            identity=identity,
            trusted_root=root,
        )
