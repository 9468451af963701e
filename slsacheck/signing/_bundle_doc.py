"""What a Sigstore bundle says, read strictly from its protobuf JSON: media type, the one
content (message signature or DSSE envelope), the one kind of verification material,
and the in-toto statement a DSSE payload must be. Nothing here is trusted yet: the
verification in `bundle.py` decides what any of it proves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from slsacheck._json import Refused, parse
from slsacheck.errors import VerificationError
from slsacheck.models.artifact import ArtifactDigests
from slsacheck.models.statement import STATEMENT_TYPES
from slsacheck.signing import _tlog
from slsacheck.signing._x509ext import extensions
from slsacheck.signing.dsse import IN_TOTO_PAYLOAD_TYPE

if TYPE_CHECKING:
    from cryptography import x509

MEDIA_TYPES = {
    "application/vnd.dev.sigstore.bundle+json;version=0.1": "0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2": "0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3": "0.3",
    "application/vnd.dev.sigstore.bundle.v0.3+json": "0.3",
}


class MalformedBundle(VerificationError):
    """A bundle that does not parse as one: evidence that fails when it comes from a
    registry, and an input error when a user hands the file over (`verify-bundle`)."""


def bad(
    message: str, *, expected: str | None = None, found: str | None = None, hint: str | None = None
) -> MalformedBundle:
    return MalformedBundle(
        message, expected=expected, found=found, hint=hint or "the bundle is malformed; obtain it again from the signer"
    )


def parse_json(bundle: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(bundle, Mapping):
        return bundle
    try:
        doc = parse(bundle, strict=True)
    except Refused as exc:
        raise bad(f"the bundle is not JSON: {exc}") from None
    if not isinstance(doc, Mapping):
        raise bad("the bundle is not a JSON object")
    return doc


# protobuf HashAlgorithm -> hashlib name
DIGEST_ALGORITHMS = {"SHA2_256": "sha256", "SHA2_384": "sha384", "SHA2_512": "sha512"}


@dataclass(frozen=True)
class Content:
    kind: Literal["message", "dsse"]
    signature: bytes
    message_digest: bytes | None = None  # messageSignature.messageDigest
    digest_algorithm: str | None = None  # its hashlib name: sha256, sha384 or sha512
    payload_type: str | None = None
    payload: bytes | None = None
    keyid: str = ""  # the DSSE signature's keyid


def content(doc: Mapping[str, Any]) -> Content:
    message, envelope = doc.get("messageSignature"), doc.get("dsseEnvelope")
    if (message is None) == (envelope is None):
        raise bad("the bundle must hold exactly one of messageSignature and dsseEnvelope")
    if message is not None:
        if not isinstance(message, Mapping):
            raise bad("messageSignature is not an object")
        md = _tlog.obj(message, "messageDigest", "messageSignature")
        digest, algorithm = None, None
        if md:
            algorithm = DIGEST_ALGORITHMS.get(md.get("algorithm"))  # type: ignore[arg-type]
            if algorithm is None:
                raise bad(
                    "unsupported message digest algorithm",
                    expected=" or ".join(DIGEST_ALGORITHMS),
                    found=str(md.get("algorithm")),
                )
            digest = _tlog.b64(md.get("digest"), "message digest")
        return Content(
            "message",
            _tlog.b64(message.get("signature"), "message signature"),
            message_digest=digest,
            digest_algorithm=algorithm,
        )
    if not isinstance(envelope, Mapping):
        raise bad("dsseEnvelope is not an object")
    sigs = envelope.get("signatures")
    if not isinstance(sigs, list) or len(sigs) != 1 or not isinstance(sigs[0], Mapping):
        raise bad(
            "a bundle's DSSE envelope must carry exactly one signature",
            found=f"{len(sigs) if isinstance(sigs, list) else 'no'} signatures",
        )
    payload_type = envelope.get("payloadType")
    if not isinstance(payload_type, str):
        raise bad("DSSE envelope has no payloadType")
    keyid = sigs[0].get("keyid") or ""
    if not isinstance(keyid, str):
        raise bad("the DSSE signature's keyid is not text")
    return Content(
        "dsse",
        _tlog.b64(sigs[0].get("sig"), "DSSE signature"),
        payload_type=payload_type,
        payload=_tlog.b64(envelope.get("payload"), "DSSE payload"),
        keyid=keyid,
    )


def certificate(material: Mapping[str, Any], version: str) -> x509.Certificate | None:
    kinds = [k for k in ("publicKey", "certificate", "x509CertificateChain") if material.get(k) is not None]
    if len(kinds) != 1:
        raise bad(
            "the bundle must carry exactly one of publicKey, certificate and x509CertificateChain",
            found=", ".join(kinds) or "none",
        )
    if kinds == ["publicKey"]:
        _tlog.obj(material, "publicKey", "verificationMaterial")
        return None
    from cryptography import x509  # noqa: PLC0415 - x509 loads only for a bundle that carries a certificate

    raw: Any
    if version == "0.3":
        if "x509CertificateChain" in material:
            raise bad(
                "a v0.3 bundle must carry a single certificate, not a chain",
                expected="certificate",
                found="x509CertificateChain",
            )
        raw = _tlog.obj(material, "certificate", "verificationMaterial").get("rawBytes")
        chain: list[Any] = []
    else:
        certs = _tlog.obj(material, "x509CertificateChain", "verificationMaterial").get("certificates")
        if not isinstance(certs, list) or not certs:
            raise bad("the bundle's certificate chain is empty", expected="the signing certificate first", found="none")
        raw, chain = (certs[0] or {}).get("rawBytes"), certs[1:]
    try:
        leaf = x509.load_der_x509_certificate(_tlog.b64(raw, "signing certificate"))
        for extra in chain:  # parsed only to refuse garbage: chains are built from the trust root alone
            x509.load_der_x509_certificate(_tlog.b64((extra or {}).get("rawBytes"), "chain certificate"))
    except ValueError as exc:
        raise bad(f"a certificate in the bundle does not parse: {exc}") from exc
    try:
        if extensions(leaf).get_extension_for_class(x509.BasicConstraints).value.ca:
            raise bad(
                "the bundle's signing certificate is a CA certificate",
                expected="a leaf certificate",
                found=leaf.subject.rfc4514_string(),
            )
    except x509.ExtensionNotFound:
        pass
    return leaf


def check_statement(content: Content, target: ArtifactDigests) -> Mapping[str, Any]:
    """The payload is an in-toto statement with a subject that names the artifact.

    A subject names it when every digest algorithm the subject and the artifact share agrees
    and at least one is shared (npm names packages by sha512 alone; a file is compared on
    all of its algorithms, a digest argument on its own). Only `_type` and `subject` are
    checked here; the predicate is the policy layer's business (real statements carry e.g.
    an empty predicateType, which a strict model refuses but which does not change what
    the signature covers).
    """
    if content.payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise VerificationError(
            "DSSE payload is not an in-toto statement",
            expected=IN_TOTO_PAYLOAD_TYPE,
            found=str(content.payload_type),
            hint="only in-toto attestations can name the artifact they are about",
        )
    try:
        statement = parse(content.payload or b"", strict=True)
    except Refused as exc:
        raise VerificationError(f"DSSE payload is not JSON: {exc}", hint="the attestation is corrupt") from None
    subjects = statement.get("subject") if isinstance(statement, Mapping) else None
    if (
        not isinstance(statement, Mapping)
        or statement.get("_type") not in STATEMENT_TYPES
        or not isinstance(subjects, list)
    ):
        raise VerificationError(
            "DSSE payload is not an in-toto statement",
            expected=f"a JSON object with _type in {', '.join(STATEMENT_TYPES)} and a subject list",
            found=str(statement.get("_type") if isinstance(statement, Mapping) else type(statement).__name__),
        )
    digest_sets = [s["digest"] for s in subjects if isinstance(s, Mapping) and isinstance(s.get("digest"), Mapping)]
    if not any(target.named_by(d) for d in digest_sets):
        found = [f"{a}:{v}" for d in digest_sets for a, v in d.items()]
        shared = sorted({a for d in digest_sets for a in d} & set(target.known()))
        raise VerificationError(
            "the artifact is not a subject of the attestation",
            expected=f"a subject naming {target.describe()} on every digest algorithm it shares with the artifact",
            found=", ".join(str(f)[:140] for f in found[:10]) or "no subjects",
            hint="this attestation is about another artifact"
            if shared
            else "the subjects use other digest algorithms than the one given; pass the file or a digest in "
            + ", ".join(sorted({a for d in digest_sets for a in d}))[:200],
        )
    return statement
