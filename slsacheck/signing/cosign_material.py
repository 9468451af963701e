"""Verify cosign's keyless material on `.sig`/`.att` layers (the pre-bundle format).

A cosign layer carries the signature and, as annotations, the Fulcio certificate
(`dev.sigstore.cosign/certificate`), its chain (`dev.sigstore.cosign/chain`) and the
Rekor SET (`dev.sigstore.cosign/bundle` =
`{"SignedEntryTimestamp": b64, "Payload": {"body", "integratedTime", "logIndex", "logID"}}`).
sigstore-python has no API for this format (its verifier only takes Sigstore
bundles), so it is checked here with the same primitives as bundles:

1. the signature verifies over the payload with the certificate's key (DER or r||s);
2. the SET verifies (ECDSA over the canonical JSON of `{body, integratedTime, logID,
   logIndex}`) with the trust root's Rekor key whose log id matches, and the entry
   body (hashedrekord 0.0.1, intoto 0.0.1 and 0.0.2, dsse 0.0.1) names this signature,
   this certificate and this payload or envelope (intoto 0.0.1 by the hash of the
   envelope blob cosign uploaded);
3. an RFC 3161 timestamp (`dev.sigstore.cosign/rfc3161timestamp` =
   `{"SignedRFC3161Timestamp": b64 DER TimeStampResp}`), when the layer has one, must
   verify: signed by a timestamp authority of the trust root, valid at its genTime, over
   the bytes cosign timestamps (the raw signature of a `.sig` layer; for a `.att` layer
   the envelope blob, or the DSSE signature as the Sigstore clients stamp it). A present
   timestamp that does not verify rejects the layer; it is never skipped;
4. the certificate chains to a Fulcio CA of the trust root at every verified time (the
   integrated time and the timestamp's genTime; now when there is neither), the `chain`
   annotation only offering intermediates (a self-signed certificate in it is dropped,
   never trusted), has a valid SCT when the root lists CT logs, and names the expected
   identity.

A timestamp is a time source, not a transparency log: `require_tlog` still demands the SET.

For `.att` layers pass the DSSE PAE as `payload` and the DSSE signature as
`signature`: the PAE is parsed back into payload type and payload to match `intoto`
and `dsse` entries, whose bodies hash the payload rather than the PAE.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from slsacheck.errors import VerificationError
from slsacheck.signing import _certs, _rekor_body, _tlog
from slsacheck.signing._x509ext import signing_key
from slsacheck.signing.dsse import Envelope
from slsacheck.signing.identity import Identity
from slsacheck.signing.trust import PublicKey, TrustedRoot
from slsacheck.signing.verify_sig import PublicKeyVerifier

_PAE = re.compile(rb"DSSEv1 (0|[1-9][0-9]*) ")


@dataclass(frozen=True)
class VerifiedSigner:
    """Who signed a cosign layer, and when the log saw it."""

    subject: str
    issuer: str
    integrated_time: datetime | None
    log_index: int | None
    log_id: str | None  # hex
    certificate: x509.Certificate = field(repr=False)
    timestamp: datetime | None = None  # genTime of a verified RFC 3161 timestamp


def parse_pae(data: bytes) -> tuple[str, bytes] | None:
    """Split `DSSEv1 <n> <type> <m> <payload>` back into (type, payload); None if not a PAE."""
    first = _PAE.match(data)
    if first is None:
        return None
    n = int(first.group(1))
    start = first.end()
    kind = data[start : start + n]
    rest = data[start + n :]
    second = re.match(rb" (0|[1-9][0-9]*) ", rest)
    if len(kind) != n or second is None:
        return None
    payload = rest[second.end() :]
    if len(payload) != int(second.group(1)):
        return None
    try:
        return kind.decode("utf-8"), payload
    except UnicodeDecodeError:
        return None


def _load_certs(pem: bytes, what: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise VerificationError(
            f"the {what} annotation is not PEM certificates", found=pem[:60].decode("ascii", "replace")
        ) from exc


def verify_cosign_material(
    signature: bytes,
    payload: bytes,
    *,
    certificate_pem: bytes,
    chain_pem: bytes | None,
    rekor_bundle: Mapping[str, Any] | None,
    identity: Identity,
    trusted_root: TrustedRoot,
    require_tlog: bool = True,
    envelope: Envelope | None = None,
    envelope_blob: bytes | None = None,
    rfc3161_timestamp: bytes | None = None,
    timestamped: Sequence[bytes] = (),
    now: datetime | None = None,
    check_signature: Callable[[PublicKey], None] | None = None,
) -> VerifiedSigner:
    """Verify one keyless cosign signature; raise `VerificationError` naming the failed check.

    `envelope`, for `.att` layers, names the DSSE envelope whose PAE is `payload`, and
    `envelope_blob` is the layer's exact bytes (what cosign uploaded to the log: an intoto
    0.0.1 entry names the envelope by their hash).
    `rfc3161_timestamp` is the DER of the layer's timestamp annotation; `timestamped`
    lists the bytes it may cover (default: the signature; a `.att` caller adds the
    envelope blob, which is what cosign stamps).
    `check_signature` replaces the check of the signature with the certificate's key: a
    blob signed by a Sigstore client is prehashed with SHA-256 whatever the curve, which
    a cosign layer's signature is not.
    """
    leaf = _load_certs(certificate_pem, "certificate")[0]
    intermediates = _certs.intermediates_only(_load_certs(chain_pem, "chain") if chain_pem else [])
    if check_signature is not None:
        check_signature(signing_key(leaf))
    else:
        PublicKeyVerifier(signing_key(leaf)).verify(signature, payload)

    now = now or datetime.now(UTC)
    entry = None
    when = now
    if rekor_bundle is not None:
        entry = _logged_entry(
            signature, payload, leaf, rekor_bundle, trusted_root,
            envelope=envelope, envelope_blob=envelope_blob, now=now,
        )
        assert entry.integrated_at is not None
        when = entry.integrated_at
    elif require_tlog:
        raise VerificationError(
            "the signature has no Rekor bundle (SET)",
            expected="a dev.sigstore.cosign/bundle annotation",
            found="none",
            hint="keyless signatures need the transparency-log proof; without it the short-lived "
            "certificate proves nothing about when it signed",
        )

    stamped_at = None
    if rfc3161_timestamp is not None:
        stamped_at = _verify_timestamp(rfc3161_timestamp, timestamped or (signature,), trusted_root, now)
    # Every verified time must fall inside the certificate's life; without a log entry or
    # a timestamp the only time we know is now, so an expired certificate fails here.
    times = [when] if entry is not None else []
    if stamped_at is not None:
        times.append(stamped_at)
    chain: list[x509.Certificate] = []
    for at in times or [now]:
        chain = _certs.verify_chain(leaf, trusted_root, at, extra_intermediates=intermediates)
    _certs.verify_scts(leaf, chain[0], trusted_root)
    _certs.check_fulcio_profile(leaf)
    subject, issuer = identity.verify(leaf)
    return VerifiedSigner(
        subject=subject,
        issuer=issuer,
        integrated_time=entry.integrated_at if entry else None,
        log_index=entry.log_index if entry else None,
        log_id=entry.log_id.hex() if entry else None,
        certificate=leaf,
        timestamp=stamped_at,
    )


def _logged_entry(
    signature: bytes,
    payload: bytes,
    signer: x509.Certificate | PublicKey,
    rekor_bundle: Mapping[str, Any],
    trusted_root: TrustedRoot,
    *,
    envelope: Envelope | None,
    envelope_blob: bytes | None,
    now: datetime,
) -> _tlog.TlogEntry:
    """The annotation's log entry, once its SET verifies with a log of the root, its body
    names this signature by this signer over this payload (or envelope), and its integrated
    time is within the log key's validity and not in the future."""
    entry = _tlog.entry_from_cosign_bundle(rekor_bundle)
    log_key = _tlog.log_key_for(entry, trusted_root)
    _tlog.verify_set(entry, log_key)
    if envelope is not None:
        if envelope.pae() != payload:
            raise VerificationError("the payload is not the PAE of the envelope given", hint="a caller bug")
        pae_parts: tuple[str, bytes] | None = (envelope.payload_type, envelope.payload)
    else:
        pae_parts = parse_pae(payload)
    _rekor_body.verify_body(
        entry,
        _rekor_body.Binding(
            signature=signature,
            verifier=signer,
            signed_digests={"sha256": hashlib.sha256(payload).digest()},
            signed_data=payload,
            payload_type=pae_parts[0] if pae_parts else None,
            payload=pae_parts[1] if pae_parts else None,
            envelopes=_envelope_forms(envelope, envelope_blob),
        ),
    )
    when = entry.integrated_at
    if when is None:
        raise VerificationError("the Rekor entry has no integrated time", hint="re-fetch the entry from the log")
    if not log_key.validity.contains(when):
        raise VerificationError(
            "the Rekor key was not valid when the entry was logged",
            expected=f"a time within {log_key.validity}",
            found=when.isoformat(),
        )
    if when > now + _tlog.CLOCK_SKEW:
        raise VerificationError(
            "the Rekor integrated time is in the future",
            expected=f"before {now.isoformat()}",
            found=when.isoformat(),
            hint="the entry was forged or the clock is wrong",
        )
    return entry


@dataclass(frozen=True)
class LoggedEntry:
    """A key-signed layer's log entry, verified."""

    integrated_time: datetime
    log_index: int
    log_id: str  # hex


def verify_key_log_entry(
    signature: bytes,
    payload: bytes,
    *,
    public_key: PublicKey,
    rekor_bundle: Mapping[str, Any],
    trusted_root: TrustedRoot,
    envelope: Envelope | None = None,
    envelope_blob: bytes | None = None,
    now: datetime | None = None,
) -> LoggedEntry:
    """Verify the `dev.sigstore.cosign/bundle` annotation of a key-signed layer (`cosign sign
    --key` logs by default): the same checks as for keyless material, with the key as signer.
    The signature itself must already have been verified with `public_key`."""
    entry = _logged_entry(
        signature, payload, public_key, rekor_bundle, trusted_root,
        envelope=envelope, envelope_blob=envelope_blob, now=now or datetime.now(UTC),
    )
    assert entry.integrated_at is not None
    return LoggedEntry(entry.integrated_at, entry.log_index, entry.log_id.hex())


def _envelope_forms(envelope: Envelope | None, blob: bytes | None) -> tuple[bytes, ...]:
    forms = [blob] if blob is not None else []
    if envelope is not None:
        forms.append(envelope.to_json())
    return tuple(forms)


_IMPRINT_HASHES = {
    "2.16.840.1.101.3.4.2.1": hashlib.sha256,
    "2.16.840.1.101.3.4.2.2": hashlib.sha384,
    "2.16.840.1.101.3.4.2.3": hashlib.sha512,
}


def _verify_timestamp(der: bytes, candidates: Sequence[bytes], root: TrustedRoot, now: datetime) -> datetime:
    """The genTime of the layer's RFC 3161 timestamp, once it verifies over one of `candidates`."""
    from rfc3161_client import decode_timestamp_response  # noqa: PLC0415  # only layers with timestamps

    what = "the dev.sigstore.cosign/rfc3161timestamp annotation"
    try:
        imprint = decode_timestamp_response(der).tst_info.message_imprint
    except ValueError as exc:
        raise VerificationError(
            f"{what} is not an RFC 3161 timestamp response", found=str(exc)[:200],
            hint="the timestamp was altered or is not DER",
        ) from exc
    hasher = _IMPRINT_HASHES.get(imprint.hash_algorithm.dotted_string)
    if hasher is None:
        raise VerificationError(
            f"{what} uses an unsupported hash", expected="SHA-256, SHA-384 or SHA-512",
            found=imprint.hash_algorithm.dotted_string,
        )
    covered = next((data for data in candidates if hasher(data).digest() == imprint.message), None)
    if covered is None:
        raise VerificationError(
            f"{what} covers other bytes than this signature",
            expected="a message imprint of " + " or ".join(hasher(d).hexdigest() for d in candidates),
            found=imprint.message.hex(),
            hint="the timestamp was copied from another signature",
        )
    try:
        stamped_at = _certs.verify_timestamp(der, covered, root)
    except VerificationError as exc:
        raise VerificationError(
            f"{what}: {exc.message}", expected=exc.expected, found=exc.found, hint=exc.hint
        ) from exc
    if stamped_at > now + _tlog.CLOCK_SKEW:
        raise VerificationError(
            f"{what} is dated in the future", expected=f"before {now.isoformat()}",
            found=stamped_at.isoformat(), hint="the timestamp was forged or the clock is wrong",
        )
    return stamped_at
