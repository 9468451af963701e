"""Sigstore trust roots, read from files only: never TUF, never the network.

A `TrustedRoot` is the parsed `trusted_root.json` (media type
`application/vnd.dev.sigstore.trustedroot+json;version=0.1`), alone or inside a
`ClientTrustConfig`. It holds what verification trusts: Fulcio CAs, Rekor log keys
(found by the log id the root declares, not by a hash we compute: Rekor v2 Ed25519
logs declare ids that are not the SPKI hash), CT log keys and timestamp authorities,
each with its validity window.

Invariants:
- every window is a closed interval `[start, end]`, and `start` is required: a root
  that leaves it out is malformed and refused, never read as "since forever";
- a malformed file is one `InputError` naming the file, the field and what to do;
- keys and certificates are parsed once, here; verification never re-reads JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from slsacheck._json import load_object
from slsacheck.errors import InputError

if TYPE_CHECKING:
    from cryptography import x509

TRUSTED_ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
TRUST_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey

_EC_HASHES: dict[str, hashes.HashAlgorithm] = {
    "PKIX_ECDSA_P256_SHA_256": hashes.SHA256(),
    "PKIX_ECDSA_P384_SHA_384": hashes.SHA384(),
    "PKIX_ECDSA_P521_SHA_512": hashes.SHA512(),
}


class TrustRootError(InputError):
    """A trust root or client trust config that cannot be read."""


@dataclass(frozen=True)
class Validity:
    """A closed time interval; `end=None` means still valid."""

    start: datetime
    end: datetime | None = None

    def contains(self, when: datetime) -> bool:
        return self.start <= when and (self.end is None or when <= self.end)

    def __str__(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat() if self.end else 'open'}]"


@dataclass(frozen=True)
class LogKey:
    """A transparency log (Rekor) or CT log public key, under the id the root declares."""

    log_id: bytes
    key: PublicKey = field(repr=False)
    key_details: str
    validity: Validity
    base_url: str = ""

    def verify(self, signature: bytes, data: bytes) -> bool:
        """True when `signature` over `data` verifies with this key (never raises on a bad one)."""
        return verify_with_key(self.key, signature, data, hash_hint=_EC_HASHES.get(self.key_details))


@dataclass(frozen=True)
class CertificateAuthority:
    """A Fulcio CA or a timestamp authority: its chain, leaf (or intermediate) first, root last."""

    uri: str
    certificates: tuple[x509.Certificate, ...] = field(repr=False)
    validity: Validity


@dataclass(frozen=True)
class TrustedRoot:
    certificate_authorities: tuple[CertificateAuthority, ...]
    tlogs: tuple[LogKey, ...]
    ctlogs: tuple[LogKey, ...]
    timestamp_authorities: tuple[CertificateAuthority, ...]
    source: str = "<memory>"
    raw: bytes = field(default=b"", repr=False, compare=False)

    def tlog(self, log_id: bytes) -> LogKey | None:
        return next((t for t in self.tlogs if t.log_id == log_id), None)

    def ctlog(self, log_id: bytes) -> LogKey | None:
        return next((t for t in self.ctlogs if t.log_id == log_id), None)

    def fulcio_cas_at(self, when: datetime) -> list[CertificateAuthority]:
        return [ca for ca in self.certificate_authorities if ca.validity.contains(when)]


@dataclass(frozen=True)
class ClientTrustConfig:
    """A Sigstore ClientTrustConfig: the trusted root plus the signing config (kept as JSON)."""

    trusted_root: TrustedRoot
    signing_config: Mapping[str, Any] = field(repr=False)
    source: str = "<memory>"
    raw: bytes = field(default=b"", repr=False, compare=False)


def verify_with_key(
    key: PublicKey, signature: bytes, data: bytes, *, hash_hint: hashes.HashAlgorithm | None = None
) -> bool:
    """Verify a raw (DER for ECDSA) signature with the hash the key type implies."""
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hash_hint or _curve_hash(key)))
        else:
            key.verify(signature, data, padding.PKCS1v15(), hash_hint or hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def _curve_hash(key: ec.EllipticCurvePublicKey) -> hashes.HashAlgorithm:
    return {384: hashes.SHA384(), 521: hashes.SHA512()}.get(key.curve.key_size, hashes.SHA256())


# -- loading -------------------------------------------------------------------------


def load_trusted_root(path: str | Path) -> TrustedRoot:
    """Read a `trusted_root.json`, or the trusted root inside a ClientTrustConfig file."""
    raw, doc, where = _read(path)
    if doc.get("mediaType") == TRUST_CONFIG_MEDIA_TYPE:
        return load_trust_config(path).trusted_root
    return trusted_root_from_json(doc, source=where, raw=raw)


def load_trust_config(path: str | Path) -> ClientTrustConfig:
    raw, doc, where = _read(path)
    return trust_config_from_json(doc, source=where, raw=raw)


def trust_config_from_json(doc: Mapping[str, Any], *, source: str = "<memory>", raw: bytes = b"") -> ClientTrustConfig:
    _require_media_type(
        doc, TRUST_CONFIG_MEDIA_TYPE, f"{source}: not a Sigstore client trust config",
        hint="pass a ClientTrustConfig JSON file (or a trusted_root.json where a trust root is asked for)",
    )
    root = _obj(doc, "trustedRoot", source)
    signing = doc.get("signingConfig", {})
    if not isinstance(signing, Mapping):
        raise TrustRootError(f"{source}: signingConfig is not an object", hint="fix or regenerate the file")
    return ClientTrustConfig(
        trusted_root=trusted_root_from_json(root, source=f"{source}#trustedRoot"),
        signing_config=signing,
        source=source,
        raw=raw,
    )


def trusted_root_from_json(doc: Mapping[str, Any], *, source: str = "<memory>", raw: bytes = b"") -> TrustedRoot:
    """Parse a trusted root JSON object; every fault names `source` and the field."""
    _require_media_type(
        doc, TRUSTED_ROOT_MEDIA_TYPE, f"{source}: unsupported trusted root media type",
        hint="pass a Sigstore trusted_root.json (e.g. from `sigstore` or your private deployment)",
    )
    return TrustedRoot(
        certificate_authorities=tuple(
            _authority(a, f"{source}: certificateAuthorities[{i}]")
            for i, a in enumerate(_list(doc, "certificateAuthorities", source))
        ),
        tlogs=tuple(_log(t, f"{source}: tlogs[{i}]") for i, t in enumerate(_list(doc, "tlogs", source))),
        ctlogs=tuple(_log(t, f"{source}: ctlogs[{i}]") for i, t in enumerate(_list(doc, "ctlogs", source))),
        timestamp_authorities=tuple(
            _authority(a, f"{source}: timestampAuthorities[{i}]")
            for i, a in enumerate(_list(doc, "timestampAuthorities", source))
        ),
        source=source,
        raw=raw or json.dumps(doc).encode(),
    )


def _read(path: str | Path) -> tuple[bytes, Mapping[str, Any], str]:
    where = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise TrustRootError(f"cannot read trust root {where}: {exc.strerror}", hint="check the path") from exc
    doc = load_object(
        raw,
        not_json=lambda exc: TrustRootError(f"{where}: not JSON: {exc}", hint="pass a Sigstore trusted_root.json"),
        not_object=lambda _: TrustRootError(f"{where}: not a JSON object", hint="pass a Sigstore trusted_root.json"),
    )
    return raw, doc, where


def _require_media_type(doc: Mapping[str, Any], wanted: str, message: str, *, hint: str) -> None:
    media = doc.get("mediaType")
    if media != wanted:
        raise TrustRootError(message, expected=wanted, found=repr(media), hint=hint)


def _fail(where: str, what: str) -> TrustRootError:
    return TrustRootError(f"malformed trust root: {where}: {what}", hint="fix or regenerate the trust root file")


def _obj(doc: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = doc.get(key)
    if not isinstance(value, Mapping):
        raise _fail(where, f"{key} missing or not an object")
    return value


def _list(doc: Mapping[str, Any], key: str, where: str) -> Sequence[Mapping[str, Any]]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise _fail(where, f"{key} is not a list of objects")
    return value


def _b64(value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise _fail(where, "expected non-empty base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        try:  # protobuf JSON also allows the URL-safe alphabet
            return base64.urlsafe_b64decode(value)
        except (binascii.Error, ValueError) as exc:
            raise _fail(where, "invalid base64") from exc


def _time(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise _fail(where, "expected an RFC 3339 time")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _fail(where, f"bad RFC 3339 time {value!r}") from exc
    if when.tzinfo is None:
        raise _fail(where, f"time without a zone {value!r}")
    return when


def _validity(doc: Mapping[str, Any], where: str) -> Validity:
    window = doc.get("validFor")
    if not isinstance(window, Mapping):
        raise _fail(where, "validFor missing")
    if "start" not in window:
        raise _fail(where, "validFor.start missing (a window without a start is not 'forever')")
    start = _time(window["start"], f"{where}.validFor.start")
    end = _time(window["end"], f"{where}.validFor.end") if window.get("end") is not None else None
    if end is not None and end < start:
        raise _fail(where, "validFor ends before it starts")
    return Validity(start, end)


def _log(doc: Mapping[str, Any], where: str) -> LogKey:
    pub = _obj(doc, "publicKey", where)
    details = pub.get("keyDetails", "")
    raw = _b64(pub.get("rawBytes"), f"{where}.publicKey.rawBytes")
    try:
        key = serialization.load_der_public_key(raw)
    except (ValueError, TypeError) as exc:
        raise _fail(where, f"publicKey.rawBytes is not a DER public key ({exc})") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        raise _fail(where, f"unsupported public key type {type(key).__name__}")
    log_id = _b64(_obj(doc, "logId", where).get("keyId"), f"{where}.logId.keyId")
    return LogKey(
        log_id=log_id,
        key=key,
        key_details=str(details),
        validity=_validity(pub, f"{where}.publicKey"),
        base_url=str(doc.get("baseUrl", "")),
    )


def _authority(doc: Mapping[str, Any], where: str) -> CertificateAuthority:
    chain = _obj(doc, "certChain", where).get("certificates")
    if not isinstance(chain, list) or not chain:
        raise _fail(where, "certChain.certificates is empty")
    # x509 loads with the first trusted root read: key-only verification without one never pays for it.
    from cryptography import x509  # noqa: PLC0415

    certs = []
    for i, entry in enumerate(chain):
        der = _b64(entry.get("rawBytes") if isinstance(entry, Mapping) else None, f"{where}.certChain[{i}]")
        try:
            certs.append(x509.load_der_x509_certificate(der))
        except ValueError as exc:
            raise _fail(where, f"certChain[{i}] is not a DER certificate ({exc})") from exc
    return CertificateAuthority(uri=str(doc.get("uri", "")), certificates=tuple(certs), validity=_validity(doc, where))
