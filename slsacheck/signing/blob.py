"""Signatures over files (blobs): what `cosign sign-blob` writes, read and checked offline.

A file's signature reaches a verifier in three shapes, all handled here:

- a Sigstore bundle (`cosign sign-blob --new-bundle-format`, cosign 3, sigstore-python,
  `slsacheck sign-blob`): `signing.bundle.verify_bundle` checks it whole;
- cosign 2's own bundle (`cosign sign-blob --bundle`): `{"base64Signature", "cert",
  "rekorBundle": {"SignedEntryTimestamp", "Payload"}}`, the same pieces as a `.sig` layer's
  annotations, so the same checks apply (`cosign_material.verify_layer`, `verify_layer_entry`);
- a detached signature and certificate (`--output-signature`, `--output-certificate`):
  base64 text (or raw bytes) and a PEM certificate (or base64 of the PEM, as cosign
  writes it, or DER).

What a detached signature cannot prove: it carries no transparency-log entry and no
timestamp, so for a keyless certificate there is no trusted time at which the short-lived
certificate was valid. Such a signature is refused unless the caller explicitly gives up
the log (`insecure_ignore_tlog`), and then the certificate must chain to the trust root and
be valid NOW, which a Fulcio certificate is for minutes only; the result says what was not
checked. A key-signed detached signature is judged on the key, under the key tlog rule
(`tlog_rule`): `require` refuses it, since it has no entry to check.

Blob signatures are prehashed: SHA-256 for every key and certificate the Sigstore clients
use (also P-384 ones), the curve's hash where a key asks for it, Ed25519 over the bytes.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from slsacheck.errors import InputError, VerificationError
from slsacheck.signing.cosign_material import CosignLayer, check_signature, verify_layer, verify_layer_entry
from slsacheck.signing.identity import Identity
from slsacheck.signing.keys import fingerprint
from slsacheck.signing.tlog_rule import DEFAULT_TLOG_RULE, TlogRule, checks_log
from slsacheck.signing.trust import PublicKey, TrustedRoot
from slsacheck.signing.verifier import Verifier

__all__ = [
    "CosignBlobBundle",
    "VerifiedBlob",
    "is_cosign_blob_bundle",
    "parse_cosign_blob_bundle",
    "read_certificates",
    "read_signature",
    "verify_blob_signature",
]

MAX_SIGNATURE_FILE = 64 * 1024
MAX_CERTIFICATE_FILE = 256 * 1024


@dataclass(frozen=True)
class VerifiedBlob:
    """What a verified blob signature proves, and what was left unchecked."""

    kind: Literal["key", "keyless"]
    signer: str  # "SUBJECT (ISSUER)" or "key sha256:<hex>"
    subject: str | None = None
    issuer: str | None = None
    key_fingerprint: str | None = None
    integrated_time: datetime | None = None
    tlog_entries: int = 0  # verified
    tlog_unchecked: int = 0  # present, not checked (key: no trust root, or rule `ignore`)
    unchecked: tuple[str, ...] = ()  # what the evidence could not prove, in words


@dataclass(frozen=True)
class CosignBlobBundle:
    """cosign 2's `sign-blob --bundle` file: the signature and what proves it."""

    signature: bytes
    certificate_pem: bytes | None
    rekor_bundle: Mapping[str, object] | None


def _b64(text: bytes | str) -> bytes | None:
    cleaned = b"".join(text.split()) if isinstance(text, bytes) else "".join(text.split()).encode("ascii", "replace")
    if not cleaned:
        return None
    try:
        return binascii.a2b_base64(cleaned + b"=" * (-len(cleaned) % 4)) if _is_b64(cleaned) else None
    except binascii.Error:
        return None


def _is_b64(data: bytes) -> bool:
    # Standard alphabet only: the decoder would silently drop anything else (URL-safe `-`/`_`
    # included) and hand back other bytes than the ones written.
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
    return all(c in alphabet for c in data)


def read_signature(data: bytes, *, where: str) -> bytes:
    """A signature file: base64 text as cosign writes it, else the raw signature bytes."""
    if not data.strip():
        raise InputError(f"{where} is empty", expected="a base64 signature (cosign sign-blob --output-signature)")
    if len(data) > MAX_SIGNATURE_FILE:
        raise InputError(f"{where} is too large for a signature", expected=f"at most {MAX_SIGNATURE_FILE} bytes",
                         found=f"{len(data)} bytes", hint="pass the signature file, not the artifact")
    decoded = _b64(data)
    return decoded if decoded else data


def read_certificates(data: bytes, *, where: str) -> bytes:
    """A certificate file -> PEM (leaf first): PEM, base64 of PEM (cosign's
    `--output-certificate`), DER or base64 of DER."""
    if len(data) > MAX_CERTIFICATE_FILE:
        raise InputError(f"{where} is too large for a certificate", expected=f"at most {MAX_CERTIFICATE_FILE} bytes",
                         found=f"{len(data)} bytes")
    candidates = [data]
    decoded = _b64(data)
    if decoded:
        candidates.append(decoded)
    for raw in candidates:
        if b"-----BEGIN CERTIFICATE-----" in raw:
            try:
                certs = x509.load_pem_x509_certificates(raw)
            except ValueError:
                continue
            return b"".join(c.public_bytes(Encoding.PEM) for c in certs)
        try:
            return x509.load_der_x509_certificate(raw).public_bytes(Encoding.PEM)
        except ValueError:
            continue
    raise InputError(
        f"{where} is not a certificate",
        expected="a PEM certificate, its base64 (cosign --output-certificate), or DER",
        found=repr(data[:40]),
        hint="pass the certificate the signer wrote next to the signature",
    )


def is_cosign_blob_bundle(doc: Mapping[str, object]) -> bool:
    return "base64Signature" in doc and "mediaType" not in doc


def parse_cosign_blob_bundle(doc: Mapping[str, object], *, where: str) -> CosignBlobBundle:
    """The pieces of cosign 2's blob bundle; a field of the wrong shape is an input error."""
    sig_text = doc.get("base64Signature")
    signature = _b64(sig_text) if isinstance(sig_text, str) else None
    if not signature:
        raise InputError(f"{where}: base64Signature is not base64 text", expected="the signature, base64",
                         found=repr(sig_text)[:80])
    cert = doc.get("cert")
    certificate_pem = None
    if cert not in (None, ""):
        if not isinstance(cert, str):
            raise InputError(f"{where}: cert is not a string", found=type(cert).__name__)
        certificate_pem = read_certificates(cert.encode("ascii", "replace"), where=f"{where} cert")
    rekor = doc.get("rekorBundle")
    if rekor is not None and not isinstance(rekor, Mapping):
        raise InputError(f"{where}: rekorBundle is not an object", found=type(rekor).__name__)
    return CosignBlobBundle(signature, certificate_pem, rekor)


def verify_blob_signature(
    artifact: bytes,
    signature: bytes,
    *,
    certificate_pem: bytes | None = None,
    rekor_bundle: Mapping[str, object] | None = None,
    public_key: PublicKey | None = None,
    identity: Identity | None = None,
    trusted_root: TrustedRoot | None = None,
    tlog: TlogRule = DEFAULT_TLOG_RULE,
    insecure_ignore_tlog: bool = False,
    now: datetime | None = None,
) -> VerifiedBlob:
    """Verify a signature over `artifact` made with a key or a certificate; raise
    `VerificationError` (or `InputError` for a missing part) naming the check that failed.

    `rekor_bundle` is cosign's SET form of a log entry. With a certificate the entry is
    required unless `insecure_ignore_tlog`; with a key `tlog` decides.
    """
    now = now or datetime.now(UTC)
    if (public_key is None) == (certificate_pem is None):
        raise InputError(
            "a blob signature is verified with a key or with its certificate, one of them",
            hint="--key PUB for a key-signed file; --certificate (or a bundle with one) and an identity otherwise",
        )
    if public_key is not None:
        check_signature(CosignLayer(signature, artifact, prehashed=True), public_key)
        return _with_key(artifact, signature, public_key, rekor_bundle=rekor_bundle, trusted_root=trusted_root,
                         tlog=tlog, now=now)
    assert certificate_pem is not None
    if identity is None or trusted_root is None:
        raise InputError(
            "a certificate is checked against an identity and a trust root",
            hint="pass --certificate-identity[-regexp], --certificate-oidc-issuer[-regexp] and --trusted-root",
        )
    if rekor_bundle is None and not insecure_ignore_tlog:
        raise VerificationError(
            "the signature carries no transparency-log entry, so nothing proves when its certificate was valid",
            expected="a Rekor entry (a Sigstore bundle, or cosign's --bundle with rekorBundle)",
            found="a detached signature and certificate only",
            hint="verify the bundle the signer wrote (--bundle); --insecure-ignore-tlog checks the certificate "
            "at the current time instead, which a short-lived Fulcio certificate rarely passes",
        )
    leaf_and_chain = x509.load_pem_x509_certificates(certificate_pem)
    chain_pem = b"".join(c.public_bytes(Encoding.PEM) for c in leaf_and_chain[1:]) or None
    layer = CosignLayer(signature, artifact, certificate_pem=leaf_and_chain[0].public_bytes(Encoding.PEM),
                        chain_pem=chain_pem, rekor_bundle=rekor_bundle, prehashed=True)
    signer = verify_layer(layer, identity, Verifier.for_root(trusted_root, now=now),
                          require_tlog=not insecure_ignore_tlog)
    unchecked = () if rekor_bundle is not None else (
        "no transparency-log entry: the certificate was checked at the current time, and nothing shows "
        "the signature was made while it was valid or that it was logged",
    )
    return VerifiedBlob(
        kind="keyless",
        signer=signer.signer,
        subject=signer.subject,
        issuer=signer.issuer,
        integrated_time=signer.integrated_time,
        tlog_entries=1 if rekor_bundle is not None else 0,
        unchecked=unchecked,
    )


def _with_key(
    artifact: bytes,
    signature: bytes,
    key: PublicKey,
    *,
    rekor_bundle: Mapping[str, object] | None,
    trusted_root: TrustedRoot | None,
    tlog: TlogRule,
    now: datetime,
) -> VerifiedBlob:
    """The log entry of a signature the key already verified, judged by the key tlog rule."""
    fp = fingerprint(key)
    missing = VerificationError(
        "the signature has no transparency-log entry, and the rule requires one",
        expected="a Rekor entry naming this signature (a bundle, or cosign's --bundle with rekorBundle)",
        found="none",
        hint="sign with the transparency log on (cosign's default) and verify its bundle, or relax --tlog",
    )
    checked = checks_log(tlog, has_root=trusted_root is not None, has_entry=rekor_bundle is not None, missing=missing)
    if checked and rekor_bundle is not None and trusted_root is not None:
        layer = CosignLayer(signature, artifact, rekor_bundle=rekor_bundle)
        entry = verify_layer_entry(layer, key, Verifier.for_root(trusted_root, now=now))
        return VerifiedBlob(kind="key", signer=f"key sha256:{fp}", key_fingerprint=fp,
                            integrated_time=entry.integrated_time, tlog_entries=1)
    unchecked = 1 if rekor_bundle is not None else 0
    note = "the key alone vouches for this signature: " + (
        "its transparency-log entry was not checked" if unchecked else "it carries no transparency-log entry"
    )
    return VerifiedBlob(kind="key", signer=f"key sha256:{fp}", key_fingerprint=fp, tlog_unchecked=unchecked,
                        unchecked=(note,))
