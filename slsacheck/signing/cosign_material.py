"""Verify cosign's keyless material on `.sig`/`.att` layers (the pre-bundle format).

A cosign layer carries the signature and, as annotations, the Fulcio certificate
(`dev.sigstore.cosign/certificate`), its chain (`dev.sigstore.cosign/chain`) and the
Rekor SET (`dev.sigstore.cosign/bundle` =
`{"SignedEntryTimestamp": b64, "Payload": {"body", "integratedTime", "logIndex", "logID"}}`).
sigstore-python has no API for this format (its verifier only takes Sigstore
bundles), so it is checked here through the same `Verifier` as bundles:

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

A layer is a `CosignLayer`; `verify_layer` checks keyless material, `verify_layer_entry`
the log entry of a key-signed layer. For `.att` layers the DSSE PAE is the `payload` and
the DSSE signature the `signature`: the PAE is parsed back into payload type and payload to
match `intoto` and `dsse` entries, whose bodies hash the payload rather than the PAE.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from slsacheck.errors import VerificationError
from slsacheck.signing import _rekor_body, _tlog
from slsacheck.signing._message import verify_message_signature
from slsacheck.signing.dsse import Envelope
from slsacheck.signing.identity import Identity
from slsacheck.signing.keys import fingerprint
from slsacheck.signing.trust import PublicKey, TrustedRoot
from slsacheck.signing.verifier import Verified, VerifiedTimes, Verifier, certificate_key
from slsacheck.signing.verify_sig import PublicKeyVerifier

if TYPE_CHECKING:
    from cryptography import x509

_PAE = re.compile(rb"DSSEv1 (0|[1-9][0-9]*) ")


@dataclass(frozen=True)
class CosignLayer:
    """One cosign signature and the annotations that travel with it (all as read, unverified)."""

    signature: bytes
    payload: bytes  # what the signature covers: simple-signing bytes, the DSSE PAE, or a file
    certificate_pem: bytes | None = None  # dev.sigstore.cosign/certificate
    chain_pem: bytes | None = None  # dev.sigstore.cosign/chain: intermediates on offer, never trusted
    rekor_bundle: Mapping[str, object] | None = None  # dev.sigstore.cosign/bundle, parsed JSON
    rfc3161_timestamp: bytes | None = None  # DER of dev.sigstore.cosign/rfc3161timestamp
    envelope: Envelope | None = None  # `.att`: the envelope whose PAE is `payload`
    envelope_blob: bytes | None = None  # `.att`: the layer's exact bytes, what cosign logs and stamps
    # A file signed by a Sigstore client is prehashed with SHA-256 whatever the curve,
    # which a layer's signature is not.
    prehashed: bool = False

    @property
    def stamped(self) -> tuple[bytes, ...]:
        """The bytes cosign may have timestamped: a `.sig` layer's signature, a `.att` layer's envelope blob."""
        return (self.signature, self.envelope_blob) if self.envelope_blob is not None else (self.signature,)


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
    from cryptography import x509  # noqa: PLC0415 - x509 loads only for a layer that carries a certificate

    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise VerificationError(
            f"the {what} annotation is not PEM certificates", found=pem[:60].decode("ascii", "replace")
        ) from exc


def check_signature(layer: CosignLayer, key: PublicKey) -> None:
    """The layer's signature verifies over its payload with `key` (prehashed: as a Sigstore message)."""
    if layer.prehashed:
        digest = hashlib.sha256(layer.payload).digest()
        verify_message_signature(key, layer.signature, artifact=layer.payload, digest=digest, algorithm=None)
    else:
        PublicKeyVerifier(key).verify(layer.signature, layer.payload)


def verify_layer(layer: CosignLayer, identity: Identity, verifier: Verifier, *, require_tlog: bool = True) -> Verified:
    """Verify one keyless cosign signature; raise `VerificationError` naming the failed check.

    Without a log entry (`require_tlog` off) and without a timestamp the only time known is
    the verifier's clock, so the certificate must be valid now: an expired one fails.
    """
    if layer.certificate_pem is None:
        raise VerificationError("the layer carries no certificate", hint="a key-signed layer is verified with its key")
    from slsacheck.signing import _certs  # noqa: PLC0415 - loads with the certificate (x509 path validation)

    leaf = _load_certs(layer.certificate_pem, "certificate")[0]
    intermediates = _certs.intermediates_only(_load_certs(layer.chain_pem, "chain") if layer.chain_pem else [])
    check_signature(layer, certificate_key(leaf))
    if layer.rekor_bundle is None and require_tlog:
        raise VerificationError(
            "the signature has no Rekor bundle (SET)",
            expected="a dev.sigstore.cosign/bundle annotation",
            found="none",
            hint="keyless signatures need the transparency-log proof; without it the short-lived "
            "certificate proves nothing about when it signed",
        )
    entry, times = _times(layer, leaf, verifier)
    subject, issuer = verifier.verify_certificate(
        leaf, times.all or (verifier.now,), identity, intermediates=intermediates
    )
    return _verified(layer, entry, times, subject=subject, issuer=issuer, certificate=leaf)


def verify_layer_entry(layer: CosignLayer, public_key: PublicKey, verifier: Verifier) -> Verified:
    """Verify the `dev.sigstore.cosign/bundle` annotation of a key-signed layer (`cosign sign
    --key` logs by default): the same checks as for keyless material, with the key as signer.
    The signature itself must already have been verified with `public_key`."""
    if layer.rekor_bundle is None:
        raise VerificationError("the layer carries no Rekor bundle", hint="a caller bug")
    entry, times = _times(layer, public_key, verifier)
    return _verified(layer, entry, times, key_fingerprint=fingerprint(public_key))


def _times(
    layer: CosignLayer, signer: x509.Certificate | PublicKey, verifier: Verifier
) -> tuple[_tlog.TlogEntry | None, VerifiedTimes]:
    """The layer's log entry (when it has one) and the times it and the timestamp establish."""
    entry = _tlog.entry_from_cosign_bundle(layer.rekor_bundle) if layer.rekor_bundle is not None else None
    times = verifier.establish_times(
        [entry] if entry is not None else [],
        _binding(layer, signer),
        needs="set",
        layer_stamp=layer.rfc3161_timestamp,
        layer_stamped=layer.stamped,
    )
    return entry, times


def _verified(
    layer: CosignLayer, entry: _tlog.TlogEntry | None, times: VerifiedTimes, *, subject: str | None = None,
    issuer: str | None = None, key_fingerprint: str | None = None, certificate: x509.Certificate | None = None,
) -> Verified:
    return Verified(
        kind="dsse" if layer.envelope is not None or parse_pae(layer.payload) is not None else "message",
        subject=subject,
        issuer=issuer,
        key_fingerprint=key_fingerprint,
        certificate=certificate,
        integrated_time=times.earliest_integrated,
        log_index=entry.log_index if entry is not None else None,
        log_id=entry.log_id.hex() if entry is not None else None,
        timestamps=times.timestamps,
        tlog_entries=1 if entry is not None else 0,
    )


def _binding(layer: CosignLayer, signer: x509.Certificate | PublicKey) -> _rekor_body.Binding:
    """What the log entry must name: this signature by this signer over this payload (or envelope)."""
    envelope = layer.envelope
    if envelope is not None:
        if envelope.pae() != layer.payload:
            raise VerificationError("the payload is not the PAE of the envelope given", hint="a caller bug")
        pae_parts: tuple[str, bytes] | None = (envelope.payload_type, envelope.payload)
    else:
        pae_parts = parse_pae(layer.payload)
    forms = [layer.envelope_blob] if layer.envelope_blob is not None else []
    if envelope is not None:
        forms.append(envelope.to_json())
    return _rekor_body.Binding(
        signature=layer.signature,
        verifier=signer,
        signed_digests={"sha256": hashlib.sha256(layer.payload).digest()},
        signed_data=layer.payload,
        payload_type=pae_parts[0] if pae_parts else None,
        payload=pae_parts[1] if pae_parts else None,
        envelopes=tuple(forms),
    )


def verify_cosign_material(
    signature: bytes,
    payload: bytes,
    *,
    certificate_pem: bytes,
    identity: Identity,
    trusted_root: TrustedRoot,
    chain_pem: bytes | None = None,
    rekor_bundle: Mapping[str, object] | None = None,
    require_tlog: bool = True,
    envelope: Envelope | None = None,
    envelope_blob: bytes | None = None,
    rfc3161_timestamp: bytes | None = None,
    now: datetime | None = None,
) -> Verified:
    """`verify_layer` with the layer's parts as arguments."""
    layer = CosignLayer(
        signature, payload, certificate_pem=certificate_pem, chain_pem=chain_pem, rekor_bundle=rekor_bundle,
        rfc3161_timestamp=rfc3161_timestamp, envelope=envelope, envelope_blob=envelope_blob,
    )
    return verify_layer(layer, identity, Verifier.for_root(trusted_root, now=now), require_tlog=require_tlog)
