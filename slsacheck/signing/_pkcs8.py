"""Private keys in PKCS#8 v2 (RFC 5958 `OneAsymmetricKey`), which `cryptography` does not read.

Version 1 of the structure may carry the public key after the private one; sigstore-rs
writes Ed25519 keys that way (RFC 8410 section 7), plain and inside cosign's encrypted
format. The fields are read here, the key is rebuilt as the version 0 structure
`cryptography` reads, and the public key the file declares is compared with the one the
private key derives:

    SEQUENCE { INTEGER 1, AlgorithmIdentifier, OCTET STRING privateKey,
               [0] attributes OPTIONAL, [1] IMPLICIT BIT STRING publicKey OPTIONAL }

Invariant: a file whose two halves disagree is refused rather than trusted for either half.
"""

from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from slsacheck.errors import InvalidKey

_SEQUENCE, _INTEGER = 0x30, 0x02
_ATTRIBUTES, _PUBLIC_KEY = 0xA0, 0x81  # [0] constructed, [1] primitive (IMPLICIT BIT STRING)


def _tlv(data: bytes, offset: int) -> tuple[int, bytes, int, int]:
    """(tag, value, start, end) of the DER element at `offset`; definite lengths only."""
    if offset + 2 > len(data):
        raise ValueError("truncated")
    tag, length, body = data[offset], data[offset + 1], offset + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 3 or body + count > len(data):
            raise ValueError("bad length")
        length, body = int.from_bytes(data[body : body + count], "big"), body + count
    end = body + length
    if end > len(data):
        raise ValueError("truncated")
    return tag, data[body:end], offset, end


def _fields(body: bytes) -> list[tuple[int, bytes, bytes]]:
    """(tag, value, whole encoding) of each element of a constructed value."""
    out, offset = [], 0
    while offset < len(body):
        tag, value, start, offset = _tlv(body, offset)
        out.append((tag, value, body[start:offset]))
    return out


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(size)]) + size


def is_v2(der: bytes) -> bool:
    """Whether `der` is a version 1 (v2) `OneAsymmetricKey`."""
    try:
        tag, body, _, end = _tlv(der, 0)
        fields = _fields(body)
    except ValueError:
        return False
    return tag == _SEQUENCE and end == len(der) and len(fields) >= 3 and fields[0][:2] == (_INTEGER, b"\x01")


def load_v2(der: bytes, *, where: str) -> PrivateKeyTypes:
    """The private key of a v2 `OneAsymmetricKey`; `InvalidKey` if malformed or inconsistent."""
    try:
        fields = _fields(_tlv(der, 0)[1])
    except ValueError as exc:
        raise InvalidKey(f"{where}: malformed PKCS#8 v2 private key ({exc})") from None
    rest = fields[3:]
    attributes = rest[0][2] if rest and rest[0][0] == _ATTRIBUTES else b""
    rest = rest[1:] if attributes else rest
    if len(rest) > 1 or (rest and rest[0][0] != _PUBLIC_KEY):
        raise InvalidKey(f"{where}: unexpected fields after the private key in a PKCS#8 v2 key",
                         expected="[0] attributes and [1] publicKey at most")
    body = b"\x02\x01\x00" + fields[1][2] + fields[2][2] + attributes
    try:
        key = serialization.load_der_private_key(b"\x30" + _length(len(body)) + body, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise InvalidKey(f"{where}: malformed PKCS#8 v2 private key", found=str(exc).splitlines()[0]) from None
    if rest and rest[0][1] not in {b"\x00" + encoded for encoded in _public_encodings(key)}:
        raise InvalidKey(
            f"{where}: the key's public half is not the one its private half derives",
            expected="the public key of the private key",
            found="another public key",
            hint="the key file is corrupt or was assembled from two keys; regenerate it",
        )
    return key


def _public_encodings(key: PrivateKeyTypes) -> list[bytes]:
    """The ways a v2 key file may write this key's public half."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return [key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)]
    if isinstance(key, ec.EllipticCurvePrivateKey):
        point = key.public_key()
        return [point.public_bytes(serialization.Encoding.X962, f) for f in
                (serialization.PublicFormat.UncompressedPoint, serialization.PublicFormat.CompressedPoint)]
    if isinstance(key, rsa.RSAPrivateKey):
        return [key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)]
    return []
