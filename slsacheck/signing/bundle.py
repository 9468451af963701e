"""Verify Sigstore bundles (v0.1, v0.2, v0.3): message signatures and DSSE, keyless
or with a key.

Why not sigstore-python's `Verifier` alone: it cannot verify key-based ("managed
key") bundles at all (its `Bundle` requires a certificate), it does not bind
`intoto` 0.0.2 log entries (what slsa-verifier's and cosign's older bundles carry),
it reads a trust root's validity end as exclusive where the specification makes it
inclusive, and it ignores the log key's own validity window. So the checks are done
here, in the order the Sigstore client specification gives:

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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from cryptography import x509

from slsacheck.errors import Error, InputError, VerificationError
from slsacheck.models.digest import ArtifactDigests, Digest, looks_like_digest
from slsacheck.models.statement import Statement
from slsacheck.signing import _bundle_doc, _certs, _rekor_body, _timestamps, _tlog
from slsacheck.signing._bundle_doc import MEDIA_TYPES
from slsacheck.signing._message import PREHASH, verify_message_signature
from slsacheck.signing._x509ext import signing_key
from slsacheck.signing.cosign_material import VerifiedSigner, verify_cosign_material
from slsacheck.signing.dsse import Envelope, Signature, pae
from slsacheck.signing.identity import Identity
from slsacheck.signing.keys import fingerprint
from slsacheck.signing.tlog_rule import DEFAULT_TLOG_RULE, TlogRule
from slsacheck.signing.trust import PublicKey, TrustedRoot
from slsacheck.signing.verify_sig import PublicKeyVerifier

__all__ = [
    "MEDIA_TYPES",
    "VerifiedBundle",
    "VerifiedSigner",
    "parse_digest_or_none",
    "verify_bundle",
    "verify_cosign_material",
    "verify_message_signature",
]

CLOCK_SKEW = _tlog.CLOCK_SKEW


@dataclass(frozen=True)
class VerifiedBundle:
    """What a verified bundle proves."""

    kind: Literal["message", "dsse"]
    media_type: str
    signer: str  # "SUBJECT (ISSUER)" for keyless, "key sha256:<hex>" for a key
    subject: str | None = None
    issuer: str | None = None
    key_fingerprint: str | None = None
    integrated_time: datetime | None = None
    timestamps: tuple[datetime, ...] = ()  # genTimes of the RFC 3161 timestamps that verified
    rejected_timestamps: tuple[str, ...] = ()  # why each other timestamp was skipped
    tlog_entries: int = 0  # transparency-log entries verified (SET and/or inclusion proof)
    tlog_unchecked: int = 0  # entries present but not checked (key bundles: no trust root, or rule `ignore`)
    payload_type: str | None = None
    payload: bytes | None = field(default=None, repr=False)
    # The in-toto statement: the strict model when it parses as one, and always the JSON object.
    statement: Statement | None = field(default=None, repr=False)
    statement_json: Mapping[str, Any] | None = field(default=None, repr=False)
    certificate: x509.Certificate | None = field(default=None, repr=False)


@dataclass(frozen=True)
class _Parsed:
    """The parts of a bundle, read before anything in it is believed."""

    media_type: str
    version: str
    content: _bundle_doc.Content
    leaf: x509.Certificate | None
    entries: list[_tlog.TlogEntry]
    stamps: list[bytes]


def _log_material(material: Mapping[str, Any]) -> tuple[list[_tlog.TlogEntry], list[bytes]]:
    """The log entries and timestamps, as data: a shape the shared parsers refuse is a
    malformed bundle (a certificate that does not parse stays a verification failure)."""
    try:
        raw_entries = material.get("tlogEntries") or []
        entries = [_tlog.entry_from_bundle(e) for e in raw_entries]
        raw_ts = _tlog.obj(material, "timestampVerificationData", "verificationMaterial").get("rfc3161Timestamps") or []
        stamps = [_tlog.b64((t or {}).get("signedTimestamp"), "RFC 3161 timestamp") for t in raw_ts]
    except _bundle_doc.MalformedBundle:
        raise
    except VerificationError as exc:
        raise _bundle_doc.bad(exc.message, expected=exc.expected, found=exc.found, hint=exc.hint) from exc
    return entries, stamps


def _parse(bundle: bytes | str | Mapping[str, Any]) -> _Parsed:
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
    bundle: bytes | str | Mapping[str, Any],
    *,
    artifact: bytes | None = None,
    digest: Digest | None = None,
    identity: Identity | None = None,
    public_key: PublicKey | None = None,
    trusted_root: TrustedRoot | None = None,
    tlog: TlogRule = DEFAULT_TLOG_RULE,
    now: datetime | None = None,
) -> VerifiedBundle:
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

    if public_key is not None and leaf is not None:
        raise VerificationError(
            "the bundle was signed keyless (it carries a certificate) but a key was given",
            expected="a bundle with a publicKey hint",
            found="a certificate",
            hint="verify it with --certificate-identity/--certificate-oidc-issuer instead of --key",
        )
    if public_key is None and leaf is None:
        raise VerificationError(
            "the bundle was signed with a key (no certificate) but no key was given",
            expected="a certificate",
            found="a publicKey hint",
            hint="verify it with --key PUBLIC_KEY",
        )
    verifier: PublicKey = public_key if public_key is not None else _leaf_key(leaf)

    # 2: the signature over the artifact, or over the PAE (and the artifact among the subjects)
    statement = None
    try:
        if content.kind == "message":
            signed_algorithm = _check_message_digest(content, target)
            signed_data = artifact
            signed_digests = {a: d for a in PREHASH if (d := target.raw(a)) is not None}
            verify_message_signature(
                verifier,
                content.signature,
                artifact=artifact,
                digest=signed_digests[signed_algorithm],
                algorithm=content.digest_algorithm,
                digest_algorithm=signed_algorithm,
            )
        else:
            signed_data = pae(content.payload_type or "", content.payload or b"")
            signed_digests = {"sha256": hashlib.sha256(signed_data).digest()}
            PublicKeyVerifier(verifier).verify(content.signature, signed_data)
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
    if leaf is None and (tlog == "ignore" or trusted_root is None):
        if tlog == "require":
            raise InputError(
                "the transparency-log rule `require` needs a trust root", hint="pass --trusted-root FILE"
            )
        unchecked, entries, stamps = len(entries), [], []
    if leaf is None and tlog == "require" and not entries:
        raise VerificationError(
            "the bundle has no transparency-log entry, and the rule requires one",
            expected="1 tlog entry naming this signature",
            found="0",
            hint="sign with the transparency log on (cosign's default), or relax the rule to `verify`",
        )
    binding = _rekor_body.Binding(
        signature=content.signature,
        verifier=leaf if leaf is not None else verifier,
        signed_digests=signed_digests,
        signed_data=signed_data,
        payload_type=content.payload_type,
        payload=content.payload,
        envelopes=_envelope_forms(content),
    )
    integrated: list[datetime] = []
    times: list[datetime] = []
    now = now or datetime.now(UTC)
    for entry in entries:
        assert trusted_root is not None
        when = _verify_entry(entry, binding, trusted_root, version, now)
        if when is not None:
            integrated.append(when)
    tsa_times, rejected_stamps = _timestamps.verify_timestamps(stamps, content.signature, trusted_root, now)
    times = integrated + tsa_times
    if trusted_root is not None:
        for entry in entries:
            key = trusted_root.tlog(entry.log_id)
            checked = [entry.integrated_at] if entry.integrated_at else tsa_times
            for when in checked:
                if key is not None and when is not None and not key.validity.contains(when):
                    raise VerificationError(
                        "the transparency log key was not valid when the entry was logged",
                        expected=f"a time within {key.validity}",
                        found=when.isoformat(),
                        hint="the trust root retired this log key before (or introduced it after) this entry",
                    )

    if leaf is None:
        fp = fingerprint(verifier)
        return VerifiedBundle(
            kind=content.kind,
            media_type=str(media_type),
            signer=f"key sha256:{fp}",
            key_fingerprint=fp,
            integrated_time=min(integrated) if integrated else None,
            timestamps=tuple(tsa_times),
            rejected_timestamps=tuple(rejected_stamps),
            tlog_entries=len(entries),
            tlog_unchecked=unchecked,
            payload_type=content.payload_type,
            payload=content.payload,
            statement=statement,
            statement_json=statement_json,
        )

    # 5: keyless
    assert trusted_root is not None and identity is not None
    if not entries:
        raise VerificationError(
            "a keyless bundle needs a transparency-log entry",
            expected="1 tlog entry",
            found="0",
            hint="the signer must log the signature in Rekor",
        )
    if not times:
        raise VerificationError(
            "no verified time for the signature",
            expected="an integrated time backed by a SET, or an RFC 3161 timestamp",
            found="; ".join(rejected_stamps) or "neither",
            hint="a keyless certificate is short-lived: without a trusted time it proves nothing",
        )
    chain: list[x509.Certificate] = []
    for when in times:
        chain = _certs.verify_chain(leaf, trusted_root, when)
    _certs.verify_scts(leaf, chain[0], trusted_root)
    _certs.check_fulcio_profile(leaf)
    subject, issuer = identity.verify(leaf)
    return VerifiedBundle(
        kind=content.kind,
        media_type=str(media_type),
        signer=f"{subject} ({issuer})",
        subject=subject,
        issuer=issuer,
        integrated_time=min(integrated) if integrated else None,
        timestamps=tuple(tsa_times),
        rejected_timestamps=tuple(rejected_stamps),
        tlog_entries=len(entries),
        payload_type=content.payload_type,
        payload=content.payload,
        statement=statement,
        statement_json=statement_json,
        certificate=leaf,
    )


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


def _leaf_key(leaf: x509.Certificate | None) -> PublicKey:
    assert leaf is not None
    return signing_key(leaf)


def _verify_entry(
    entry: _tlog.TlogEntry, binding: _rekor_body.Binding, root: TrustedRoot, version: str, now: datetime
) -> datetime | None:
    """Check one log entry; return its integrated time when a SET vouches for it."""
    key = _tlog.log_key_for(entry, root)
    _rekor_body.verify_body(entry, binding)
    if entry.proof is not None:
        _tlog.verify_merkle_path(entry)
    has_checkpoint = entry.proof is not None and bool(entry.proof.checkpoint)
    if entry.proof is not None and not has_checkpoint:
        # The bundle format marks InclusionProof.checkpoint REQUIRED in every version: v0.1
        # may omit the proof, never half of it. An unsigned root proves nothing, and the
        # Sigstore clients (sigstore-python, sigstore-go) refuse the same bundles.
        raise VerificationError(
            "the tlog entry's inclusion proof has no checkpoint",
            expected="an inclusion proof with the log's signed checkpoint (required by the bundle format)",
            found="a proof without checkpoint",
            hint="re-fetch the entry with its checkpoint from the log (sigstore-python: `sigstore plumbing "
            "fix-bundle`), or drop the incomplete proof from a v0.1 bundle to rely on its SET",
        )
    if version != "0.1" and not has_checkpoint:
        raise VerificationError(
            "the tlog entry has no inclusion proof with a checkpoint",
            expected="an inclusion proof (required from bundle v0.2 on)",
            found="none",
            hint="re-fetch the entry with its inclusion proof from the log",
        )
    if version == "0.1" and entry.set_signature is None:
        raise VerificationError(
            "a v0.1 bundle's tlog entry needs an inclusion promise (SET)",
            found="none",
            hint="re-fetch the entry from the log",
        )
    if has_checkpoint:
        assert entry.proof is not None
        _tlog.verify_checkpoint(entry.proof, key)
    when = entry.integrated_at
    if entry.set_signature is not None and when is not None:
        _tlog.verify_set(entry, key)
        if when > now + CLOCK_SKEW:
            raise VerificationError(
                "the tlog entry's integrated time is in the future",
                expected=f"before {now.isoformat()}",
                found=when.isoformat(),
                hint="the entry was forged or the clock is wrong",
            )
        return when
    return None


def parse_digest_or_none(text: str) -> Digest | None:
    """`<algorithm>:<hex>` as a Digest (sha256, sha384, sha512, ...), or None when `text` names no
    known algorithm (a path, then). A known algorithm with bad hex is an `InputError`."""
    if not looks_like_digest(text):
        return None
    return Digest.parse(text)
