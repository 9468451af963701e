"""Sigstore message signatures: a signature over an artifact, given as its bytes or one
digest of it, with the prehash conventions the Sigstore clients use. ECDSA signatures
arrive DER or raw r||s (P1363); both are read.
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, utils

from slsacheck.errors import VerificationError
from slsacheck.signing.trust import PublicKey
from slsacheck.signing.verify_sig import PublicKeyVerifier

PREHASH: dict[str, hashes.HashAlgorithm] = {
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}


def verify_message_signature(
    key: PublicKey,
    signature: bytes,
    *,
    artifact: bytes | None,
    digest: bytes,
    algorithm: str | None,
    digest_algorithm: str = "sha256",
) -> None:
    """Verify a message signature over the artifact, given as bytes or as its digest.

    Sigstore signs messages prehashed: SHA-256 for most keys (also P-384 Fulcio keys of
    old), the key's own hash where the bundle's `messageDigest` says so (SHA-384 for
    P-384, SHA-512 for Ed25519ph). Without a `messageDigest`, SHA-256 and the curve's
    hash are both tried: either is collision resistant, and the signature must hold.
    Ed25519 signs the bytes themselves (pure or ph), so it needs the artifact.
    Without the artifact, `digest` is its `digest_algorithm` digest.
    """
    if isinstance(key, ed25519.Ed25519PublicKey):
        if artifact is None:
            raise VerificationError(
                "an Ed25519 message signature cannot be checked against a digest alone",
                expected="the artifact bytes",
                found="only its digest",
                hint="pass the artifact file instead of sha256:<hex>",
            )
        PublicKeyVerifier(key).verify(signature, artifact)
        return
    names = [algorithm] if algorithm else ["sha256"]
    if algorithm is None and isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size > 256:
        names.append("sha384" if key.curve.key_size == 384 else "sha512")
    for name in names:
        if artifact is None and name != digest_algorithm:
            continue  # only one digest is known
        hashed = hashlib.new(name, artifact).digest() if artifact is not None else digest
        try:
            if isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(_der(key, signature), hashed, ec.ECDSA(utils.Prehashed(PREHASH[name])))
            else:
                key.verify(signature, hashed, padding.PKCS1v15(), utils.Prehashed(PREHASH[name]))
            return
        except (InvalidSignature, ValueError):
            continue
    raise VerificationError(
        "signature does not verify over the artifact",
        expected=f"a signature over the {'/'.join(names)} digest of the artifact",
        found="a signature that does not match",
        hint="the artifact differs from what was signed, or another key signed it",
    )


def _der(key: ec.EllipticCurvePublicKey, signature: bytes) -> bytes:
    """The signature as DER: as given when it is canonical DER, converted when it is r||s."""
    size = (key.curve.key_size + 7) // 8
    try:
        r, s = utils.decode_dss_signature(signature)
        if utils.encode_dss_signature(r, s) == signature:
            return signature
    except ValueError:
        pass
    if len(signature) != 2 * size:
        raise VerificationError(
            "the ECDSA signature is malformed",
            expected=f"ASN.1 DER or {2 * size}-byte r||s",
            found=f"{len(signature)} bytes that are neither",
            hint="the signature is truncated or is not an ECDSA signature; check it was copied whole",
        )
    return utils.encode_dss_signature(int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big"))
