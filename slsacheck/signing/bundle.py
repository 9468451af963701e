"""Verify Sigstore bundles (v0.1, v0.2, v0.3): message signatures and DSSE, keyless
or with a key.

Why not sigstore-python's `Verifier` alone: it cannot verify key-based ("managed
key") bundles at all (its `Bundle` requires a certificate), it does not bind
`intoto` 0.0.2 log entries (what slsa-verifier's and cosign's older bundles carry),
it reads a trust root's validity end as exclusive where the specification makes it
inclusive, and it ignores the log key's own validity window. So the checks are done
here, in the order the Sigstore client specification gives (3 to 5 by
`signing.verifier.Verifier`, the same code cosign layers go through):

1. the bundle parses, its media type is known, the content is one message signature
   or one DSSE envelope, the material is a certificate or a public key;
2. the signature verifies over the artifact (or the digest it signs), or over the DSSE
   PAE, and for DSSE a subject of the in-toto statement names the artifact on every
   digest algorithm the two share (sha256, sha384, sha512, ...: npm names by sha512);
3. every tlog entry is from a log in the trust root, names THIS signature, signer and
   artifact/envelope, and is proven by its SET and/or its inclusion proof whose
   checkpoint the same log signed; v0.1 bundles need the SET, later ones the proof; a
   proof is never accepted without its checkpoint (the format requires it in every version);
4. RFC 3161 timestamps: each that verifies against a TSA of the trust root gives a time;
   one that does not is skipped and reported (as sigstore-python and sigstore-go do);
   duplicates and more than 32 are refused;
5. keyless: with at least one verified time (a SET-backed integrated time or a
   timestamp), the certificate chains to a Fulcio CA valid at every such time, it is
   valid then too, it has a valid SCT when the trust root lists CT logs, it has the
   Fulcio profile, and it names the expected identity.

Every failure is a `VerificationError` that says which check failed, expected vs found.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from cryptography import x509

from slsacheck.errors import Error, InputError, VerificationError
from slsacheck.models.artifact import ArtifactDigests
from slsacheck.models.digest import Digest, looks_like_digest
from slsacheck.models.statement import Statement
from slsacheck.signing import _bundle_doc, _rekor_body, _tlog
from slsacheck.signing._bundle_doc import MEDIA_TYPES
from slsacheck.signing._message import PREHASH, verify_message_signature
from slsacheck.signing.dsse import Envelope, Signature, pae
from slsacheck.signing.identity import Identity
from slsacheck.signing.keys import fingerprint
from slsacheck.signing.tlog_rule import DEFAULT_TLOG_RULE, TlogRule, checks_log
from slsacheck.signing.trust import PublicKey, TrustedRoot
from slsacheck.signing.verifier import Verified, VerifiedTimes, Verifier, certificate_key
from slsacheck.signing.verify_sig import PublicKeyVerifier

__all__ = [
    "MEDIA_TYPES",
    "Verified",
    "parse_digest_or_none",
    "verify_bundle",
    "verify_message_signature",
]

@dataclass(frozen=True)
class _Parsed:
    """The parts of a bundle, read before anything in it is believed."""

    media_type: str
    version: str
    content: _bundle_doc.Content
    leaf: x509.Certificate | None
    entries: list[_tlog.TlogEntry]
    stamps: list[bytes]


def _objects(value: object, what: str) -> list[Mapping[str, object]]:
    """A JSON list of objects (absent, null or empty: none); another shape, even a falsy one
    (`""`, `0`, `{}`), is a `TypeError`, which `_parse` reports as a field of the wrong type."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise TypeError(f"{what} is not a list of objects")
    return value


def _log_material(material: Mapping[str, object]) -> tuple[list[_tlog.TlogEntry], list[bytes]]:
    """The log entries and timestamps, as data: a shape the shared parsers refuse is a
    malformed bundle (a certificate that does not parse stays a verification failure)."""
    try:
        entries = [_tlog.entry_from_bundle(e) for e in _objects(material.get("tlogEntries"), "tlogEntries")]
        timestamp_data = _tlog.obj(material, "timestampVerificationData", "verificationMaterial")
        raw_ts = _objects(timestamp_data.get("rfc3161Timestamps"), "rfc3161Timestamps")
        stamps = [_tlog.b64(t.get("signedTimestamp"), "RFC 3161 timestamp") for t in raw_ts]
    except _bundle_doc.MalformedBundle:
        raise
    except VerificationError as exc:
        raise _bundle_doc.bad(exc.message, expected=exc.expected, found=exc.found, hint=exc.hint) from exc
    return entries, stamps


def _parse(bundle: bytes | str | Mapping[str, object]) -> _Parsed:
    """Every structural fault of the bundle, before any check: a `MalformedBundle` (or a
    `VerificationError` of a shared parser, which the caller turns into one)."""
    doc = _bundle_doc.parse_json(bundle)
    media_type = doc.get("mediaType")
    version = _bundle_doc.MEDIA_TYPES.get(media_type) if isinstance(media_type, str) else None
    if version is None:
        raise _bundle_doc.bad(
            "unsupported bundle media type",
            expected=" or ".join(_bundle_doc.MEDIA_TYPES),
            found=repr(media_type),
            hint="this is not a Sigstore bundle, or a version slsacheck does not know",
        )
    material = doc.get("verificationMaterial")
    if not isinstance(material, Mapping):
        raise _bundle_doc.bad("the bundle has no verificationMaterial")
    try:
        content = _bundle_doc.content(doc)
        leaf = _bundle_doc.certificate(material, version)
        entries, stamps = _log_material(material)
    except (AttributeError, TypeError) as exc:
        raise _bundle_doc.bad(f"the bundle has a field of the wrong type ({exc})") from exc
    return _Parsed(str(media_type), version, content, leaf, entries, stamps)


def verify_bundle(
    bundle: bytes | str | Mapping[str, object],
    *,
    artifact: bytes | None = None,
    digest: Digest | None = None,
    identity: Identity | None = None,
    public_key: PublicKey | None = None,
    trusted_root: TrustedRoot | None = None,
    tlog: TlogRule = DEFAULT_TLOG_RULE,
    now: datetime | None = None,
) -> Verified:
    """Verify a Sigstore bundle over an artifact (bytes, or a digest of it); raise `VerificationError`.

    A DSSE bundle's statement must name the artifact on every algorithm its subject and the
    artifact share (a file: all of them; a digest: its own); a message signature needs the
    artifact or the digest it signs (sha256 unless its `messageDigest` says otherwise).
    `tlog` is the transparency-log rule for a key-signed bundle (`tlog_rule`); keyless
    bundles always need their entry.
    """
    target = ArtifactDigests(artifact, digest)
    if public_key is not None and identity is not None:
        raise InputError(
            "give a public key or a certificate identity, not both",
            hint="a key-signed bundle has no certificate to hold an identity",
        )
    if public_key is None and (identity is None or trusted_root is None):
        raise InputError(
            "keyless verification needs an identity and a trust root",
            hint="pass --certificate-identity and --certificate-oidc-issuer with --trusted-root, or --key",
        )
    parsed = _parse(bundle)
    media_type, version, content, leaf = parsed.media_type, parsed.version, parsed.content, parsed.leaf
    entries, stamps = parsed.entries, parsed.stamps

    key = _signer_key(public_key, leaf)

    # 2: the signature over the artifact, or over the PAE (and the artifact among the subjects)
    statement = None
    try:
        if content.kind == "message":
            signed_algorithm = _check_message_digest(content, target)
            signed_data = artifact
            signed_digests = {a: d for a in PREHASH if (d := target.raw(a)) is not None}
            verify_message_signature(
                key,
                content.signature,
                artifact=artifact,
                digest=signed_digests[signed_algorithm],
                algorithm=content.digest_algorithm,
                digest_algorithm=signed_algorithm,
            )
        else:
            signed_data = pae(content.payload_type or "", content.payload or b"")
            signed_digests = {"sha256": hashlib.sha256(signed_data).digest()}
            PublicKeyVerifier(key).verify(content.signature, signed_data)
    except VerificationError as exc:
        raise VerificationError(
            f"bundle signature: {exc.message}", expected=exc.expected, found=exc.found, hint=exc.hint
        ) from exc
    statement_json = None
    if content.kind == "dsse":
        statement_json = _bundle_doc.check_statement(content, target)
        try:
            statement = Statement.from_dict(statement_json)
        except Error:
            statement = None  # e.g. an empty predicateType: the policy layer decides what that means

    # 3 and 4: log entries and timestamps (a key-signed bundle by its tlog rule)
    unchecked = 0
    missing = VerificationError(
        "the bundle has no transparency-log entry, and the rule requires one",
        expected="1 tlog entry naming this signature",
        found="0",
        hint="sign with the transparency log on (cosign's default), or relax the rule to `verify`",
    )
    if leaf is None and not checks_log(tlog, has_root=trusted_root is not None, has_entry=bool(entries),
                                       missing=missing):
        unchecked, entries, stamps = len(entries), [], []
    binding = _rekor_body.Binding(
        signature=content.signature,
        verifier=leaf if leaf is not None else key,
        signed_digests=signed_digests,
        signed_data=signed_data,
        payload_type=content.payload_type,
        payload=content.payload,
        envelopes=_envelope_forms(content),
    )
    times = VerifiedTimes()
    checker = Verifier.for_root(trusted_root, now=now) if trusted_root is not None else None
    if checker is not None:
        times = checker.establish_times(entries, binding, needs="set" if version == "0.1" else "proof", stamps=stamps)
    verified = Verified(
        kind=content.kind,
        media_type=media_type,
        integrated_time=times.earliest_integrated,
        timestamps=times.timestamps,
        rejected_timestamps=times.rejected,
        tlog_entries=len(entries),
        tlog_unchecked=unchecked,
        payload_type=content.payload_type,
        payload=content.payload,
        statement=statement,
        statement_json=statement_json,
    )
    if leaf is None:
        return replace(verified, key_fingerprint=fingerprint(key))

    # 5: keyless
    assert checker is not None and identity is not None
    if not entries:
        raise VerificationError(
            "a keyless bundle needs a transparency-log entry",
            expected="1 tlog entry",
            found="0",
            hint="the signer must log the signature in Rekor",
        )
    if not times.all:
        raise VerificationError(
            "no verified time for the signature",
            expected="an integrated time backed by a SET, or an RFC 3161 timestamp",
            found="; ".join(times.rejected) or "neither",
            hint="a keyless certificate is short-lived: without a trusted time it proves nothing",
        )
    subject, issuer = checker.verify_certificate(leaf, times.all, identity)
    return replace(verified, subject=subject, issuer=issuer, certificate=leaf)


def _signer_key(public_key: PublicKey | None, leaf: x509.Certificate | None) -> PublicKey:
    """The key to verify with: the one given for a key-signed bundle, the certificate's for a
    keyless one; a bundle of the other kind than the caller expects is refused."""
    if public_key is not None and leaf is not None:
        raise VerificationError(
            "the bundle was signed keyless (it carries a certificate) but a key was given",
            expected="a bundle with a publicKey hint",
            found="a certificate",
            hint="verify it with --certificate-identity/--certificate-oidc-issuer instead of --key",
        )
    if public_key is not None:
        return public_key
    if leaf is None:
        raise VerificationError(
            "the bundle was signed with a key (no certificate) but no key was given",
            expected="a certificate",
            found="a publicKey hint",
            hint="verify it with --key PUBLIC_KEY",
        )
    return certificate_key(leaf)


def _check_message_digest(content: _bundle_doc.Content, target: ArtifactDigests) -> str:
    """The algorithm of the digest the signature covers, once the bundle's `messageDigest`
    (when present) is this artifact's."""
    algorithm = content.digest_algorithm or "sha256"
    mine = target.raw(algorithm)
    if mine is None:
        raise VerificationError(
            f"the bundle signs the artifact's {algorithm} digest, and only {target.describe()} was given",
            expected=f"the artifact bytes or its {algorithm} digest",
            found=target.describe(),
            hint=f"pass the artifact file, or {algorithm}:<hex>",
        )
    if content.message_digest is not None and content.message_digest != mine:
        raise VerificationError(
            "the bundle's message digest is not the artifact's",
            expected=f"{algorithm}:{mine.hex()}",
            found=f"{algorithm}:{content.message_digest.hex()}",
            hint="this bundle signs another artifact",
        )
    return algorithm


def _envelope_forms(content: _bundle_doc.Content) -> tuple[bytes, ...]:
    """The envelope JSON a log may have hashed: a bundle re-encodes the envelope, so only the
    form cosign uploads (Go's `json.Marshal`) can be rebuilt."""
    if content.kind != "dsse":
        return ()
    signature = Signature(content.keyid, content.signature)
    return (Envelope(content.payload_type or "", content.payload or b"", (signature,)).to_json(),)


def parse_digest_or_none(text: str) -> Digest | None:
    """`<algorithm>:<hex>` as a Digest (sha256, sha384, sha512, ...), or None when `text` names no
    known algorithm (a path, then). A known algorithm with bad hex is an `InputError`."""
    if not looks_like_digest(text):
        return None
    return Digest.parse(text)
