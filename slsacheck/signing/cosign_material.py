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
   body (hashedrekord 0.0.1, intoto 0.0.2, dsse 0.0.1) names this signature, this
   certificate and this payload or envelope;
3. the certificate chains to a Fulcio CA of the trust root at the integrated time
   (the `chain` annotation only offers intermediates; a self-signed certificate in it
   is dropped, never trusted), has a valid SCT when the root lists CT logs, and names
   the expected identity.

For `.att` layers pass the DSSE PAE as `payload` and the DSSE signature as
`signature`: the PAE is parsed back into payload type and payload to match `intoto`
and `dsse` entries, whose bodies hash the payload rather than the PAE.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from slsacheck.errors import VerificationError
from slsacheck.signing import _certs, _rekor_body, _tlog
from slsacheck.signing.dsse import Envelope
from slsacheck.signing.identity import Identity
from slsacheck.signing.trust import TrustedRoot
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
    now: datetime | None = None,
) -> VerifiedSigner:
    """Verify one keyless cosign signature; raise `VerificationError` naming the failed check.

    `envelope`, for `.att` layers, names the DSSE envelope whose PAE is `payload`.
    """
    leaf = _load_certs(certificate_pem, "certificate")[0]
    intermediates = _certs.intermediates_only(_load_certs(chain_pem, "chain") if chain_pem else [])
    key = leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        raise VerificationError("unsupported key type in the signing certificate", found=type(key).__name__)
    PublicKeyVerifier(key).verify(signature, payload)

    now = now or datetime.now(UTC)
    entry = None
    when = now
    if rekor_bundle is not None:
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
                verifier=leaf,
                signed_sha256=hashlib.sha256(payload).digest(),
                signed_data=payload,
                payload_type=pae_parts[0] if pae_parts else None,
                payload=pae_parts[1] if pae_parts else None,
            ),
        )
        assert entry.integrated_at is not None
        when = entry.integrated_at
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
    elif require_tlog:
        raise VerificationError(
            "the signature has no Rekor bundle (SET)",
            expected="a dev.sigstore.cosign/bundle annotation",
            found="none",
            hint="keyless signatures need the transparency-log proof; without it the short-lived "
            "certificate proves nothing about when it signed",
        )

    # Without a log entry the only time we know is now, so an expired certificate fails here.
    chain = _certs.verify_chain(leaf, trusted_root, when, extra_intermediates=intermediates)
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
    )
