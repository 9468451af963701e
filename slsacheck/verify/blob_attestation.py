"""Attestations about a file: a Sigstore bundle, a bare DSSE envelope, or an `.intoto.jsonl`.

slsa-github-generator writes provenance for binaries as `<name>.intoto.jsonl`: one JSON
document per line, each a DSSE envelope (generator v1: signed keyless, the certificate in
the signature's `cert`, its log entry online only) or a Sigstore bundle (v2). `cosign
attest-blob` writes a bare envelope or a bundle; `slsacheck attest-blob` a bundle. A file
holding one JSON document is read whole; otherwise every non-empty line is a document.

Each document is verified on its own (`verify_document`) and either yields a
`BlobAttestation` or a reason it was refused; the caller decides what is enough. A
document counts only if its signature verifies for the key or identity given AND the
in-toto statement inside has a subject naming the file on every digest algorithm they
share (at least one): an attestation about another file proves nothing about this one.

Keyless envelopes carry no log entry, so nothing proves when their short-lived
certificate was valid: refused unless `insecure_ignore_tlog`, and then checked at the
current time (said in the result). A key-signed envelope follows the key tlog rule: under
`require` it is refused, having no entry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from slsacheck._json import Refused, parse
from slsacheck.errors import Error, InputError, VerificationError
from slsacheck.models.artifact import ArtifactDigests
from slsacheck.models.evidence import SignerInfo
from slsacheck.signing import _bundle_doc
from slsacheck.signing.blob import read_certificates
from slsacheck.signing.bundle import verify_bundle
from slsacheck.signing.cosign_material import CosignLayer, verify_layer
from slsacheck.signing.dsse import Envelope
from slsacheck.signing.identity import Identity
from slsacheck.signing.keys import fingerprint
from slsacheck.signing.tlog_rule import DEFAULT_TLOG_RULE, TlogRule
from slsacheck.signing.trust import PublicKey, TrustedRoot
from slsacheck.signing.verifier import Verifier
from slsacheck.signing.verify_sig import PublicKeyVerifier

__all__ = ["MAX_DOCUMENTS", "MAX_FILE", "BlobAttestation", "BlobTrust", "read_documents", "verify_document"]

MAX_FILE = 32 * 1024 * 1024
MAX_DOCUMENTS = 256


@dataclass(frozen=True)
class BlobTrust:
    """Who may have signed, and how transparency-log entries are judged."""

    public_key: PublicKey | None = None
    identity: Identity | None = None
    trusted_root: TrustedRoot | None = None
    tlog: TlogRule = DEFAULT_TLOG_RULE  # key-signed evidence (`tlog_rule`)
    insecure_ignore_tlog: bool = False  # keyless evidence without an entry: checked at the current time


@dataclass(frozen=True)
class BlobAttestation:
    """One verified attestation about the file."""

    source: str
    signer: SignerInfo
    predicate_type: str
    statement: Mapping[str, Any]
    unchecked: tuple[str, ...] = ()


def read_documents(data: bytes, *, where: str) -> list[tuple[str, Any]]:
    """(source, parsed JSON) per document: the whole file, or one per non-empty line.
    A line that is not JSON is kept as its error text, to be reported as refused."""
    if len(data) > MAX_FILE:
        raise InputError(f"{where} is too large", expected=f"at most {MAX_FILE} bytes", found=f"{len(data)} bytes",
                         hint="pass the attestation file, not the artifact")
    try:
        return [(where, parse(data, max_bytes=MAX_FILE, strict=True))]
    except Refused:
        pass
    docs: list[tuple[str, Any]] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        if len(docs) >= MAX_DOCUMENTS:
            raise InputError(f"{where} holds more than {MAX_DOCUMENTS} attestations",
                             expected=f"at most {MAX_DOCUMENTS} lines", hint="split the file")
        try:
            docs.append((f"{where} line {number}", parse(line, max_bytes=MAX_FILE, strict=True)))
        except Refused as exc:
            docs.append((f"{where} line {number}", InputError(f"not JSON: {str(exc)[:120]}")))
    if not docs:
        raise InputError(f"{where} holds no attestation", expected="a DSSE envelope, a bundle, or JSON lines of them")
    return docs


def verify_document(
    doc: Any,
    artifact: ArtifactDigests,
    *,
    source: str,
    trust: BlobTrust,
    now: datetime | None = None,
) -> BlobAttestation:
    """Verify one document about `artifact` (a file's bytes, or one digest of it, e.g. npm's
    sha512); raise `Error` saying why it does not count."""
    if isinstance(doc, Error):
        raise doc
    if not isinstance(doc, Mapping):
        raise InputError("not a JSON object", expected="a DSSE envelope or a Sigstore bundle",
                         found=type(doc).__name__)
    now = now or datetime.now(UTC)
    if "mediaType" in doc:
        return _bundle(doc, artifact, source, trust, now)
    if "payloadType" in doc:
        return _envelope(doc, artifact, source, trust, now)
    raise InputError("neither a Sigstore bundle nor a DSSE envelope",
                     expected="mediaType (a bundle) or payloadType + payload + signatures (an envelope)",
                     found="keys " + ", ".join(sorted(str(k) for k in doc)[:8]))


def _bundle(
    doc: Mapping[str, Any], artifact: ArtifactDigests, source: str, trust: BlobTrust, now: datetime
) -> BlobAttestation:
    key = trust.public_key
    result = verify_bundle(doc, artifact=artifact.data, digest=artifact.given, identity=trust.identity, public_key=key,
                           trusted_root=trust.trusted_root, tlog=trust.tlog, now=now)
    if result.kind != "dsse" or result.statement_json is None:
        raise VerificationError(
            "the bundle holds a signature over the file, not an attestation",
            expected="a bundle with a DSSE envelope (an in-toto statement)",
            found="a message signature",
            hint="verify it with `slsacheck verify-blob --bundle`",
        )
    signer = SignerInfo(
        kind="key" if key is not None else "keyless",
        key_fingerprint=result.key_fingerprint,
        subject=result.subject,
        issuer=result.issuer,
        tlog=result.tlog_entries > 0,
        integrated_time=result.integrated_time,
    )
    unchecked = (
        (f"{result.tlog_unchecked} transparency-log entry(ies) not checked; the key alone vouches",)
        if result.tlog_unchecked else ()
    )
    return BlobAttestation(source, signer, _predicate_type(result.statement_json), result.statement_json, unchecked)


def _envelope(
    doc: Mapping[str, Any], artifact: ArtifactDigests, source: str, trust: BlobTrust, now: datetime
) -> BlobAttestation:
    envelope = Envelope.from_json(doc, where=source)
    if not envelope.signatures:
        raise VerificationError("the envelope has no signature", expected="at least one signature", found="none")
    if trust.public_key is not None:
        signer, unchecked = _envelope_key(envelope, trust.public_key, trust.tlog)
    else:
        signer, unchecked = _envelope_keyless(doc, envelope, trust, now)
    statement = _bundle_doc.check_statement(
        _bundle_doc.Content(kind="dsse", signature=envelope.signatures[0].sig, payload_type=envelope.payload_type,
                            payload=envelope.payload),
        artifact,
    )
    return BlobAttestation(source, signer, _predicate_type(statement), statement, unchecked)


def _envelope_key(envelope: Envelope, key: PublicKey, tlog: TlogRule) -> tuple[SignerInfo, tuple[str, ...]]:
    if tlog == "require":
        raise VerificationError(
            "a bare DSSE envelope carries no transparency-log entry, and the rule requires one",
            expected="a Sigstore bundle with a tlog entry",
            found="a DSSE envelope",
            hint="verify the bundle the signer wrote, or relax --tlog",
        )
    verifier = PublicKeyVerifier(key)
    reasons = []
    for sig in envelope.signatures:
        try:
            verifier.verify(sig.sig, envelope.pae())
            break
        except VerificationError as exc:
            reasons.append(exc.message)
    else:
        raise VerificationError(
            f"no signature of the envelope verifies with {verifier.description}",
            expected="a signature over PAE(payloadType, payload) by this key",
            found="; ".join(reasons)[:300],
            hint="the statement changed after signing, or another key signed it",
        )
    return (SignerInfo(kind="key", key_fingerprint=fingerprint(key)),
            ("a bare envelope carries no transparency-log entry: the key alone vouches for it",))


def _envelope_keyless(
    doc: Mapping[str, Any], envelope: Envelope, trust: BlobTrust, now: datetime
) -> tuple[SignerInfo, tuple[str, ...]]:
    identity, root = trust.identity, trust.trusted_root
    if identity is None or root is None:
        raise InputError("a keyless envelope is checked against an identity and a trust root",
                         hint="pass --certificate-identity[-regexp], --certificate-oidc-issuer[-regexp] and "
                         "--trusted-root, or --key")
    certs = _certificates(doc)
    if not certs:
        raise VerificationError(
            "the envelope carries no certificate and no key was given",
            expected="a `cert` in a signature (slsa-github-generator v1), or --key",
            found="signatures without a certificate",
            hint="pass --key for a key-signed envelope, or the bundle the signer wrote",
        )
    if not trust.insecure_ignore_tlog:
        raise VerificationError(
            "a keyless DSSE envelope carries no transparency-log entry, so nothing proves when its certificate "
            "was valid",
            expected="a Sigstore bundle with the log entry (slsa-github-generator v2 writes one per line)",
            found="a bare envelope with a certificate",
            hint="verify the attestation's bundle; --insecure-ignore-tlog checks the certificate at the current "
            "time instead, which a short-lived Fulcio certificate rarely passes",
        )
    reasons = []
    for index, pem in certs:
        try:
            layer = CosignLayer(envelope.signatures[index].sig, envelope.pae(), certificate_pem=pem, envelope=envelope)
            signer = verify_layer(layer, identity, Verifier.for_root(root, now=now), require_tlog=False)
        except VerificationError as exc:
            reasons.append(exc.message)
            continue
        info = SignerInfo(kind="keyless", subject=signer.subject, issuer=signer.issuer)
        return info, ("no transparency-log entry: the certificate was checked at the current time only",)
    raise VerificationError("no signature of the envelope verifies for the identity", found="; ".join(reasons)[:300],
                            hint="check the identity, the issuer and the trust root")


def _certificates(doc: Mapping[str, Any]) -> list[tuple[int, bytes]]:
    out = []
    sigs = doc.get("signatures")
    for index, item in enumerate(sigs if isinstance(sigs, Sequence) else []):
        cert = item.get("cert") if isinstance(item, Mapping) else None
        if isinstance(cert, str) and cert:
            out.append((index, read_certificates(cert.encode("utf-8", "replace"), where=f"signature {index} cert")))
    return out


def _predicate_type(statement: Mapping[str, Any]) -> str:
    value = statement.get("predicateType")
    return value if isinstance(value, str) else ""
