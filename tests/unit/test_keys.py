"""cosign key files: the encrypted format, plain PEM keys, fingerprints, upstream keys."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from slsacheck.errors import InvalidKey
from slsacheck.signing import keys
from tests.support.env import shared_file
from tests.support.keys import all_keys

__all__ = ["all_keys"]  # the fixture, imported for pytest

VERIFY = "anchors/verify"
PC_KEY = "sigstore__policy-controller__examples__keys__cosign.key"
PC_PUB = "sigstore__policy-controller__examples__keys__cosign.pub"
FAST_N = 2**15


def _body(pem: bytes) -> dict[str, object]:
    lines = pem.decode().strip().splitlines()
    return json.loads(base64.b64decode("".join(lines[1:-1])))  # type: ignore[no-any-return]


def _repack(body: dict[str, object], kind: str = keys.SIGSTORE_PEM_TYPE) -> bytes:
    return keys.pem_encode(kind, json.dumps(body, separators=(",", ":")).encode())


def _same_key(a: keys.SigningKey, b: keys.SigningKey) -> bool:
    return keys.public_key_der(a) == keys.public_key_der(b)


@pytest.mark.parametrize("name", ["p256", "p384", "p521", "ed25519", "rsa2048"])
def test_round_trip_each_algorithm(all_keys: dict[str, keys.SigningKey], name: str) -> None:
    key = all_keys[name]
    pem = keys.encrypt_private_key(key, b"s3cret", scrypt_n=FAST_N)
    assert pem.startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    loaded = keys.load_private_key(pem, password=lambda: b"s3cret")
    assert type(loaded) is type(key)
    assert _same_key(loaded, key)


@pytest.mark.parametrize("n", keys.SCRYPT_N_ALLOWED)
def test_round_trip_each_scrypt_n(all_keys: dict[str, keys.SigningKey], n: int) -> None:
    pem = keys.encrypt_private_key(all_keys["p256"], b"", scrypt_n=n)
    assert _body(pem)["kdf"] == {"name": "scrypt", "params": {"N": n, "r": 8, "p": 1},
                                 "salt": _body(pem)["kdf"]["salt"]}  # type: ignore[index]
    assert _same_key(keys.load_private_key(pem, password=lambda: b""), all_keys["p256"])


def test_generated_key_has_cosign_layout() -> None:
    private_pem, public_pem = keys.generate_key_pair(b"pw")
    text = private_pem.decode()
    assert text.startswith("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    assert text.endswith("-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    assert all(len(line) <= 64 for line in text.splitlines())
    raw = base64.b64decode("".join(text.strip().splitlines()[1:-1]))
    assert re.fullmatch(
        rb'\{"kdf":\{"name":"scrypt","params":\{"N":65536,"r":8,"p":1\},"salt":"[A-Za-z0-9+/=]{44}"\},'
        rb'"cipher":\{"name":"nacl/secretbox","nonce":"[A-Za-z0-9+/=]{32}"\},"ciphertext":"[A-Za-z0-9+/=]+"\}',
        raw,
    )
    body = json.loads(raw)
    assert len(base64.b64decode(body["kdf"]["salt"])) == 32
    assert len(base64.b64decode(body["cipher"]["nonce"])) == 24
    key = keys.load_private_key(private_pem, password=lambda: b"pw")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.curve.name == "secp256r1"
    assert keys.public_key_pem(key) == public_pem
    assert public_pem.startswith(b"-----BEGIN PUBLIC KEY-----\n")


def test_legacy_cosign_header_is_read(all_keys: dict[str, keys.SigningKey]) -> None:
    pem = keys.encrypt_private_key(all_keys["p256"], b"x", scrypt_n=FAST_N, pem_type=keys.COSIGN_PEM_TYPE)
    assert pem.startswith(b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----")
    assert _same_key(keys.load_private_key(pem, password=lambda: b"x"), all_keys["p256"])


def test_wrong_password_is_one_clear_error(all_keys: dict[str, keys.SigningKey]) -> None:
    pem = keys.encrypt_private_key(all_keys["p256"], b"right", scrypt_n=FAST_N)
    with pytest.raises(InvalidKey) as info:
        keys.load_private_key(pem, password=lambda: b"wrong", where="team.key")
    assert info.value.message == "wrong password for team.key"
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert "COSIGN_PASSWORD" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("params", "found"),
    [
        ({"N": 2**14, "r": 8, "p": 1}, "N=16384"),
        ({"N": 2**18, "r": 8, "p": 1}, "N=262144"),
        ({"N": 2**40, "r": 8, "p": 1}, "N=1099511627776"),  # would exhaust memory if scrypt ran
        ({"N": 2**16, "r": 16, "p": 1}, "r=16"),
        ({"N": 2**16, "r": 8, "p": 4}, "p=4"),
    ],
)
def test_other_scrypt_parameters_are_refused(
    all_keys: dict[str, keys.SigningKey], params: dict[str, int], found: str
) -> None:
    body = _body(keys.encrypt_private_key(all_keys["p256"], b"", scrypt_n=FAST_N))
    body["kdf"]["params"] = params  # type: ignore[index]
    with pytest.raises(InvalidKey, match="unsupported scrypt parameters") as info:
        keys.load_private_key(_repack(body), password=lambda: b"")
    assert found in (info.value.found or "")
    assert "65536" in (info.value.expected or "")


def test_encrypting_with_an_unlisted_n_is_refused(all_keys: dict[str, keys.SigningKey]) -> None:
    with pytest.raises(InvalidKey, match="unsupported scrypt N"):
        keys.encrypt_private_key(all_keys["p256"], b"", scrypt_n=2**14)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b["kdf"].update(name="argon2"), "unsupported key derivation"),
        (lambda b: b["cipher"].update(name="aes-gcm"), "unsupported cipher"),
        (lambda b: b["cipher"].update(nonce=base64.b64encode(b"short").decode()), "bad nonce"),
        (lambda b: b["cipher"].update(nonce="not base64!"), "nonce .* is not valid base64"),
        (lambda b: b.update(ciphertext=42), "no valid 'ciphertext'"),
        (lambda b: b.pop("kdf"), "no valid 'kdf'"),
        (lambda b: b["kdf"]["params"].update(N="65536"), "no valid 'N'"),
    ],
)
def test_malformed_encrypted_body(all_keys: dict[str, keys.SigningKey], mutate: object, message: str) -> None:
    body = _body(keys.encrypt_private_key(all_keys["p256"], b"", scrypt_n=FAST_N))
    mutate(body)  # type: ignore[operator]
    with pytest.raises(InvalidKey, match=message):
        keys.load_private_key(_repack(body), password=lambda: b"")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is not a PEM key"),
        (b"just some text\n", "is not a PEM key"),
        (b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "malformed PEM"),
        (b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n%%%%\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
         "not valid base64"),
        (keys.pem_encode(keys.SIGSTORE_PEM_TYPE, b"{not json"), "not valid JSON"),
        (keys.pem_encode(keys.SIGSTORE_PEM_TYPE, b'{"kdf":{},"kdf":{}}'), "duplicate JSON key"),
        (keys.pem_encode(keys.SIGSTORE_PEM_TYPE, b"[]"), "no valid 'kdf'"),
        (keys.pem_encode("OPENSSH PRIVATE KEY", b"x"), "unsupported PEM type"),
    ],
)
def test_malformed_key_files(data: bytes, message: str) -> None:
    with pytest.raises(InvalidKey, match=message):
        keys.load_private_key(data, password=lambda: b"")


def test_encrypted_key_without_password_callback(all_keys: dict[str, keys.SigningKey]) -> None:
    pem = keys.encrypt_private_key(all_keys["p256"], b"", scrypt_n=FAST_N)
    with pytest.raises(InvalidKey, match="encrypted and no password"):
        keys.load_private_key(pem)


def _plain(key: keys.SigningKey, fmt: serialization.PrivateFormat) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


@pytest.mark.parametrize(
    ("name", "fmt", "header"),
    [
        ("p256", serialization.PrivateFormat.PKCS8, b"PRIVATE KEY"),
        ("p384", serialization.PrivateFormat.TraditionalOpenSSL, b"EC PRIVATE KEY"),
        ("ed25519", serialization.PrivateFormat.PKCS8, b"PRIVATE KEY"),
        ("rsa2048", serialization.PrivateFormat.TraditionalOpenSSL, b"RSA PRIVATE KEY"),
        ("rsa2048", serialization.PrivateFormat.PKCS8, b"PRIVATE KEY"),
    ],
)
def test_plain_pem_keys_need_no_password(
    all_keys: dict[str, keys.SigningKey], name: str, fmt: serialization.PrivateFormat, header: bytes
) -> None:
    pem = _plain(all_keys[name], fmt)
    assert pem.startswith(b"-----BEGIN " + header + b"-----")

    def no_password() -> bytes:
        raise AssertionError("a plain key must not ask for a password")

    assert _same_key(keys.load_private_key(pem, password=no_password), all_keys[name])


def test_password_protected_pkcs8(all_keys: dict[str, keys.SigningKey]) -> None:
    pem = all_keys["p256"].private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.BestAvailableEncryption(b"pw"))
    assert _same_key(keys.load_private_key(pem, password=lambda: b"pw"), all_keys["p256"])
    with pytest.raises(InvalidKey, match="wrong password"):
        keys.load_private_key(pem, password=lambda: b"nope")


def test_openssl_legacy_encrypted_pem(all_keys: dict[str, keys.SigningKey]) -> None:
    pem = all_keys["p384"].private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                         serialization.BestAvailableEncryption(b"pw"))
    assert b"Proc-Type: 4,ENCRYPTED" in pem
    assert _same_key(keys.load_private_key(pem, password=lambda: b"pw"), all_keys["p384"])
    with pytest.raises(InvalidKey, match="encrypted and no password"):
        keys.load_private_key(pem)


def test_weak_and_foreign_keys_are_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(InvalidKey, match="RSA key too small"):
        keys.load_private_key(_plain(small, serialization.PrivateFormat.PKCS8))
    k1 = ec.generate_private_key(ec.SECP256K1())
    with pytest.raises(InvalidKey, match="unsupported elliptic curve"):
        keys.load_private_key(_plain(k1, serialization.PrivateFormat.PKCS8))
    with pytest.raises(InvalidKey, match="unsupported elliptic curve"):
        keys.load_public_key(keys.public_key_pem(k1))


def test_public_key_where_private_is_needed_and_back(all_keys: dict[str, keys.SigningKey]) -> None:
    pub = keys.public_key_pem(all_keys["p256"])
    with pytest.raises(InvalidKey, match="holds a public key, not a private key"):
        keys.load_private_key(pub)
    with pytest.raises(InvalidKey, match="is not a public key") as info:
        keys.load_public_key(_plain(all_keys["p256"], serialization.PrivateFormat.PKCS8))
    assert "public-key" in (info.value.hint or "")


@pytest.mark.parametrize("name", ["p256", "p384", "ed25519", "rsa2048"])
def test_public_key_pem_and_fingerprint(all_keys: dict[str, keys.SigningKey], name: str) -> None:
    key = all_keys[name]
    pem = keys.public_key_pem(key)
    loaded = keys.load_public_key(pem)
    assert keys.public_key_pem(loaded) == pem
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert keys.fingerprint(key) == keys.fingerprint(loaded) == hashlib.sha256(spki).hexdigest()
    assert pem == key.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)


def test_describe() -> None:
    assert keys.describe(ec.generate_private_key(ec.SECP384R1())) == "ECDSA P-384"
    assert keys.describe(ed25519.Ed25519PrivateKey.generate().public_key()) == "Ed25519"


# -- upstream: policy-controller's example key (cosign, legacy header, N = 2^15) --------


def test_policy_controller_key_decrypts_with_empty_password() -> None:
    data = shared_file(VERIFY, PC_KEY).read_bytes()
    assert data.startswith(b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----")
    key = keys.load_private_key(data, password=lambda: b"", where="cosign.key")
    assert keys.describe(key) == "ECDSA P-256"
    assert keys.public_key_pem(key) == shared_file(VERIFY, PC_PUB).read_bytes()
    assert keys.fingerprint(key) == keys.fingerprint(keys.load_public_key(shared_file(VERIFY, PC_PUB).read_bytes()))


def test_policy_controller_key_wrong_password() -> None:
    data = shared_file(VERIFY, PC_KEY).read_bytes()
    with pytest.raises(InvalidKey) as info:
        keys.load_private_key(data, password=lambda: b"wrong", where="cosign.key")
    assert str(info.value) == "wrong password for cosign.key"
