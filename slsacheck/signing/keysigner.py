"""`KeySigner`: the `Signer` backend for a private key held in this process.

Signatures are what cosign makes with the same key:
- ECDSA: ASN.1 DER, SHA-256 on P-256, SHA-384 on P-384, SHA-512 on P-521;
- RSA: PKCS#1 v1.5 with SHA-256;
- Ed25519: Ed25519ph (SHA-512 prehash, empty context), cosign's default because a
  transparency log's hashedrekord entries need a prehash; `ed25519ph=False` gives
  pure Ed25519 as cosign before 2.4 wrote it.

`sign_dsse` signs PAE(payloadType, payload) and returns the envelope object cosign
writes, with one signature whose keyid is empty.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from slsacheck.signing.dsse import Envelope, Signature
from slsacheck.signing.keys import (
    PasswordCallback,
    SigningKey,
    check_key,
    describe,
    fingerprint,
    load_private_key,
    public_key_pem,
)
from slsacheck.signing.signer import Material, SignedEnvelope, SignedMessage
from slsacheck.signing.verify_sig import ecdsa_hash

_HASH: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def ed25519ph_sign(key: ed25519.Ed25519PrivateKey, data: bytes) -> bytes:
    import nacl.bindings  # noqa: PLC0415 - libsodium loads only for the one signature that needs it

    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    _, secret = nacl.bindings.crypto_sign_seed_keypair(seed)
    state = nacl.bindings.crypto_sign_ed25519ph_state()
    nacl.bindings.crypto_sign_ed25519ph_update(state, data)
    return bytes(nacl.bindings.crypto_sign_ed25519ph_final_create(state, secret))


class RawSigner:
    """A signer whose backend makes one raw signature over given bytes (`sign`): a message
    signature and a DSSE envelope (over its PAE) follow from it the same way for every key."""

    _material: Material

    def sign(self, data: bytes) -> bytes:
        raise NotImplementedError

    def sign_message(self, payload: bytes) -> SignedMessage:
        return SignedMessage(payload=payload, signature=self.sign(payload), material=self._material)

    def sign_dsse(self, payload_type: str, payload: bytes) -> SignedEnvelope:
        unsigned = Envelope(payload_type, payload)
        signed = Envelope(payload_type, payload, (Signature("", self.sign(unsigned.pae())),))
        return SignedEnvelope(envelope=signed.to_dict(), material=self._material)


class KeySigner(RawSigner):
    """Signs with a private key: a cosign key file, `env://VAR`, or any PEM private key."""

    def __init__(self, private_key: SigningKey, *, ed25519ph: bool = True) -> None:
        check_key(private_key, where="the signing key")
        self._key = private_key
        self._ed25519ph = ed25519ph
        self._material = Material(public_key_pem=public_key_pem(private_key))
        self.fingerprint = fingerprint(private_key)

    @classmethod
    def from_pem(
        cls, pem: bytes, *, password: PasswordCallback | None = None, where: str = "the key"
    ) -> KeySigner:
        return cls(load_private_key(pem, password=password, where=where))

    @property
    def description(self) -> str:
        return f"{describe(self._key)} key sha256:{self.fingerprint}"

    @property
    def public_key_pem(self) -> bytes:
        assert self._material.public_key_pem is not None
        return self._material.public_key_pem

    def sign(self, data: bytes) -> bytes:
        """The raw signature over `data`."""
        key = self._key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(_HASH[ecdsa_hash(key)]()))
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        if self._ed25519ph:
            return ed25519ph_sign(key, data)
        return key.sign(data)
