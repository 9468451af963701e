"""Sigstore bundles across implementations, both ways.

- slsacheck's KEY-based bundles (`bundle_build` over `KeySigner` output) verify with
  `@sigstore/verify` given the public key, and are rejected with another key, a changed
  signature, or an artifact the statement does not name.
- Bundles that sigstore-python and sigstore-js make keyless against the loopback mock
  Sigstore verify with slsacheck's `verify_bundle`, and are rejected for a wrong
  identity or a changed artifact.

Known limits of the peers, handled on purpose here:
- `@sigstore/verify` checks a DSSE signature with the key's default hash (SHA-256 for
  every ECDSA curve) and cannot check Ed25519 message signatures at all (Node's crypto
  has no Ed25519ph and takes no digest for pure Ed25519). So P-384 DSSE and Ed25519
  message bundles have no independent verifier here; they are not asserted against it.
- sigstore-js writes protobuf JSON with default values left out (an inclusion proof
  at `logIndex` 0 has no `logIndex`; an empty `hashes` list is absent); protobuf's JSON
  mapping makes those equal to 0 and []. sigstore-python 4.5.1 refuses such bundles,
  slsacheck must accept them.
- The mock's Rekor answers every entry with a one-leaf tree, so every inclusion proof
  here has index 0 and no hashes: the sigstore-js case always exercises the above.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from slsacheck.errors import DigestMismatch, VerificationError
from slsacheck.models.digest import Digest
from slsacheck.signing.bundle import verify_bundle
from slsacheck.signing.bundle_build import BUNDLE_MEDIA_TYPE, dsse_bundle, message_bundle
from slsacheck.signing.identity import Identity
from slsacheck.signing.keys import fingerprint, load_public_key
from slsacheck.signing.keysigner import KeySigner
from slsacheck.signing.trust import load_trusted_root
from tests.support.peers import js_sign_keyless, js_verify, py_sign, sigstore_python
from tests.support.sigstore_mock import DEFAULT_ISSUER, MockSigstore, mock_sigstore, running_mock_sigstore

__all__ = ["mock_sigstore"]  # the fixture, imported for pytest

pytestmark = pytest.mark.integration

IN_TOTO = "application/vnd.in-toto+json"
SUBJECT = "https://kubernetes.io/namespaces/ci/serviceaccounts/pipeline"
ARTIFACT = b'{"critical":{"image":{"docker-manifest-digest":"sha256:' + b"0" * 64 + b'"}}}'


def statement_for(artifact: bytes, predicate_type: str = "https://slsa.dev/provenance/v1") -> bytes:
    return json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "registry.example/app", "digest": {"sha256": hashlib.sha256(artifact).hexdigest()}}],
            "predicateType": predicate_type,
            "predicate": {"buildDefinition": {"buildType": "https://tekton.dev/chains/v2/slsa"}},
        }
    ).encode()


def write(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    path = tmp_path / "artifact.json"
    path.write_bytes(ARTIFACT)
    return path


def key_signer(kind: str, *, ed25519ph: bool = True) -> KeySigner:
    keys = {
        "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
        "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
        "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ed25519": ed25519.Ed25519PrivateKey.generate,
    }
    return KeySigner(keys[kind](), ed25519ph=ed25519ph)


# -- slsacheck key-based bundles, judged by @sigstore/verify ---------------------------------


@pytest.mark.parametrize("kind", ["p256", "p384", "rsa"])
def test_key_message_bundle_verifies_with_sigstore_js(kind: str, artifact: Path, tmp_path: Path) -> None:
    signer = key_signer(kind)
    key = tmp_path / "key.pub"
    key.write_bytes(signer.public_key_pem)
    doc = message_bundle(signer.sign_message(ARTIFACT), digest_of_payload=Digest.of(ARTIFACT))
    assert doc["mediaType"] == BUNDLE_MEDIA_TYPE
    assert doc["verificationMaterial"] == {"publicKey": {"hint": signer.fingerprint}}
    assert "tlogEntries" not in doc["verificationMaterial"]
    verdict = js_verify(write(tmp_path / "b.json", doc), artifact=artifact, key=key)
    assert verdict.ok, verdict.output


@pytest.mark.parametrize(("kind", "ph"), [("p256", True), ("rsa", True), ("ed25519", False)])
def test_key_dsse_bundle_verifies_with_sigstore_js(kind: str, ph: bool, artifact: Path, tmp_path: Path) -> None:
    signer = key_signer(kind, ed25519ph=ph)
    key = tmp_path / "key.pub"
    key.write_bytes(signer.public_key_pem)
    doc = dsse_bundle(signer.sign_dsse(IN_TOTO, statement_for(ARTIFACT)))
    assert set(doc) == {"mediaType", "verificationMaterial", "dsseEnvelope"}
    assert all(set(s) == {"sig"} for s in doc["dsseEnvelope"]["signatures"])  # empty keyid left out
    bundle = write(tmp_path / "b.json", doc)
    verdict = js_verify(bundle, artifact=artifact, key=key)
    assert verdict.ok, verdict.output
    verdict = js_verify(bundle, digest=f"sha256:{hashlib.sha256(ARTIFACT).hexdigest()}", key=key)
    assert verdict.ok, verdict.output


@pytest.mark.parametrize(
    "kind",
    [
        "p256",
        "rsa",
        "p384",
        "ed25519",
    ],
)
def test_key_bundles_round_trip_through_slsacheck(kind: str) -> None:
    signer = key_signer(kind)
    public_key = load_public_key(signer.public_key_pem)
    for doc in (
        message_bundle(signer.sign_message(ARTIFACT)),
        dsse_bundle(signer.sign_dsse(IN_TOTO, statement_for(ARTIFACT))),
    ):
        result = verify_bundle(json.dumps(doc), artifact=ARTIFACT, public_key=public_key)
        assert result.key_fingerprint in (None, fingerprint(public_key))


def test_wrong_key_is_rejected_by_sigstore_js(artifact: Path, tmp_path: Path) -> None:
    signer, other = key_signer("p256"), key_signer("p256")
    wrong = tmp_path / "other.pub"
    wrong.write_bytes(other.public_key_pem)
    for name, doc in {
        "message": message_bundle(signer.sign_message(ARTIFACT)),
        "dsse": dsse_bundle(signer.sign_dsse(IN_TOTO, statement_for(ARTIFACT))),
    }.items():
        verdict = js_verify(write(tmp_path / f"{name}.json", doc), artifact=artifact, key=wrong)
        assert not verdict.ok, name
        assert verdict.says("SIGNATURE_ERROR"), verdict.output


def test_changed_signature_or_artifact_is_rejected_by_sigstore_js(artifact: Path, tmp_path: Path) -> None:
    signer = key_signer("p256")
    key = tmp_path / "key.pub"
    key.write_bytes(signer.public_key_pem)
    doc = message_bundle(signer.sign_message(ARTIFACT))
    bundle = write(tmp_path / "b.json", doc)

    other = tmp_path / "other.json"
    other.write_bytes(ARTIFACT.replace(b"0", b"1"))
    assert not js_verify(bundle, artifact=other, key=key).ok

    sig = bytearray(base64.b64decode(doc["messageSignature"]["signature"]))
    sig[-1] ^= 0x01
    doc["messageSignature"]["signature"] = base64.b64encode(bytes(sig)).decode()
    assert not js_verify(write(tmp_path / "bad.json", doc), artifact=artifact, key=key).ok


def test_dsse_naming_another_artifact_is_rejected_by_sigstore_js(artifact: Path, tmp_path: Path) -> None:
    signer = key_signer("p256")
    key = tmp_path / "key.pub"
    key.write_bytes(signer.public_key_pem)
    doc = dsse_bundle(signer.sign_dsse(IN_TOTO, statement_for(b"another image")))
    verdict = js_verify(write(tmp_path / "b.json", doc), artifact=artifact, key=key)
    assert not verdict.ok
    assert verdict.says("no in-toto subject"), verdict.output


def test_payload_digest_is_checked_not_trusted() -> None:
    signed = key_signer("p256").sign_message(ARTIFACT)
    with pytest.raises(DigestMismatch):
        message_bundle(signed, digest_of_payload=Digest.of(b"something else"))


def test_message_digest_names_the_signature_hash() -> None:
    for kind, algorithm, hasher in [("p256", "SHA2_256", hashlib.sha256), ("p384", "SHA2_384", hashlib.sha384)]:
        doc = message_bundle(key_signer(kind).sign_message(ARTIFACT))
        digest = doc["messageSignature"]["messageDigest"]
        assert digest["algorithm"] == algorithm
        assert base64.b64decode(digest["digest"]) == hasher(ARTIFACT).digest()


# -- bundles from sigstore-python and sigstore-js, judged by slsacheck -------------------------


@pytest.fixture(scope="module")
def peer_bundles(mock_sigstore: MockSigstore, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Four keyless bundles over one artifact: {python, js} x {message, dsse}."""
    out = tmp_path_factory.mktemp("peers")
    token = mock_sigstore.token(SUBJECT)
    token_file = out / "token"
    token_file.write_text(token)
    artifact = out / "artifact.json"
    artifact.write_bytes(ARTIFACT)
    predicate = write(
        out / "predicate.json",
        {
            "buildDefinition": {"buildType": "https://tekton.dev/chains/v2/slsa", "externalParameters": {}},
            "runDetails": {"builder": {"id": "https://tekton.dev/chains/v2"}},
        },
    )
    statement = out / "statement.json"
    statement.write_bytes(statement_for(ARTIFACT))
    bundles = {name: out / f"{name}.json" for name in ("python-message", "python-dsse", "js-message", "js-dsse")}
    runs = [
        py_sign(bundles["python-message"], artifact, trust_config=mock_sigstore.trust_config, token=token),
        sigstore_python(
            mock_sigstore.trust_config,
            "attest",
            "--identity-token",
            token,
            "--predicate",
            str(predicate),
            "--predicate-type",
            "https://slsa.dev/provenance/v1",
            "--bundle",
            str(bundles["python-dsse"]),
            str(artifact),
        ),
        js_sign_keyless(mock_sigstore.url, token_file, artifact, bundles["js-message"]),
        js_sign_keyless(mock_sigstore.url, token_file, statement, bundles["js-dsse"], dsse=True),
    ]
    for verdict in runs:
        assert verdict.ok, verdict.output
    return {"artifact": artifact, **bundles}


PEER_BUNDLES = ["python-message", "python-dsse", "js-message", "js-dsse"]


def with_defaults_written(path: Path) -> bytes:
    """The same bundle with protobuf's omitted defaults written out (`logIndex` "0",
    `hashes` []): equal in meaning, so that the negative tests below fail for the reason
    they name and not for the protobuf-defaults gap."""
    doc = json.loads(path.read_text())
    for entry in doc["verificationMaterial"].get("tlogEntries", []):
        proof = entry.get("inclusionProof")
        if proof is not None:
            proof.setdefault("logIndex", "0")
            proof.setdefault("hashes", [])
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "name",
    [
        "python-message",
        "python-dsse",
        "js-message",
        "js-dsse",
    ],
)
def test_peer_bundle_verifies_with_slsacheck(
    name: str, peer_bundles: dict[str, Path], mock_sigstore: MockSigstore
) -> None:
    root = load_trusted_root(mock_sigstore.trusted_root)
    result = verify_bundle(
        peer_bundles[name].read_bytes(),
        artifact=ARTIFACT,
        identity=Identity(subject=SUBJECT, issuer=DEFAULT_ISSUER),
        trusted_root=root,
    )
    assert result.kind == ("dsse" if name.endswith("dsse") else "message")
    assert result.subject == SUBJECT
    assert result.issuer == DEFAULT_ISSUER
    assert result.integrated_time is not None


def test_peer_bundles_show_the_protobuf_defaults_gap(peer_bundles: dict[str, Path]) -> None:
    """The sigstore-js bundles really do leave the zero log index out (see the module doc)."""
    proof = json.loads(peer_bundles["js-message"].read_text())["verificationMaterial"]["tlogEntries"][0][
        "inclusionProof"
    ]
    assert "logIndex" not in proof and "hashes" not in proof
    proof = json.loads(peer_bundles["python-message"].read_text())["verificationMaterial"]["tlogEntries"][0][
        "inclusionProof"
    ]
    assert proof["logIndex"] == "0" and proof["hashes"] == []


@pytest.mark.parametrize("name", PEER_BUNDLES)
def test_peer_bundle_with_wrong_identity_is_rejected_by_slsacheck(
    name: str, peer_bundles: dict[str, Path], mock_sigstore: MockSigstore
) -> None:
    root = load_trusted_root(mock_sigstore.trusted_root)
    for identity in (
        Identity(subject=SUBJECT + "-other", issuer=DEFAULT_ISSUER),
        Identity(subject=SUBJECT, issuer="https://other-issuer.invalid"),
    ):
        with pytest.raises(VerificationError, match="certificate identity does not match"):
            verify_bundle(
                with_defaults_written(peer_bundles[name]), artifact=ARTIFACT, identity=identity, trusted_root=root
            )


@pytest.mark.parametrize("name", PEER_BUNDLES)
def test_peer_bundle_over_another_artifact_is_rejected_by_slsacheck(
    name: str, peer_bundles: dict[str, Path], mock_sigstore: MockSigstore
) -> None:
    root = load_trusted_root(mock_sigstore.trusted_root)
    with pytest.raises(VerificationError, match=r"message digest is not the artifact's|not a subject"):
        verify_bundle(
            with_defaults_written(peer_bundles[name]),
            artifact=ARTIFACT + b" ",
            identity=Identity(subject=SUBJECT, issuer=DEFAULT_ISSUER),
            trusted_root=root,
        )


def test_peer_bundle_from_another_sigstore_is_rejected_by_slsacheck(
    peer_bundles: dict[str, Path], mock_sigstore: MockSigstore, tmp_path: Path
) -> None:
    """A second mock has its own Fulcio CA and Rekor key. Trusting it alone, the log is
    unknown; trusting our logs but its CA, the certificate does not chain."""
    with running_mock_sigstore(tmp_path / "other") as other:
        other_doc = json.loads(other.trusted_root.read_text())
    ours = json.loads(mock_sigstore.trusted_root.read_text())
    foreign_ca = write(
        tmp_path / "foreign_ca.json", {**ours, "certificateAuthorities": other_doc["certificateAuthorities"]}
    )
    cases = [
        (load_trusted_root(other.trusted_root), "log the trust root does not know"),
        (load_trusted_root(foreign_ca), "does not chain to a trusted Fulcio CA"),
    ]
    for root, reason in cases:
        for name in PEER_BUNDLES:
            with pytest.raises(VerificationError, match=reason):
                verify_bundle(
                    with_defaults_written(peer_bundles[name]),
                    artifact=ARTIFACT,
                    identity=Identity(subject=SUBJECT, issuer=DEFAULT_ISSUER),
                    trusted_root=root,
                )
