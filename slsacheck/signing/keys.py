"""Key files in cosign's formats: read, write, generate, fingerprint.

A cosign private key is PEM `ENCRYPTED SIGSTORE PRIVATE KEY` (or the legacy
`ENCRYPTED COSIGN PRIVATE KEY`) whose body is the JSON written by Go's
`json.Marshal`:

    {"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":B64(32 bytes)},
     "cipher":{"name":"nacl/secretbox","nonce":B64(24 bytes)},"ciphertext":B64}

The ciphertext is XSalsa20-Poly1305 (NaCl secretbox) under the 32-byte scrypt key,
over the PKCS#8 DER of the private key. Only the three scrypt settings the Sigstore
libraries write (N = 2^15, 2^16, 2^17 with r=8, p=1) are read: anything else could make
us burn memory and time for an attacker, so it is refused before scrypt runs.

Plain PEM keys (PKCS#8 `PRIVATE KEY`, SEC1 `EC PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY`,
and password-protected PKCS#8 `ENCRYPTED PRIVATE KEY`) are read too, and PKCS#8 v2 keys
(with their public key, as sigstore-rs writes Ed25519 keys), plain or cosign-encrypted. Accepted keys are
ECDSA P-256/P-384/P-521, Ed25519 and RSA of at least 2048 bits, the set cosign accepts.

Passwords come in through a callback that is called only when a key is encrypted; no
password or key material is ever logged or put into an error message.
"""

from __future__ import annotations

import hashlib
import os
import re
import textwrap
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from slsacheck.errors import InputError, InvalidKey
from slsacheck.signing import _pkcs8
from slsacheck.signing._encoding import b64decode, b64encode, go_json, strict_json

SIGSTORE_PEM_TYPE = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_PEM_TYPE = "ENCRYPTED COSIGN PRIVATE KEY"
ENCRYPTED_PEM_TYPES = (SIGSTORE_PEM_TYPE, COSIGN_PEM_TYPE)
PLAIN_PEM_TYPES = ("PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY")

SCRYPT_N_ALLOWED = (2**15, 2**16, 2**17)
SCRYPT_N_DEFAULT = 2**16
SCRYPT_R = 8
SCRYPT_P = 1
SALT_SIZE = 32
NONCE_SIZE = 24  # nacl.secret.SecretBox.NONCE_SIZE; nacl loads only where a private key is read or written
MIN_RSA_BITS = 2048
CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}

SigningKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
VerifyingKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey
PasswordCallback = Callable[[], bytes]

_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END ([A-Z0-9 ]+)-----",
    re.DOTALL,
)


# -- PEM ------------------------------------------------------------------------------


def _first_pem_block(data: bytes, where: str) -> tuple[str, bytes, bytes]:
    """(type, whole block bytes, base64 body) of the first PEM block, as Go's pem.Decode takes it."""
    match = _PEM_BLOCK.search(data)
    if match is None:
        raise InvalidKey(
            f"{where} is not a PEM key",
            expected="a PEM block (-----BEGIN ...-----)",
            found=_sketch(data),
            hint="pass a key written by `slsacheck generate-key-pair` or `cosign generate-key-pair`, or a PEM key",
        )
    kind, body, end = match.group(1), match.group(2), match.group(3)
    if kind != end:
        raise InvalidKey(
            f"{where} has a malformed PEM block",
            expected=f"-----END {kind.decode()}-----",
            found=f"-----END {end.decode()}-----",
        )
    return kind.decode("ascii"), match.group(0), body


def _pem_body(body: bytes, where: str) -> bytes:
    lines = [line.strip() for line in body.splitlines()]
    if any(b":" in line for line in lines):
        # RFC 1421 headers (Proc-Type, DEK-Info): OpenSSL's legacy encryption, read by cryptography.
        raise InvalidKey(f"{where} has PEM headers", expected="a PEM block without headers")
    return b64decode(b"".join(lines).decode("ascii", "replace"), what=f"the PEM body of {where}", error=InvalidKey)


def pem_encode(kind: str, der: bytes) -> bytes:
    """PEM as Go's `pem.EncodeToMemory` writes it: 64-character lines, trailing newline."""
    lines = textwrap.wrap(b64encode(der), 64) or [""]
    return (f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----\n").encode("ascii")


def _sketch(data: bytes) -> str:
    first = data.strip().split(b"\n", 1)[0][:40]
    return f"{len(data)} bytes starting {first!r}" if data else "an empty file"


# -- the encrypted format -------------------------------------------------------------


def _scrypt(password: bytes, salt: bytes, n: int) -> bytes:
    # scrypt needs 128 * r * N bytes; allow twice that for the implementation's overhead.
    return hashlib.scrypt(
        password, salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, maxmem=256 * SCRYPT_R * n + 2**20, dklen=32
    )


def encrypt_private_key(
    key: SigningKey,
    password: bytes,
    *,
    scrypt_n: int = SCRYPT_N_DEFAULT,
    pem_type: str = SIGSTORE_PEM_TYPE,
) -> bytes:
    """The PEM cosign writes for `key` under `password` (which may be empty, as in cosign)."""
    if scrypt_n not in SCRYPT_N_ALLOWED:
        raise InvalidKey("unsupported scrypt N", expected=_allowed_n(), found=str(scrypt_n))
    if pem_type not in ENCRYPTED_PEM_TYPES:
        raise InvalidKey("unsupported PEM type for an encrypted key", expected=" or ".join(ENCRYPTED_PEM_TYPES),
                         found=pem_type)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    salt = os.urandom(SALT_SIZE)
    import nacl.secret  # noqa: PLC0415

    nonce = os.urandom(NONCE_SIZE)
    box = nacl.secret.SecretBox(_scrypt(password, salt, scrypt_n))
    ciphertext = box.encrypt(der, nonce).ciphertext
    body = {
        "kdf": {"name": "scrypt", "params": {"N": scrypt_n, "r": SCRYPT_R, "p": SCRYPT_P}, "salt": b64encode(salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": b64encode(nonce)},
        "ciphertext": b64encode(ciphertext),
    }
    return pem_encode(pem_type, go_json(body))


def _allowed_n() -> str:
    return "N one of " + ", ".join(f"{n} (2^{n.bit_length() - 1})" for n in SCRYPT_N_ALLOWED) + ", r=8, p=1"


def _field(obj: Any, name: str, kind: type, where: str) -> Any:
    value = obj.get(name) if isinstance(obj, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvalidKey(
            f"{where}: the encrypted key has no valid {name!r}",
            expected=f"{name!r} as a JSON {'object' if kind is dict else kind.__name__}",
            found=type(value).__name__ if value is not None else "nothing",
        )
    return value


def decrypt_private_key(body: bytes, password: bytes, *, where: str) -> bytes:
    """The PKCS#8 DER inside the JSON body of a cosign encrypted key."""
    try:
        doc = strict_json(body, where=f"the encrypted key {where}", error=InvalidKey)
    except InputError as exc:
        raise InvalidKey(exc.message, expected=exc.expected, found=exc.found,
                         hint="the key file is damaged; restore it or generate a new key pair") from exc
    kdf = _field(doc, "kdf", dict, where)
    cipher = _field(doc, "cipher", dict, where)
    if _field(kdf, "name", str, where) != "scrypt":
        raise InvalidKey(f"{where}: unsupported key derivation", expected="scrypt", found=str(kdf["name"]))
    if _field(cipher, "name", str, where) != "nacl/secretbox":
        raise InvalidKey(f"{where}: unsupported cipher", expected="nacl/secretbox", found=str(cipher["name"]))
    params = _field(kdf, "params", dict, where)
    n, r, p = (_field(params, k, int, where) for k in ("N", "r", "p"))
    if n not in SCRYPT_N_ALLOWED or r != SCRYPT_R or p != SCRYPT_P:
        raise InvalidKey(
            f"{where}: unsupported scrypt parameters",
            expected=_allowed_n(),
            found=f"N={n}, r={r}, p={p}",
            hint="slsacheck reads the parameters the Sigstore tools write; re-encrypt the key "
            "with `cosign import-key-pair` or generate a new one",
        )
    salt = b64decode(_field(kdf, "salt", str, where), what=f"the salt of {where}", error=InvalidKey)
    nonce = b64decode(_field(cipher, "nonce", str, where), what=f"the nonce of {where}", error=InvalidKey)
    ciphertext = b64decode(_field(doc, "ciphertext", str, where), what=f"the ciphertext of {where}", error=InvalidKey)
    if len(nonce) != NONCE_SIZE:
        raise InvalidKey(f"{where}: bad nonce", expected=f"{NONCE_SIZE} bytes", found=f"{len(nonce)} bytes")
    import nacl.exceptions  # noqa: PLC0415
    import nacl.secret  # noqa: PLC0415

    box = nacl.secret.SecretBox(_scrypt(password, salt, n))
    try:
        return bytes(box.decrypt(ciphertext, nonce))
    except nacl.exceptions.CryptoError:
        raise InvalidKey(
            f"wrong password for {where}",
            hint="check COSIGN_PASSWORD or --password-file (an empty password is a password too); "
            "if the password is right, the key file is damaged",
        ) from None


# -- loading --------------------------------------------------------------------------


def check_key(key: object, *, where: str) -> SigningKey | VerifyingKey:
    """Accept only the algorithms and sizes cosign accepts."""
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if key.curve.name not in CURVES:
            raise InvalidKey(f"{where}: unsupported elliptic curve", expected="P-256, P-384 or P-521",
                             found=key.curve.name)
        return key
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise InvalidKey(f"{where}: RSA key too small", expected=f"at least {MIN_RSA_BITS} bits",
                             found=f"{key.key_size} bits")
        return key
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return key
    raise InvalidKey(f"{where}: unsupported key type", expected="ECDSA, Ed25519 or RSA",
                     found=type(key).__name__.lstrip("_"))


def _as_signing_key(key: object, where: str) -> SigningKey:
    checked = check_key(key, where=where)
    if not isinstance(checked, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey):
        raise InvalidKey(f"{where} is not a private key", found=type(checked).__name__)
    return checked



def is_encrypted(data: bytes) -> bool:
    """Whether loading this key will need a password."""
    match = _PEM_BLOCK.search(data)
    if match is None:
        return False
    kind = match.group(1).decode("ascii")
    legacy_openssl = b"Proc-Type: 4,ENCRYPTED" in match.group(2)
    return kind in ENCRYPTED_PEM_TYPES or kind == "ENCRYPTED PRIVATE KEY" or legacy_openssl


def load_private_key(data: bytes, *, password: PasswordCallback | None = None, where: str = "the key") -> SigningKey:
    """A signing key from a cosign encrypted key or a plain PEM private key.

    `password` is called once, and only if the key is encrypted.
    """
    kind, block, body = _first_pem_block(data, where)
    if kind in ENCRYPTED_PEM_TYPES:
        if password is None:
            raise InvalidKey(f"{where} is encrypted and no password was given",
                             hint="set COSIGN_PASSWORD (empty is allowed) or pass --password-file")
        der = decrypt_private_key(_pem_body(body, where), password(), where=where)
        if _pkcs8.is_v2(der):
            return _as_signing_key(_pkcs8.load_v2(der, where=where), where)
        try:
            key = serialization.load_der_private_key(der, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise InvalidKey(f"{where}: the decrypted key is not PKCS#8", found=str(exc)) from exc
        return _as_signing_key(key, where)
    if kind in ("PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE"):
        raise InvalidKey(f"{where} holds a {kind.lower()}, not a private key",
                         expected="a private key", found=kind,
                         hint="signing needs the private half (the .key file); the .pub is for verifying")
    if kind not in PLAIN_PEM_TYPES:
        raise InvalidKey(f"{where}: unsupported PEM type", expected=", ".join(ENCRYPTED_PEM_TYPES + PLAIN_PEM_TYPES),
                         found=kind)
    needs_password = kind == "ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in body
    secret: bytes | None = None
    if needs_password:
        if password is None:
            raise InvalidKey(f"{where} is encrypted and no password was given",
                             hint="set COSIGN_PASSWORD or pass --password-file")
        secret = password()
    if kind == "PRIVATE KEY" and b":" not in body:
        der = _pem_body(body, where)
        if _pkcs8.is_v2(der):
            return _as_signing_key(_pkcs8.load_v2(der, where=where), where)
    try:
        key = serialization.load_pem_private_key(block, password=secret)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        if needs_password and "password" in str(exc).lower():
            raise InvalidKey(f"wrong password for {where}",
                             hint="check COSIGN_PASSWORD or --password-file") from None
        raise InvalidKey(f"{where}: malformed {kind}", expected=f"a valid {kind}", found=str(exc)) from None
    return _as_signing_key(key, where)


def load_public_key(data: bytes, *, where: str = "the public key") -> VerifyingKey:
    """A verifying key from PKIX (`PUBLIC KEY`) or PKCS#1 (`RSA PUBLIC KEY`) PEM."""
    kind, block, _ = _first_pem_block(data, where)
    if kind not in ("PUBLIC KEY", "RSA PUBLIC KEY"):
        hint = "pass the .pub file, or print it with `slsacheck public-key --key KEY`" if "PRIVATE" in kind else None
        raise InvalidKey(f"{where} is not a public key", expected="PEM PUBLIC KEY", found=kind, hint=hint)
    try:
        key = serialization.load_pem_public_key(block)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise InvalidKey(f"{where}: malformed {kind}", expected=f"a valid {kind}", found=str(exc)) from None
    checked = check_key(key, where=where)
    assert not isinstance(checked, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey)
    return checked


# -- writing and naming ---------------------------------------------------------------


def public_key_of(key: SigningKey | VerifyingKey) -> VerifyingKey:
    if isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey):
        return key.public_key()
    return key


def public_key_der(key: SigningKey | VerifyingKey) -> bytes:
    """DER SubjectPublicKeyInfo."""
    return public_key_of(key).public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_pem(key: SigningKey | VerifyingKey) -> bytes:
    """PKIX PEM, as cosign writes `cosign.pub`."""
    return pem_encode("PUBLIC KEY", public_key_der(key))


def fingerprint(key: SigningKey | VerifyingKey) -> str:
    """sha256 hex of the DER SubjectPublicKeyInfo: names a key in messages without showing it."""
    return hashlib.sha256(public_key_der(key)).hexdigest()


def describe(key: SigningKey | VerifyingKey) -> str:
    """Algorithm and size, for people: "ECDSA P-256", "Ed25519", "RSA 3072"."""
    pub = public_key_of(key)
    if isinstance(pub, ec.EllipticCurvePublicKey):
        return f"ECDSA {CURVES.get(pub.curve.name, pub.curve.name)}"
    if isinstance(pub, rsa.RSAPublicKey):
        return f"RSA {pub.key_size}"
    return "Ed25519"


def generate_key_pair(password: bytes, *, scrypt_n: int = SCRYPT_N_DEFAULT) -> tuple[bytes, bytes]:
    """(encrypted private PEM, public PEM) for a new ECDSA P-256 key, as `cosign generate-key-pair`."""
    key = ec.generate_private_key(ec.SECP256R1())
    return encrypt_private_key(key, password, scrypt_n=scrypt_n), public_key_pem(key)
