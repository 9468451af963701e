"""Check one candidate against one authority: who signed it, or why it does not count.

The rules a candidate must meet to count for an authority:

- a simple-signing signature: the payload blob matched its descriptor (the Store checked
  it while collecting), the payload parses, its `docker-manifest-digest` IS the image
  digest (a signature copied from another image's `.sig` names the other image), and the
  signature verifies with one of the authority's keys, or, keyless, through the
  certificate, the chain to the trusted root's Fulcio CA, the identity, and the Rekor SET;
- a DSSE attestation: the payloadType is in-toto, a signature over the PAE verifies (key,
  or keyless as above), the payload is an in-toto Statement and one of its subjects IS the
  image digest;
- a Sigstore bundle (referrer): the bundle verifies over the image (its manifest bytes /
  digest) with the authority's key, or keyless with its trusted root and identities; a
  DSSE bundle's statement must name the image digest too;
- key-signed evidence that carries a transparency-log entry (a bundle's tlog entry, or a
  layer's `dev.sigstore.cosign/bundle` annotation) follows the key authority's tlog rule
  (`signing.tlog_rule`: require / verify with its trusted root / ignore), the same for
  bundles and layers; the signer says whether it was log-checked.

Each kind of candidate (`TagSignature`, `TagAttestation`, `BundleReferrer`) has its own
check, chosen by `match`. `check` returns an `Accepted` (the signer, when the log saw it,
and what was signed) or raises `Refused` with one line of reason; `try_authority` returns
the same as a value, an `Accepted` or a `Refusal`. Trusted roots are read once per file or
TUF mirror (`TrustRoots`); a mirror's root comes from the TUF cache under the rules of its
`TufUse` (update when missing or expired, or never fetch: `--offline`, and servers that
refresh in the background).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from slsacheck._reason import one_line
from slsacheck.attach.candidates import COSIGN_SIGN_PREDICATE, BundleReferrer, Candidate, TagAttestation, TagSignature
from slsacheck.errors import Error
from slsacheck.models import mediatypes as mt
from slsacheck.models.digest import Digest
from slsacheck.models.evidence import SignerInfo
from slsacheck.models.statement import Statement
from slsacheck.policy.authority import Authority, KeyAuthority, KeylessAuthority, TrustSource
from slsacheck.signing.dsse import Envelope, verify_envelope
from slsacheck.signing.identity import Identity
from slsacheck.signing.keys import VerifyingKey, fingerprint, load_public_key
from slsacheck.signing.simplesigning import SimpleSigningPayload, parse_payload
from slsacheck.signing.tuf_source import Mirror
from slsacheck.signing.verify_sig import PublicKeyVerifier
from slsacheck.verify.named_key import foreign_key_reason, mismatch_only

if TYPE_CHECKING:
    from slsacheck.signing.trust import TrustedRoot
    from slsacheck.signing.tuf import TufUse
    from slsacheck.signing.verifier import Verified

T = TypeVar("T")
X = TypeVar("X")


class Refused(Exception):
    """This candidate does not count for this authority; the message says why (`causes`: the
    errors of each key or identity tried, when there were several tries)."""

    def __init__(self, reason: str, causes: Sequence[Error] = ()) -> None:
        super().__init__(reason)
        self.causes = tuple(causes)


@dataclass(frozen=True)
class Refusal:
    """Why a candidate does not count for an authority, as a value."""

    reason: str


class ParseMemo:
    """Layer blobs parsed once per verification, by digest: one blob listed under many
    layers (the collector already shares its bytes) costs one parse, whatever the
    listings' annotations say."""

    def __init__(self) -> None:
        self._done: dict[tuple[str, Digest], object] = {}

    def get(self, what: str, c: TagSignature | TagAttestation, parse: Callable[[], T]) -> T:
        key = (what, c.layer.digest)
        if key not in self._done:
            try:
                self._done[key] = parse()
            except Error as exc:
                self._done[key] = exc
        value = self._done[key]
        if isinstance(value, Error):
            raise value
        # Each `what` is stored by one parser only, so the value has that parser's type.
        return cast(T, value)


@dataclass(frozen=True)
class Accepted:
    """This evidence verified for an authority: signed by `signer` (at the time the log or a
    timestamp established), saying `statement` (attestations) or `optional` (signatures)."""

    signer: SignerInfo
    statement: Statement | None = None  # attestations: the verified statement
    optional: Mapping[str, object] = field(default_factory=dict)  # signatures: simple-signing `optional`, JSON


class TrustRoots:
    """Trusted roots read once per file or mirror for a whole verification run."""

    def __init__(self, tuf: TufUse | None = None) -> None:
        self._roots: dict[Path, TrustedRoot] = {}
        # A TUF root with the expiry it was read under: a long run (an audit) takes the
        # refreshed root once the one it holds runs out, as its TufUse allows.
        self._tuf_roots: dict[str, tuple[TrustedRoot, datetime]] = {}
        self._tuf = tuf

    def prepare(self, authorities: Mapping[str, Authority]) -> None:
        """Read every authority's trusted root now (keyless ones, and key authorities that
        check the log), so a bad path is an error about the policy, not a reason attached to
        each signature."""
        for authority in authorities.values():
            root = authority.trusted_root
            if root is not None:
                self.get(root)

    def get(self, source: TrustSource) -> TrustedRoot:
        if isinstance(source, Mirror):
            held = self._tuf_roots.get(source.url)
            if held is not None and (datetime.now(UTC) <= held[1] or (self._tuf and self._tuf.serve_expired)):
                return held[0]
            from slsacheck.signing import tuf  # noqa: PLC0415 - python-tuf loads only for TUF roots

            found = tuf.current(source, self._tuf or tuf.TufUse())
            self._tuf_roots[source.url] = (found.load(), found.expires)
            return self._tuf_roots[source.url][0]
        key = Path(source).resolve()
        if key not in self._roots:
            self._roots[key] = _load_trusted_root(key)
        return self._roots[key]


def _load_trusted_root(path: Path) -> TrustedRoot:
    # The Sigstore verification code (trusted roots, log entries, certificates) loads with
    # the first trusted root: a key authority that checks no log never pays for it.
    from slsacheck.signing.trust import load_trusted_root  # noqa: PLC0415

    return load_trusted_root(path)


def _verifiers(authority: KeyAuthority) -> list[PublicKeyVerifier]:
    where = f"a key of authority {authority.name}"
    return [PublicKeyVerifier.from_pem(pem, where=where) for pem in authority.public_keys]


def _keyless_signer(result: Verified) -> SignerInfo:
    """The signer a keyless verification established, named by its certificate and by the key
    it certifies, so one signer is counted once however many authorities (key or keyless)
    accept it."""
    certificate = result.certificate
    key_fp = cert_fp = None
    if certificate is not None:

        cert_fp = certificate.fingerprint(hashes.SHA256()).hex()
        spki = certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        key_fp = hashlib.sha256(spki).hexdigest()
    return SignerInfo(
        "keyless",
        key_fingerprint=key_fp,
        subject=result.subject,
        issuer=result.issuer,
        tlog=_logged(result),
        integrated_time=result.integrated_time,
        certificate_fingerprint=cert_fp,
    )


def _logged(result: Verified) -> bool:
    """A verified transparency-log entry backs the signature: a cosign layer's SET, or any
    entry a bundle verified, since a Rekor v2 entry proves inclusion by its signed
    checkpoint and carries no time (the TSA gives that)."""
    return result.tlog_entries > 0


def _first(items: Sequence[X], label: Callable[[X], str], attempt: Callable[[X], T]) -> T:
    """The result of `attempt` on the first item it succeeds for; refused with every reason otherwise."""
    reasons, causes = [], []
    for item in items:
        try:
            return attempt(item)
        except Error as exc:
            causes.append(exc)
            reasons.append(f"{label(item)}: {one_line(exc)}" if len(items) > 1 else one_line(exc))
    raise Refused("; ".join(reasons) if reasons else "nothing to verify with", causes)


def _by_keys(
    c: Candidate, authority: KeyAuthority, items: Sequence[X], label: Callable[[X], str], attempt: Callable[[X], T],
    *, verifies: Callable[[VerifyingKey], object],
) -> T:
    """`_first` over a key authority's keys; when none matches the signature, the refusal
    names the key that did sign, as far as the evidence names it (`named_key`)."""
    try:
        return _first(items, label, attempt)
    except Refused as exc:
        if not mismatch_only(exc.causes):
            raise
        fps = [fingerprint(load_public_key(pem)) for pem in authority.public_keys]

        def check(key: VerifyingKey) -> bool:
            try:
                verifies(key)
            except Error:
                return False
            return True

        raise Refused(foreign_key_reason(c, authority.name, fps, check)) from None


def _describe_verifier(v: PublicKeyVerifier) -> str:
    return v.description


def _numbered(what: str) -> Callable[[tuple[int, object]], str]:
    def label(numbered: tuple[int, object]) -> str:
        return f"{what} {numbered[0]}"

    return label


# -- simple signing ---------------------------------------------------------------------


def _check_signature(
    c: TagSignature, authority: Authority, digest: Digest, roots: TrustRoots, now: datetime | None, *,
    memo: ParseMemo,
) -> Accepted:
    signature, data = c.signature, c.payload
    try:
        payload: SimpleSigningPayload = memo.get("payload", c, lambda: parse_payload(data))
    except Error as exc:
        raise Refused(f"the payload is not a cosign signature payload: {one_line(exc)}") from None
    if payload.digest != digest:
        raise Refused(
            f"the payload signs {payload.digest}, not this image {digest} "
            "(a signature copied from another image's .sig)"
        )
    optional = dict(payload.optional or {})
    if isinstance(authority, KeyAuthority):
        def by_key(v: PublicKeyVerifier) -> PublicKeyVerifier:
            v.verify(signature, data)
            return v

        verifier = _by_keys(c, authority, _verifiers(authority), _describe_verifier, by_key,
                            verifies=lambda key: PublicKeyVerifier(key).verify(signature, data))
        logged = _key_log_entry(c, authority, roots, signature=signature, payload=data, key=verifier, now=now)
        return Accepted(_key_signer(verifier, logged), optional=optional)
    result = _keyless_material(c, authority, roots, signature=signature, payload=data, now=now)
    return Accepted(_keyless_signer(result), optional=optional)


def _keyless_material(
    c: TagSignature | TagAttestation, authority: KeylessAuthority, roots: TrustRoots, *, signature: bytes,
    payload: bytes, now: datetime | None,
) -> Verified:
    """Keyless cosign material (certificate, chain, Rekor SET, RFC 3161 annotations) over `payload`:
    the simple-signing bytes, or the DSSE PAE."""
    material = c.material
    certificate = material.certificate
    if certificate is None:
        raise Refused("signed with a key (no certificate), and this authority is keyless")
    from slsacheck.signing.cosign_material import CosignLayer, verify_layer  # noqa: PLC0415 - see _load_trusted_root
    from slsacheck.signing.verifier import Verifier  # noqa: PLC0415

    verifier = Verifier.for_root(roots.get(authority.trusted_root), now=now)
    layer = CosignLayer(
        signature, payload, certificate_pem=certificate, chain_pem=material.chain,
        rekor_bundle=material.rekor_bundle, rfc3161_timestamp=material.rfc3161_timestamp,
        envelope_blob=c.envelope_blob if isinstance(c, TagAttestation) else None,
    )

    def as_identity(identity: Identity) -> Verified:
        return verify_layer(layer, identity, verifier, require_tlog=authority.require_tlog)

    return _first(authority.identities, Identity.describe, as_identity)


# -- key-signed evidence and the transparency log ------------------------------------------


def _key_signer(verifier: PublicKeyVerifier, logged: Verified | None) -> SignerInfo:
    return SignerInfo("key", key_fingerprint=verifier.fingerprint, tlog=logged is not None,
                      integrated_time=logged.integrated_time if logged else None)


def _key_log_root(
    rekor_bundle: Mapping[str, object] | None, authority: KeyAuthority, roots: TrustRoots
) -> TrustedRoot | None:
    """The root to check a key-signed layer's log entry with, or None when the rule says not
    to (`ignore`, or `verify` without a root); `require` without an entry is refused."""
    if authority.tlog == "ignore" or authority.trusted_root is None:
        return None
    if rekor_bundle is None:
        if authority.tlog == "require":
            raise Refused(
                f"no transparency-log entry (dev.sigstore.cosign/bundle annotation), and authority "
                f"{authority.name} requires one (tlog: require)"
            )
        return None
    return roots.get(authority.trusted_root)


def _key_log_entry(
    c: TagSignature | TagAttestation, authority: KeyAuthority, roots: TrustRoots, *, signature: bytes,
    payload: bytes, key: PublicKeyVerifier, now: datetime | None, envelope: Envelope | None = None,
) -> Verified | None:
    rekor_bundle = c.material.rekor_bundle
    root = _key_log_root(rekor_bundle, authority, roots)
    if root is None or rekor_bundle is None:
        return None
    from slsacheck.signing.cosign_material import CosignLayer, verify_layer_entry  # noqa: PLC0415 - see _load_trusted_root
    from slsacheck.signing.verifier import Verifier  # noqa: PLC0415

    layer = CosignLayer(signature, payload, rekor_bundle=rekor_bundle, envelope=envelope,
                        envelope_blob=c.envelope_blob if isinstance(c, TagAttestation) else None)
    return verify_layer_entry(layer, key.public_key, Verifier.for_root(root, now=now))


def _key_log_entry_envelope(
    c: TagAttestation, authority: KeyAuthority, roots: TrustRoots, *, envelope: Envelope, key: PublicKeyVerifier,
    now: datetime | None,
) -> Verified | None:
    """The log entry of the envelope signature this key made (an envelope may carry several)."""
    pae = envelope.pae()
    mine = []
    for sig in envelope.signatures:
        try:
            key.verify(sig.sig, pae)
        except Error:
            continue
        mine.append(sig.sig)

    def logged(numbered: tuple[int, bytes]) -> Verified | None:
        return _key_log_entry(c, authority, roots, signature=numbered[1], payload=pae, key=key, now=now,
                              envelope=envelope)

    return _first(list(enumerate(mine)), _numbered("signature"), logged)


# -- DSSE attestations --------------------------------------------------------------------


def _statement(payload: bytes, digest: Digest) -> Statement:
    try:
        statement = Statement.from_json(payload)
    except Error as exc:
        raise Refused(f"the DSSE payload is not an in-toto statement: {one_line(exc)}") from None
    if not statement.names_digest(digest):
        names = ", ".join(
            f"{s.name}@" + ",".join(f"{alg}:{value}" for alg, value in s.digest.items()) for s in statement.subjects
        )
        raise Refused(f"the statement is about {names}, not this image {digest}")
    return statement


def _check_attestation(
    c: TagAttestation, authority: Authority, digest: Digest, roots: TrustRoots, now: datetime | None, *,
    memo: ParseMemo,
) -> Accepted:
    raw = c.envelope
    try:
        envelope: Envelope = memo.get("envelope", c, lambda: Envelope.from_json(raw))
    except Error as exc:
        raise Refused(f"malformed DSSE envelope: {one_line(exc)}") from None
    if envelope.payload_type != mt.IN_TOTO_PAYLOAD:
        raise Refused(f"the DSSE payloadType is {envelope.payload_type!r}, not {mt.IN_TOTO_PAYLOAD!r}")
    if isinstance(authority, KeyAuthority):
        def by_key(v: PublicKeyVerifier) -> PublicKeyVerifier:
            verify_envelope(envelope, v, expected_payload_type=mt.IN_TOTO_PAYLOAD)
            return v

        verifier = _by_keys(c, authority, _verifiers(authority), _describe_verifier, by_key,
                            verifies=lambda key: verify_envelope(envelope, PublicKeyVerifier(key),
                                                                expected_payload_type=mt.IN_TOTO_PAYLOAD))
        logged = _key_log_entry_envelope(c, authority, roots, envelope=envelope, key=verifier, now=now)
        return Accepted(_key_signer(verifier, logged), statement=_statement(envelope.payload, digest))
    if not envelope.signatures:
        raise Refused("the DSSE envelope has no signatures")
    reasons = []
    for sig in envelope.signatures:
        try:
            result = _keyless_material(c, authority, roots, signature=sig.sig, payload=envelope.pae(), now=now)
            break
        except Refused as exc:
            reasons.append(str(exc))
    else:
        raise Refused("; ".join(reasons))
    return Accepted(_keyless_signer(result), statement=_statement(envelope.payload, digest))


# -- Sigstore bundles -----------------------------------------------------------------------


def _verified_bundle(
    c: BundleReferrer, authority: Authority, digest: Digest, roots: TrustRoots, *, manifest: bytes | None,
    now: datetime | None,
) -> tuple[Verified, SignerInfo]:
    from slsacheck.signing.bundle import verify_bundle  # noqa: PLC0415 - x509 and tlog code load only here

    # Over the manifest's bytes every key type verifies; over the digest alone, prehashed ones do.
    artifact, target = (manifest, None) if manifest is not None else (None, digest)
    if isinstance(authority, KeyAuthority):
        log_root = roots.get(authority.trusted_root) if authority.trusted_root is not None else None
        keys = list(enumerate(load_public_key(pem) for pem in authority.public_keys))

        def by_key(numbered: tuple[int, VerifyingKey]) -> Verified:
            return verify_bundle(c.bundle, public_key=numbered[1], trusted_root=log_root, tlog=authority.tlog,
                                 now=now, artifact=artifact, digest=target)

        def other_key(key: VerifyingKey) -> None:
            verify_bundle(c.bundle, public_key=key, tlog="ignore", now=now, artifact=artifact, digest=target)

        result = _by_keys(c, authority, keys, _numbered("key"), by_key, verifies=other_key)
        return result, SignerInfo("key", key_fingerprint=result.key_fingerprint, tlog=result.tlog_entries > 0,
                                  integrated_time=result.integrated_time)
    root = roots.get(authority.trusted_root)

    def as_identity(identity: Identity) -> Verified:
        return verify_bundle(c.bundle, identity=identity, trusted_root=root, now=now, artifact=artifact,
                             digest=target)

    result = _first(authority.identities, Identity.describe, as_identity)
    if authority.require_tlog and not _logged(result):
        raise Refused("no verified transparency-log entry, and the authority requires one")
    return result, _keyless_signer(result)


def _check_bundle(
    c: BundleReferrer, authority: Authority, digest: Digest, roots: TrustRoots, *, manifest: bytes | None,
    now: datetime | None,
) -> Accepted:
    result, signer = _verified_bundle(c, authority, digest, roots, manifest=manifest, now=now)
    if result.kind != "dsse":
        if c.kind != "signature":
            raise Refused("a message-signature bundle is not an attestation")
        return Accepted(signer)
    if result.payload_type != mt.IN_TOTO_PAYLOAD:
        raise Refused(f"the DSSE payloadType is {result.payload_type!r}, not {mt.IN_TOTO_PAYLOAD!r}")
    statement = _statement(result.payload or b"", digest)
    is_signature = statement.predicate_type == COSIGN_SIGN_PREDICATE
    if c.kind == "signature" and not is_signature:
        raise Refused(f"the referrer claims an image signature, but its statement is a {statement.predicate_type}")
    if c.kind == "signature":
        optional: dict[str, object] = {}
        for subject in statement.subjects:
            notes = subject.extra.get("annotations")
            if subject.names(digest) and isinstance(notes, Mapping):
                optional.update(notes)
        return Accepted(signer, optional=optional)
    return Accepted(signer, statement=statement)


# -- entry points -------------------------------------------------------------------------


def check(
    candidate: Candidate,
    authority: Authority,
    digest: Digest,
    *,
    roots: TrustRoots,
    manifest: bytes | None = None,
    now: datetime | None = None,
    memo: ParseMemo | None = None,
) -> Accepted:
    """Whether `candidate` counts for `authority` on the image `digest`; `Refused` if not.

    `manifest` is the image manifest's exact bytes (bundles signed over the manifest
    verify with every key type when given; with only the digest, prehashed ones do).
    `memo` shares parsed layer blobs between the checks of one verification.
    """
    memo = memo or ParseMemo()
    try:
        match candidate:
            case BundleReferrer():
                return _check_bundle(candidate, authority, digest, roots, manifest=manifest, now=now)
            case TagSignature():
                return _check_signature(candidate, authority, digest, roots, now, memo=memo)
            case TagAttestation():
                return _check_attestation(candidate, authority, digest, roots, now, memo=memo)
    except Refused:
        raise
    except Error as exc:
        raise Refused(one_line(exc)) from None


def try_authority(
    candidate: Candidate,
    authority: Authority,
    digest: Digest,
    *,
    roots: TrustRoots,
    manifest: bytes | None = None,
    now: datetime | None = None,
    memo: ParseMemo | None = None,
) -> Accepted | Refusal:
    """`check`, as a value: the acceptance, or the refusal with its reason."""
    try:
        return check(candidate, authority, digest, roots=roots, manifest=manifest, now=now, memo=memo)
    except Refused as exc:
        return Refusal(str(exc))
