"""`DelegatedSigner`: the `Signer` for a key that never leaves its device or service.

A `KeyBackend` (a PKCS#11 token, a cloud KMS) holds the private key and does one
thing with it: sign. Everything around that is done here once, the same way
for every backend, so a token or a KMS writes exactly what a key file with the same
key would (see `keysigner`):
- the digest is the one the verifier expects for the key: SHA-256/384/512 by ECDSA
  curve, SHA-256 for RSA (PKCS#1 v1.5);
- ECDSA signatures are ASN.1 DER, as cosign writes them (a backend whose device returns
  raw r||s, as PKCS#11 does, converts: `der_from_raw`);
- every signature is checked against the backend's public key and the exact bytes
  before it is returned, so a token that signs with another key than the one it
  reports, or a service that signs other bytes, fails here (exit 3), not at a verifier.

Ed25519 is refused: cosign's Ed25519ph has no PKCS#11 or KMS mechanism in common use.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from slsacheck.errors import InvalidKey, KeyServiceError
from slsacheck.signing.keys import VerifyingKey, check_key, describe, fingerprint, public_key_pem
from slsacheck.signing.keysigner import RawSigner
from slsacheck.signing.signer import Material
from slsacheck.signing.verify_sig import ecdsa_hash

_HASHES: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

DelegatedKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


class KeyBackend(Protocol):
    """A private key held elsewhere. `where` names it for messages and must hold no secret."""

    @property
    def where(self) -> str: ...

    def public_key(self) -> VerifyingKey:
        """The public half, as the device or service reports it."""
        ...

    def sign(self, message: bytes, digest: bytes, hash_name: str) -> bytes:
        """A signature over `message`, whose `hash_name` digest is `digest`: ECDSA as ASN.1
        DER, RSA as PKCS#1 v1.5. A device signs the digest; a service may take the message
        and hash it itself (same signature, see `kms_aws`)."""
        ...


def signing_hash(key: DelegatedKey) -> str:
    """The hash a signature by `key` is made over (the one `verify_sig` expects)."""
    return ecdsa_hash(key) if isinstance(key, ec.EllipticCurvePublicKey) else "sha256"


def der_from_raw(signature: bytes, key: ec.EllipticCurvePublicKey) -> bytes:
    """ASN.1 DER for an ECDSA signature given as r||s (PKCS#11's CKM_ECDSA output)."""
    size = (key.curve.key_size + 7) // 8
    if len(signature) != 2 * size:
        return signature  # not r||s for this curve: the check in `sign` refuses it
    return encode_dss_signature(int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big"))


def delegated_key(key: object, *, where: str) -> DelegatedKey:
    """`key` if a delegated signer can sign with it in cosign's formats, else a clear refusal."""
    checked = check_key(key, where=where)
    if isinstance(checked, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        return checked
    raise InvalidKey(f"{where}: {describe(checked)} keys cannot sign through a token or KMS here",
                     expected="an ECDSA (P-256, P-384, P-521) or RSA key", found=describe(checked),
                     hint="create an ECDSA P-256 key on the token or in the KMS, as cosign does")


class DelegatedSigner(RawSigner):
    """Signs through a `KeyBackend`; cosign's formats, byte for byte."""

    def __init__(self, backend: KeyBackend) -> None:
        self._backend = backend
        self._key = delegated_key(backend.public_key(), where=backend.where)
        self._hash = signing_hash(self._key)
        self._material = Material(public_key_pem=public_key_pem(self._key))
        self.fingerprint = fingerprint(self._key)

    @property
    def description(self) -> str:
        return f"{describe(self._key)} key sha256:{self.fingerprint} ({self._backend.where})"

    @property
    def public_key(self) -> DelegatedKey:
        return self._key

    @property
    def public_key_pem(self) -> bytes:
        assert self._material.public_key_pem is not None
        return self._material.public_key_pem

    def sign(self, data: bytes) -> bytes:
        """The signature over `data`, checked against the public key before it is returned."""
        digest = hashlib.new(self._hash, data).digest()
        raw = self._backend.sign(data, digest, self._hash)
        key = self._key
        algorithm = _HASHES[self._hash]()
        try:
            if isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(raw, digest, ec.ECDSA(Prehashed(algorithm)))
            else:
                key.verify(raw, digest, padding.PKCS1v15(), Prehashed(algorithm))
        except (InvalidSignature, ValueError):
            raise KeyServiceError(
                f"{self._backend.where} returned a signature its public key does not verify",
                expected=f"a signature by sha256:{self.fingerprint}", found=f"{len(raw)} bytes that do not verify",
                hint="the object the reference names and the key that signed differ; check the id/label "
                "(two objects may share a label)",
            ) from None
        return raw
