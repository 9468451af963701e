"""Private keys other Sigstore clients wrote (sigstore-rs test data): every one loads with
its password, and Ed25519 keys in PKCS#8 v2 (RFC 5958 OneAsymmetricKey with the public
key) load plain and inside cosign's encrypted format. Forged v2 keys are refused."""

from __future__ import annotations

import base64
import hashlib
import json
import os

import nacl.secret
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from slsacheck.errors import InvalidKey
from slsacheck.signing import keys
from slsacheck.signing.keysigner import KeySigner
from slsacheck.signing.verify_sig import PublicKeyVerifier
from tests.support.env import shared_file
from tests.support.keys import all_keys

__all__ = ["all_keys"]  # a fixture, imported so pytest finds it here

RS_KEYS = ("realworld", "sigstore__sigstore-rs", "tests", "data", "keys")


def _password(name: str) -> bytes:
    return shared_file("realworld", "derived", f"password-{name}.txt").read_bytes().strip()


@pytest.mark.parametrize(
    ("name", "password", "kind"),
    [
        ("cosign_generated_encrypted_empty_private.key", "empty", ec.EllipticCurvePrivateKey),
        ("ecdsa_encrypted_private.key", "123", ec.EllipticCurvePrivateKey),
        ("rsa_encrypted_private.key", "123", rsa.RSAPrivateKey),
        ("ed25519_encrypted_private.key", "123", ed25519.Ed25519PrivateKey),
        ("ecdsa_private.key", None, ec.EllipticCurvePrivateKey),
        ("rsa_private.key", None, rsa.RSAPrivateKey),
        ("ed25519_private.key", None, ed25519.Ed25519PrivateKey),
    ],
)
def test_sigstore_rs_keys_load(name: str, password: str | None, kind: type) -> None:
    data = shared_file(*RS_KEYS, name).read_bytes()
    asked: list[bool] = []

    def secret() -> bytes:
        asked.append(True)
        return _password(password or "empty")

    key = keys.load_private_key(data, password=secret, where=name)
    assert isinstance(key, kind)
    assert bool(asked) == (password is not None)  # plain keys never ask for a password
    PublicKeyVerifier(keys.public_key_of(key)).verify(KeySigner(key).sign(b"m"), b"m")


def test_sigstore_rs_ed25519_v2_public_half_is_the_declared_one() -> None:
    der = keys._pem_body(shared_file(*RS_KEYS, "ed25519_private.key").read_bytes().split(b"-----")[2], "k")
    key = keys.load_private_key(shared_file(*RS_KEYS, "ed25519_private.key").read_bytes(), where="k")
    raw = keys.public_key_of(key).public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert der.endswith(raw)  # the [1] publicKey field is the key the seed derives


def test_sigstore_rs_wrong_password_is_refused() -> None:
    data = shared_file(*RS_KEYS, "ecdsa_encrypted_private.key").read_bytes()
    with pytest.raises(InvalidKey, match="wrong password"):
        keys.load_private_key(data, password=lambda: b"1234", where="ecdsa_encrypted_private.key")


# -- v2 keys built here, as sigstore-rs writes them, and forged variants ------------------


def _v2_der(seed: bytes, public: bytes | None, *, version: int = 1, extra: bytes = b"") -> bytes:
    inner = b"\x04\x20" + seed
    body = bytes([0x02, 0x01, version]) + bytes.fromhex("300506032b6570") + b"\x04" + bytes([len(inner)]) + inner
    if public is not None:
        body += b"\x81\x21\x00" + public
    body += extra
    return b"\x30" + bytes([len(body)]) + body


def _cosign_encrypt(der: bytes, password: bytes) -> bytes:
    """cosign's format around arbitrary DER (the project's writer only emits PKCS#8 v1)."""
    salt, nonce = os.urandom(32), os.urandom(24)
    box_key = hashlib.scrypt(password, salt=salt, n=2**15, r=8, p=1, maxmem=2**26, dklen=32)
    body = {
        "kdf": {"name": "scrypt", "params": {"N": 2**15, "r": 8, "p": 1}, "salt": base64.b64encode(salt).decode()},
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(nacl.secret.SecretBox(box_key).encrypt(der, nonce).ciphertext).decode(),
    }
    return keys.pem_encode(keys.SIGSTORE_PEM_TYPE, json.dumps(body).encode())


def _fresh() -> tuple[bytes, bytes]:
    key = ed25519.Ed25519PrivateKey.generate()
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return seed, public


@pytest.mark.parametrize("encrypted", [False, True])
def test_v2_key_built_here_loads_and_signs(encrypted: bool) -> None:
    seed, public = _fresh()
    der = _v2_der(seed, public)
    pem = _cosign_encrypt(der, b"pw") if encrypted else keys.pem_encode("PRIVATE KEY", der)
    key = keys.load_private_key(pem, password=lambda: b"pw", where="v2.key")
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    ed25519.Ed25519PublicKey.from_public_bytes(public).verify(key.sign(b"msg"), b"msg")


@pytest.mark.parametrize("encrypted", [False, True])
def test_v2_key_whose_public_half_is_another_key_is_refused(encrypted: bool) -> None:
    seed, _ = _fresh()
    _, other = _fresh()
    der = _v2_der(seed, other)
    pem = _cosign_encrypt(der, b"pw") if encrypted else keys.pem_encode("PRIVATE KEY", der)
    with pytest.raises(InvalidKey, match="public half is not the one its private half derives"):
        keys.load_private_key(pem, password=lambda: b"pw", where="forged.key")


@pytest.mark.parametrize(
    ("der", "message"),
    [
        (lambda s, p: _v2_der(s[:31], p), "32-byte seed|malformed"),
        (lambda s, p: _v2_der(s, p, extra=b"\x82\x01\x00"), "unexpected fields"),
        (lambda s, p: _v2_der(s, p)[:-5], "malformed"),
    ],
)
def test_malformed_v2_keys_are_one_clear_error(der: object, message: str) -> None:
    seed, public = _fresh()
    pem = keys.pem_encode("PRIVATE KEY", der(seed, public))  # type: ignore[operator]
    with pytest.raises(InvalidKey, match=message):
        keys.load_private_key(pem, where="bad.key")


def _upgrade(key: keys.SigningKey, public: bytes) -> bytes:
    """A v1 PKCS#8 key rewritten as v2 with `public` as its [1] publicKey (lengths < 65536)."""
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    head = 4 if der[1] == 0x82 else 3 if der[1] == 0x81 else 2
    body = b"\x02\x01\x01" + der[head + 3 :] + b"\x81" + _len(len(public) + 1) + b"\x00" + public
    return b"\x30" + _len(len(body)) + body


def _len(n: int) -> bytes:
    return bytes([n]) if n < 0x80 else bytes([0x81, n]) if n < 0x100 else bytes([0x82]) + n.to_bytes(2, "big")


@pytest.mark.parametrize("kind", ["p256", "rsa2048"])
def test_other_algorithms_in_pkcs8_v2_load_and_are_checked(all_keys: dict[str, keys.SigningKey], kind: str) -> None:
    key = all_keys[kind]
    if isinstance(key, ec.EllipticCurvePrivateKey):
        point = (serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        public = key.public_key().public_bytes(*point)
        other = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(*point)
    else:
        public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
        other = public[:-1] + bytes([public[-1] ^ 1])  # one bit off: not this key
    loaded = keys.load_private_key(keys.pem_encode("PRIVATE KEY", _upgrade(key, public)), where="v2.key")
    assert keys.fingerprint(loaded) == keys.fingerprint(key)
    with pytest.raises(InvalidKey, match="public half"):
        keys.load_private_key(_cosign_encrypt(_upgrade(key, other), b""), password=lambda: b"", where="forged.key")
