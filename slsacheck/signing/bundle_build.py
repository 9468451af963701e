"""Sigstore bundles (v0.3 JSON) for what a `Signer` returned.

Keyless signers already hand back the bundle Fulcio, Rekor and the TSA made; it is
returned unchanged (its bytes were what the log and the TSA saw). Key-signed material
gets a bundle built here, as `cosign ... --new-bundle-format --key` writes one without
a transparency log: `verificationMaterial.publicKey.hint` names the key (the sha256
fingerprint of its DER SubjectPublicKeyInfo), there are no tlog entries and no
timestamps, and the content is the message signature or the DSSE envelope.

Invariants:
- a message bundle's `messageDigest` uses the hash the signature was made with (SHA-256
  for P-256 and RSA keys, SHA-384 for P-384, SHA-512 for P-521), because verifiers
  verify the signature with that algorithm; Ed25519 signatures are over the bytes and
  are labelled SHA2_512 as cosign does for Ed25519ph;
- JSON follows protobuf's JSON mapping: camelCase names, bytes as standard base64,
  empty fields left out;
- nothing here signs or checks a signature: the bundle is only as good as its input.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from slsacheck.errors import InputError
from slsacheck.models.digest import Digest
from slsacheck.signing.keys import fingerprint, load_public_key
from slsacheck.signing.signer import Material, SignedEnvelope, SignedMessage

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"

# hashlib name -> Sigstore protobuf HashAlgorithm
_PROTO_HASH = {"sha256": "SHA2_256", "sha384": "SHA2_384", "sha512": "SHA2_512"}
_CURVE_HASH = {"secp256r1": "sha256", "secp384r1": "sha384", "secp521r1": "sha512"}


def message_bundle(signed: SignedMessage, *, digest_of_payload: Digest | None = None) -> dict[str, Any]:
    """The bundle for a signature over `signed.payload` (cosign's simple-signing payload).

    `digest_of_payload` is the payload's digest when the caller already holds it (the
    attach layer knows its blob descriptor); it is checked against the payload, never
    trusted in its place.
    """
    if digest_of_payload is not None:
        digest_of_payload.check(signed.payload, "the signed payload")
    keyless = _keyless_bundle(signed.material)
    if keyless is not None:
        return keyless
    algorithm = _message_hash(signed.material)
    return {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": _key_material(signed.material),
        "messageSignature": {
            "messageDigest": {
                "algorithm": _PROTO_HASH[algorithm],
                "digest": _b64(hashlib.new(algorithm, signed.payload).digest()),
            },
            "signature": _b64(signed.signature),
        },
    }


def dsse_bundle(signed: SignedEnvelope) -> dict[str, Any]:
    """The bundle for a DSSE envelope (an attestation)."""
    keyless = _keyless_bundle(signed.material)
    if keyless is not None:
        return keyless
    envelope = signed.envelope
    try:
        signatures = [_dsse_signature(s) for s in envelope["signatures"]]
        content = {"payload": envelope["payload"], "payloadType": envelope["payloadType"], "signatures": signatures}
    except (KeyError, TypeError) as exc:
        raise InputError(
            "the DSSE envelope to bundle is incomplete",
            expected="payload, payloadType and signatures[].sig",
            found=f"missing or wrong {exc}",
        ) from exc
    if not signatures:
        raise InputError("the DSSE envelope to bundle has no signature", expected="one signature", found="none")
    return {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": _key_material(signed.material),
        "dsseEnvelope": content,
    }


def _keyless_bundle(material: Material) -> dict[str, Any] | None:
    if material.sigstore_bundle is None:
        return None
    return dict(material.sigstore_bundle)


def _public_key(material: Material) -> ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey:
    if material.public_key_pem is None:
        raise InputError(
            "cannot build a key-based bundle without the public key",
            expected="signer material with a public key or a Sigstore bundle",
            found="neither",
            hint="sign with a key signer or a keyless signer",
        )
    return load_public_key(material.public_key_pem, where="the signer's public key")


def _key_material(material: Material) -> dict[str, Any]:
    return {"publicKey": {"hint": fingerprint(_public_key(material))}}


def _message_hash(material: Material) -> str:
    key = _public_key(material)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return _CURVE_HASH.get(key.curve.name, "sha256")
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "sha512"
    return "sha256"


def _dsse_signature(signature: Mapping[str, Any]) -> dict[str, str]:
    sig = signature["sig"]
    if not isinstance(sig, str) or not sig:
        raise TypeError("sig")
    keyid = signature.get("keyid") or ""
    # protobuf JSON leaves an empty keyid out
    return {"sig": sig, "keyid": keyid} if keyid else {"sig": sig}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
