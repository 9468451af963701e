"""Ed25519 private keys in PKCS#8 v2 (RFC 5958 `OneAsymmetricKey`), which `cryptography`
does not read.

RFC 8410 section 7 lets an Ed25519 PKCS#8 key carry its public key (version 1, field
`[1] publicKey`); sigstore-rs writes keys that way, plain and inside cosign's encrypted
format. The structure is fixed for Ed25519, so it is read field by field here:

    SEQUENCE { INTEGER 1, SEQUENCE { OID 1.3.101.112 },
               OCTET STRING { OCTET STRING (32-byte seed) },
               [0] attributes OPTIONAL, [1] IMPLICIT BIT STRING (32-byte public key) OPTIONAL }

Invariant: the public key the file declares must be the one its seed derives; a file
whose two halves disagree is refused rather than trusted for either half.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from slsacheck.errors import InvalidKey

_SEQUENCE, _INTEGER, _OCTET_STRING, _OID = 0x30, 0x02, 0x04, 0x06
_ATTRIBUTES, _PUBLIC_KEY = 0xA0, 0x81  # [0] constructed, [1] primitive (IMPLICIT BIT STRING)
_ED25519_OID = bytes.fromhex("2b6570")  # 1.3.101.112
_KEY_SIZE = 32


def _tlv(data: bytes, offset: int) -> tuple[int, bytes, int]:
    """(tag, value, offset after) of the DER element at `offset`; definite lengths only."""
    if offset + 2 > len(data):
        raise ValueError("truncated")
    tag, length, offset = data[offset], data[offset + 1], offset + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 2 or offset + count > len(data):
            raise ValueError("bad length")
        length, offset = int.from_bytes(data[offset : offset + count], "big"), offset + count
    end = offset + length
    if end > len(data):
        raise ValueError("truncated")
    return tag, data[offset:end], end


def _elements(data: bytes) -> list[tuple[int, bytes]]:
    out, offset = [], 0
    while offset < len(data):
        tag, value, offset = _tlv(data, offset)
        out.append((tag, value))
    return out


def is_ed25519_v2(der: bytes) -> bool:
    """Whether `der` looks like a version-1 (v2) Ed25519 `OneAsymmetricKey`."""
    try:
        tag, body, end = _tlv(der, 0)
        fields = _elements(body)
    except ValueError:
        return False
    return (
        tag == _SEQUENCE
        and end == len(der)
        and len(fields) >= 3
        and fields[0] == (_INTEGER, b"\x01")
        and fields[1][0] == _SEQUENCE
        and _elements(fields[1][1]) == [(_OID, _ED25519_OID)]
    )


def load_ed25519_v2(der: bytes, *, where: str) -> ed25519.Ed25519PrivateKey:
    """The Ed25519 key of a v2 `OneAsymmetricKey`; `InvalidKey` if malformed or inconsistent."""
    if not is_ed25519_v2(der):
        raise InvalidKey(f"{where} is not an Ed25519 PKCS#8 v2 key")
    try:
        fields = _elements(_tlv(der, 0)[1])
        tag, seed = _elements(fields[2][1])[0] if fields[2][0] == _OCTET_STRING else (0, b"")
    except ValueError as exc:
        raise InvalidKey(f"{where}: malformed Ed25519 private key ({exc})") from None
    if tag != _OCTET_STRING or len(seed) != _KEY_SIZE:
        raise InvalidKey(f"{where}: malformed Ed25519 private key", expected="a 32-byte seed",
                         found=f"{len(seed)} bytes")
    rest = fields[3:]
    if rest and rest[0][0] == _ATTRIBUTES:
        rest = rest[1:]
    if len(rest) > 1 or (rest and rest[0][0] != _PUBLIC_KEY):
        raise InvalidKey(f"{where}: unexpected fields after the Ed25519 private key",
                         expected="[0] attributes and [1] publicKey at most")
    key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    if rest:
        declared = rest[0][1]
        derived = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        if declared != b"\x00" + derived:
            raise InvalidKey(
                f"{where}: the Ed25519 key's public half is not the one its private half derives",
                expected="the public key of the seed",
                found="another public key",
                hint="the key file is corrupt or was assembled from two keys; regenerate it",
            )
    return key
