"""Raw signature verification with a public key: the one place signature bytes meet crypto.

Accepted, as the Sigstore tools produce them:
- ECDSA, hash chosen by curve (P-256 SHA-256, P-384 SHA-384, P-521 SHA-512); the
  signature as ASN.1 DER or as raw r||s (IEEE P1363, what some KMS and DSSE producers
  write). Both encodings carry the same (r, s), so accepting both admits nothing new.
- Ed25519, pure (RFC 8032) or Ed25519ph (SHA-512 prehash, empty context), which cosign
  uses by default for Ed25519 keys. The two are domain-separated, so one can never
  stand in for a signature of the other over different bytes.
- RSA PKCS#1 v1.5 and PSS (any salt length, MGF1 with the same hash), SHA-256 unless told.

Every failure, including garbage, truncated or oversized signatures, is one
`VerificationError` naming the key; nothing from `cryptography` leaks out.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from slsacheck.errors import InvalidKey, VerificationError
from slsacheck.signing.keys import VerifyingKey, check_key, describe, fingerprint, load_public_key

_HASHES: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_CURVE_HASH = {"secp256r1": "sha256", "secp384r1": "sha384", "secp521r1": "sha512"}
ED25519_MODES = ("any", "pure", "ph")


@runtime_checkable
class SignatureVerifier(Protocol):
    """Checks a signature over exact bytes; raises `VerificationError` when it does not hold."""

    @property
    def description(self) -> str: ...

    def verify(self, signature: bytes, data: bytes) -> None: ...


def ecdsa_hash(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) -> str:
    return _CURVE_HASH[key.curve.name]


def ed25519ph_verify(key: ed25519.Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    import nacl.bindings  # noqa: PLC0415  # Ed25519ph keys only; keeps nacl off other verifications
    import nacl.exceptions  # noqa: PLC0415

    state = nacl.bindings.crypto_sign_ed25519ph_state()
    nacl.bindings.crypto_sign_ed25519ph_update(state, data)
    raw = key.public_bytes_raw()
    try:
        return bool(nacl.bindings.crypto_sign_ed25519ph_final_verify(state, signature, raw))
    except nacl.exceptions.BadSignatureError:
        return False


class PublicKeyVerifier:
    """Verifies signatures made by one public key."""

    def __init__(
        self,
        public_key: VerifyingKey,
        *,
        hash_algorithm: str | None = None,
        ed25519_mode: str = "any",
    ) -> None:
        checked = check_key(public_key, where="the verification key")
        if not isinstance(checked, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
            raise InvalidKey("a verifier needs a public key", found=type(checked).__name__)
        if hash_algorithm is not None and hash_algorithm not in _HASHES:
            raise InvalidKey("unsupported hash algorithm", expected=", ".join(_HASHES), found=hash_algorithm)
        if ed25519_mode not in ED25519_MODES:
            raise InvalidKey("unsupported Ed25519 mode", expected=", ".join(ED25519_MODES), found=ed25519_mode)
        self.public_key: VerifyingKey = checked
        if isinstance(checked, ec.EllipticCurvePublicKey):
            self.hash_name = hash_algorithm or ecdsa_hash(checked)
        else:
            self.hash_name = hash_algorithm or "sha256"
        self.ed25519_mode = ed25519_mode
        self.fingerprint = fingerprint(checked)

    @classmethod
    def from_pem(
        cls, pem: bytes, *, where: str = "the public key", hash_algorithm: str | None = None
    ) -> PublicKeyVerifier:
        return cls(load_public_key(pem, where=where), hash_algorithm=hash_algorithm)

    @property
    def description(self) -> str:
        return f"{describe(self.public_key)} key sha256:{self.fingerprint}"

    def verify(self, signature: bytes, data: bytes) -> None:
        if not signature:
            raise self._failure("the signature is empty", "no signature bytes")
        key = self.public_key
        if isinstance(key, ec.EllipticCurvePublicKey):
            self._verify_ecdsa(key, signature, data)
        elif isinstance(key, ed25519.Ed25519PublicKey):
            self._verify_ed25519(key, signature, data)
        else:
            self._verify_rsa(key, signature, data)

    # -- per algorithm -----------------------------------------------------------------

    def _hash(self) -> hashes.HashAlgorithm:
        return _HASHES[self.hash_name]()

    def _verify_ecdsa(self, key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> None:
        size = (key.curve.key_size + 7) // 8
        candidates: list[bytes] = []
        try:
            r, s = decode_dss_signature(signature)
            if encode_dss_signature(r, s) == signature:
                candidates.append(signature)
        except ValueError:
            pass
        if len(signature) == 2 * size:
            r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
            if r and s:
                candidates.append(encode_dss_signature(r, s))
        if not candidates:
            raise self._failure(
                "the ECDSA signature is malformed",
                f"{len(signature)} bytes that are neither ASN.1 DER nor {2 * size}-byte r||s",
                hint="the signature is truncated or is not an ECDSA signature; check it was copied whole",
            )
        for der in candidates:
            try:
                key.verify(der, data, ec.ECDSA(self._hash()))
                return
            except InvalidSignature:
                continue
        raise self._failure("the ECDSA signature does not verify", f"an ECDSA {self.hash_name} signature "
                            "that does not match these bytes under this key")

    def _verify_ed25519(self, key: ed25519.Ed25519PublicKey, signature: bytes, data: bytes) -> None:
        if len(signature) != 64:
            raise self._failure("the Ed25519 signature is malformed", f"{len(signature)} bytes, not 64")
        if self.ed25519_mode in ("any", "pure"):
            try:
                key.verify(signature, data)
                return
            except InvalidSignature:
                pass
        if self.ed25519_mode in ("any", "ph") and ed25519ph_verify(key, signature, data):
            return
        raise self._failure("the Ed25519 signature does not verify",
                            "a signature that does not match these bytes under this key")

    def _verify_rsa(self, key: rsa.RSAPublicKey, signature: bytes, data: bytes) -> None:
        size = (key.key_size + 7) // 8
        if len(signature) != size:
            raise self._failure("the RSA signature is malformed", f"{len(signature)} bytes, not {size}")
        schemes: tuple[padding.AsymmetricPadding, ...] = (
            padding.PKCS1v15(),
            padding.PSS(mgf=padding.MGF1(self._hash()), salt_length=padding.PSS.AUTO),
        )
        for scheme in schemes:
            try:
                key.verify(signature, data, scheme, self._hash())
                return
            except InvalidSignature:
                continue
        raise self._failure("the RSA signature does not verify",
                            f"neither PKCS#1 v1.5 nor PSS with {self.hash_name} matches these bytes")

    def _failure(self, message: str, found: str, *, hint: str | None = None) -> VerificationError:
        return VerificationError(
            f"{message} ({self.description})",
            expected=f"a signature by {self.description} over the signed bytes",
            found=found,
            hint=hint or "the signed bytes changed after signing, or a different key made this signature",
        )
