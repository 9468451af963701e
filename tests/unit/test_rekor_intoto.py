"""Rekor `intoto` 0.0.1 and 0.0.2 entries (older cosign `attest`, slsa-github-generator's
container provenance v1.4-v1.9) vouch for an attestation only when their body names it:
the payload, the signer, and the signature (0.0.2 lists it; 0.0.1 names the uploaded
envelope by its sha256, which is the only thing that ties it to this signature).

Entries are built as Rekor's `pkg/types/intoto` writes them and logged by the private
Sigstore (its Rekor key signs the SET); every attack changes one thing a real attacker
controls: another signature's entry, another statement, another signer.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from slsacheck.attach.candidates import LayerMaterial, TagAttestation
from slsacheck.errors import VerificationError
from slsacheck.models.descriptor import Descriptor
from slsacheck.models.digest import Digest
from slsacheck.models.mediatypes import DSSE_ENVELOPE
from slsacheck.policy.authority import KeylessAuthority
from slsacheck.signing.bundle import verify_bundle
from slsacheck.signing.dsse import IN_TOTO_PAYLOAD_TYPE, Envelope, Signature, pae
from slsacheck.signing.identity import Identity
from slsacheck.verify.authorities import Refused, TrustRoots, check
from tests.support.private_sigstore import (
    DER,
    IDENTITY,
    ISSUER,
    PEM,
    START,
    SUBJECT,
    PrivateSigstore,
    b64,
    intoto_v001,
    intoto_v002,
    make_private_sigstore,
)

SIGNED_AT = START + dt.timedelta(days=30)
LOGGED_AT = SIGNED_AT + dt.timedelta(minutes=1)
DIGEST = Digest("sha256", "b" * 64)


def _statement(digest: Digest = DIGEST) -> bytes:
    return json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v0.1",
            "subject": [{"name": "ghcr.io/acme/app", "digest": {digest.algorithm: digest.hex}}],
            "predicateType": "https://slsa.dev/provenance/v0.2",
            "predicate": {"builder": {"id": "https://github.com/slsa-framework/slsa-github-generator"}},
        }
    ).encode()


@pytest.fixture(scope="module")
def sigstore() -> PrivateSigstore:
    return make_private_sigstore()


@pytest.fixture(scope="module")
def signer(sigstore: PrivateSigstore) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    return sigstore.leaf(SIGNED_AT)


def _envelope(key: ec.EllipticCurvePrivateKey, statement: bytes | None = None) -> Envelope:
    payload = statement or _statement()
    sig = key.sign(pae(IN_TOTO_PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
    return Envelope(IN_TOTO_PAYLOAD_TYPE, payload, (Signature("", sig),))


def _body(version: str, envelope: Envelope, cert: x509.Certificate, blob: bytes | None = None) -> bytes:
    blob = blob if blob is not None else envelope.to_json()
    pem = cert.public_bytes(PEM)
    if version == "0.0.1":
        return intoto_v001(blob, envelope.payload, pem)
    return intoto_v002(blob, envelope.payload_type, envelope.payload, [s.sig for s in envelope.signatures], pem)


@pytest.fixture(scope="module")
def authority(sigstore: PrivateSigstore, tmp_path_factory: pytest.TempPathFactory) -> KeylessAuthority:
    path = tmp_path_factory.mktemp("root") / "trusted_root.json"
    path.write_text(json.dumps(sigstore.doc))
    return KeylessAuthority("ci", Path(path), (Identity(issuer=ISSUER, subject=SUBJECT),), True)


def _layer(envelope: Envelope, blob: bytes, cert: x509.Certificate, rekor: dict[str, Any]) -> TagAttestation:
    """A cosign `.att` layer: the envelope blob as stored, the certificate and the SET annotation."""
    return TagAttestation(
        "test .att layer 0", Descriptor.of(blob, DSSE_ENVELOPE), json.loads(blob), blob, None,
        LayerMaterial(certificate=cert.public_bytes(PEM), rekor_bundle=rekor),
    )


# -- cosign .att layers with a dev.sigstore.cosign/bundle annotation ---------------------------


@pytest.mark.parametrize("version", ["0.0.1", "0.0.2"])
@pytest.mark.parametrize("go_form", [True, False])
def test_att_layer_logged_as_intoto_is_accepted(
    sigstore: PrivateSigstore, signer: Any, authority: KeylessAuthority, version: str, go_form: bool
) -> None:
    key, cert = signer
    envelope = _envelope(key)
    # cosign writes Go's serialisation; any other bytes count as long as they are what was logged
    blob = envelope.to_json() if go_form else json.dumps(envelope.to_dict(), indent=2).encode()
    rekor = sigstore.rekor_set(_body(version, envelope, cert, blob), LOGGED_AT)
    accepted = check(_layer(envelope, blob, cert, rekor), authority, DIGEST, roots=TrustRoots())
    assert accepted.signer.subject == SUBJECT and accepted.signer.tlog
    assert accepted.signer.integrated_time == LOGGED_AT


@pytest.mark.parametrize("version", ["0.0.1", "0.0.2"])
def test_entry_of_another_signature_is_refused(
    sigstore: PrivateSigstore, signer: Any, authority: KeylessAuthority, version: str
) -> None:
    """Same signer, same statement, another signature: the entry proves that one was logged."""
    key, cert = signer
    logged, mine = _envelope(key), _envelope(key)
    assert logged.signatures != mine.signatures
    rekor = sigstore.rekor_set(_body(version, logged, cert), LOGGED_AT)
    with pytest.raises(Refused, match=r"logs another envelope|does not list this envelope's signature"):
        check(_layer(mine, mine.to_json(), cert, rekor), authority, DIGEST, roots=TrustRoots())


@pytest.mark.parametrize("version", ["0.0.1", "0.0.2"])
def test_entry_of_another_statement_is_refused(
    sigstore: PrivateSigstore, signer: Any, authority: KeylessAuthority, version: str
) -> None:
    key, cert = signer
    other = _envelope(key, _statement(Digest("sha256", "c" * 64)))
    mine = _envelope(key)
    body = json.loads(_body(version, mine, cert))
    body["spec"]["content"]["payloadHash"] = json.loads(_body(version, other, cert))["spec"]["content"]["payloadHash"]
    rekor = sigstore.rekor_set(json.dumps(body).encode(), LOGGED_AT)
    with pytest.raises(Refused, match="DSSE payload hash"):
        check(_layer(mine, mine.to_json(), cert, rekor), authority, DIGEST, roots=TrustRoots())


@pytest.mark.parametrize("version", ["0.0.1", "0.0.2"])
def test_entry_naming_another_signer_is_refused(
    sigstore: PrivateSigstore, signer: Any, authority: KeylessAuthority, version: str
) -> None:
    key, cert = signer
    _, stranger = sigstore.leaf(SIGNED_AT)
    envelope = _envelope(key)
    rekor = sigstore.rekor_set(_body(version, envelope, stranger), LOGGED_AT)
    with pytest.raises(Refused, match=r"another certificate|does not list this envelope's signature"):
        check(_layer(envelope, envelope.to_json(), cert, rekor), authority, DIGEST, roots=TrustRoots())


def test_intoto_v001_envelope_hash_in_another_algorithm_is_refused(
    sigstore: PrivateSigstore, signer: Any, authority: KeylessAuthority
) -> None:
    key, cert = signer
    envelope = _envelope(key)
    body = json.loads(_body("0.0.1", envelope, cert))
    body["spec"]["content"]["hash"]["algorithm"] = "sha512"
    rekor = sigstore.rekor_set(json.dumps(body).encode(), LOGGED_AT)
    with pytest.raises(Refused, match="envelope hash algorithm"):
        check(_layer(envelope, envelope.to_json(), cert, rekor), authority, DIGEST, roots=TrustRoots())


def test_altered_body_breaks_the_set(sigstore: PrivateSigstore, signer: Any, authority: KeylessAuthority) -> None:
    key, cert = signer
    mine, other = _envelope(key), _envelope(key)
    rekor = sigstore.rekor_set(_body("0.0.1", other, cert), LOGGED_AT)
    rekor["Payload"]["body"] = b64(_body("0.0.1", mine, cert))  # swapped in after Rekor signed
    with pytest.raises(Refused, match="SET"):
        check(_layer(mine, mine.to_json(), cert, rekor), authority, DIGEST, roots=TrustRoots())


# -- Sigstore bundles whose tlog entry is intoto -----------------------------------------------


def _bundle(sigstore: PrivateSigstore, envelope: Envelope, cert: x509.Certificate, body: bytes) -> dict[str, Any]:
    """A v0.1 bundle (the SET is its proof of logging), as cosign's and slsa-verifier's older ones."""
    promise = sigstore.rekor_set(body, LOGGED_AT)
    payload = promise["Payload"]
    return {
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": {
            "x509CertificateChain": {"certificates": [{"rawBytes": b64(cert.public_bytes(DER))}]},
            "tlogEntries": [
                {
                    "logIndex": str(payload["logIndex"]),
                    "logId": {"keyId": b64(sigstore.log_id)},
                    "kindVersion": {"kind": "intoto", "version": json.loads(body)["apiVersion"]},
                    "integratedTime": str(payload["integratedTime"]),
                    "inclusionPromise": {"signedEntryTimestamp": promise["SignedEntryTimestamp"]},
                    "canonicalizedBody": payload["body"],
                }
            ],
        },
        "dsseEnvelope": {
            "payload": b64(envelope.payload),
            "payloadType": envelope.payload_type,
            "signatures": [{"sig": b64(envelope.signatures[0].sig), "keyid": ""}],
        },
    }


@pytest.mark.parametrize("version", ["0.0.1", "0.0.2"])
def test_bundle_with_an_intoto_entry_verifies(sigstore: PrivateSigstore, signer: Any, version: str) -> None:
    key, cert = signer
    envelope = _envelope(key)
    result = verify_bundle(
        _bundle(sigstore, envelope, cert, _body(version, envelope, cert)),
        digest=DIGEST, identity=IDENTITY, trusted_root=sigstore.root,
    )
    assert result.kind == "dsse" and result.subject == SUBJECT and result.integrated_time is not None


@pytest.mark.parametrize("version", ["0.0.1", "0.0.2"])
def test_bundle_with_another_signatures_intoto_entry_is_refused(
    sigstore: PrivateSigstore, signer: Any, version: str
) -> None:
    key, cert = signer
    logged, mine = _envelope(key), _envelope(key)
    with pytest.raises(VerificationError, match=r"logs another envelope|does not list this envelope's signature"):
        verify_bundle(
            _bundle(sigstore, mine, cert, _body(version, logged, cert)),
            digest=DIGEST, identity=IDENTITY, trusted_root=sigstore.root,
        )


def test_bundle_over_another_subject_is_refused(sigstore: PrivateSigstore, signer: Any) -> None:
    key, cert = signer
    envelope = _envelope(key)
    with pytest.raises(VerificationError, match="not a subject"):
        verify_bundle(
            _bundle(sigstore, envelope, cert, _body("0.0.1", envelope, cert)),
            digest=Digest("sha256", "c" * 64), identity=IDENTITY, trusted_root=sigstore.root,
        )


def test_intoto_v001_without_the_uploaded_bytes_is_bound_by_gos_form_only(
    sigstore: PrivateSigstore, signer: Any
) -> None:
    """A bundle re-encodes the envelope: when the log hashed another serialisation, nothing
    ties the entry to this signature, so it is refused (fail closed) rather than trusted."""
    key, cert = signer
    envelope = _envelope(key)
    pretty = json.dumps(envelope.to_dict(), indent=2).encode()
    with pytest.raises(VerificationError, match="logs another envelope"):
        verify_bundle(
            _bundle(sigstore, envelope, cert, _body("0.0.1", envelope, cert, pretty)),
            digest=DIGEST, identity=IDENTITY, trusted_root=sigstore.root,
        )


def test_intoto_v001_logged_before_rekor_recorded_the_payload_hash(
    sigstore: PrivateSigstore, signer: Any, authority: KeylessAuthority
) -> None:
    """Early entries carry the envelope hash alone; it covers the payload too, so it still binds."""
    key, cert = signer
    mine, other = _envelope(key), _envelope(key)
    for logged, ok in ((mine, True), (other, False)):
        body = json.loads(_body("0.0.1", logged, cert))
        del body["spec"]["content"]["payloadHash"]
        rekor = sigstore.rekor_set(json.dumps(body).encode(), LOGGED_AT)
        layer = _layer(mine, mine.to_json(), cert, rekor)
        if ok:
            assert check(layer, authority, DIGEST, roots=TrustRoots()).signer.tlog
        else:
            with pytest.raises(Refused, match="logs another envelope"):
                check(layer, authority, DIGEST, roots=TrustRoots())
