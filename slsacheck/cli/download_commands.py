"""`slsacheck download attestation|signature IMAGE`: the evidence stored for an image, as stored.

cosign's `download` family, over both places evidence lives: the `.sig`/`.att` tags (and a
`cosign save` layout's entries) and the Sigstore bundle referrers, read by the same
collector `verify` uses (`slsacheck.attach.candidates`: every manifest and blob
digest-checked and size-capped). Nothing printed is verified: anyone who can push to the
repository can add evidence, so stderr says so, as cosign does, and names the command that
judges it.

Output, one JSON document a line (stdout):
- attestation: each DSSE envelope (`payloadType`, `payload`, `signatures`), the `.att`
  layer's or the bundle's `dsseEnvelope`; with `--output payload`, the in-toto statements
  inside them; `--predicate-type` keeps the statements of that type (aliases as `attest`);
- signature: cosign's fields `Base64Signature`, `Payload` (base64), `Cert`/`Chain` (PEM, where
  cosign writes Go's certificate structure), `Bundle` (the Rekor SET), `RFC3161Timestamp`,
  plus `Source` (where it was found) and, for a bundle, `SigstoreBundle` (the bundle itself).

Exit codes: 0 when the evidence could be read, printed or not (none stored prints nothing
and says so on stderr); 3 when reading it could not complete (what was read is printed);
an image that does not exist or a bad reference fail as everywhere else.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import sys
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from slsacheck.cli._registry_flags import add_registry_flags, open_image
from slsacheck.errors import EXIT_INCOMPLETE, EXIT_OK

if TYPE_CHECKING:
    from slsacheck.attach.candidates import BundleReferrer, Candidates, TagSignature
    from slsacheck.models.digest import Digest

_IMAGE = "REGISTRY/REPO[:TAG][@DIGEST] or oci:DIR[:TAG]; the evidence of the digest it names is printed"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "download", help="print the attestations or signatures stored for an image, unverified",
        description="Print the evidence stored for an image's digest, from the cosign .sig/.att tags and the "
        "Sigstore bundle referrers, one JSON document a line, as stored and NOT verified (use verify / "
        "verify-attestation to judge it).")
    kinds = p.add_subparsers(dest="what", required=True, metavar="{attestation,signature}")
    a = kinds.add_parser(
        "attestation", help="print the DSSE envelopes (or the statements in them) stored for an image",
        description="Print every attestation stored for IMAGE's digest: the DSSE envelopes of the .att tag and of "
        "bundle referrers, one a line (cosign download attestation), or with --output payload the in-toto "
        "statements inside them. Unverified: verify-attestation judges them.")
    a.add_argument("image", metavar="IMAGE", help=_IMAGE)
    a.add_argument("--predicate-type", metavar="TYPE",
                   help="only statements of this predicate type (URI, or an alias: slsaprovenance1, spdx, vuln, ...)")
    a.add_argument("--output", choices=["envelope", "payload"], default="envelope",
                   help="envelope (default): the DSSE envelopes; payload: the statements they carry")
    add_registry_flags(a)
    a.set_defaults(func=_attestations)
    s = kinds.add_parser(
        "signature", help="print the signatures stored for an image (cosign's JSON lines)",
        description="Print every signature stored for IMAGE's digest, from the .sig tag and bundle referrers, one "
        "JSON document a line with cosign's fields (Base64Signature, Payload, Cert, Chain, Bundle, "
        "RFC3161Timestamp). Unverified: verify judges them.")
    s.add_argument("image", metavar="IMAGE", help=_IMAGE)
    add_registry_flags(s)
    s.set_defaults(func=_signatures)


def _read(args: argparse.Namespace, *, signatures: bool) -> tuple[str, Digest, Candidates]:
    from slsacheck.attach.candidates import collect_candidates  # noqa: PLC0415 - keep --help fast

    ref, store = open_image(args.image, args)
    digest = store.resolve(ref.identifier).digest
    return str(ref), digest, collect_candidates(store, digest, signatures=signatures, attestations=not signatures)


def _line(doc: object) -> None:
    print(json.dumps(doc, separators=(",", ":"), ensure_ascii=False))


def _finish(what: str, printed: int, image: str, digest: Digest, candidates: Candidates, *, command: str) -> int:
    err = sys.stderr
    for rejected in candidates.rejected:
        print(f"skipped {rejected.source}: {rejected.reason}", file=err)
    where = f"{image} ({digest})"
    if printed:
        print(f"printed {printed} {what}(s) of {where} as stored, NOT verified: anyone who can push to the "
              f"repository can add them; `slsacheck {command}` judges them", file=err)
    else:
        print(f"no {what}s stored for {where} (searched: {', '.join(candidates.searched)})", file=err)
    if candidates.incomplete:
        for reason in candidates.incomplete:
            print(f"could not read everything: {reason}", file=err)
        return EXIT_INCOMPLETE
    return EXIT_OK


# -- attestations ------------------------------------------------------------------------


def _envelopes(candidates: Candidates) -> Iterator[tuple[str, Mapping[str, Any]]]:
    from slsacheck.attach.candidates import BundleReferrer  # noqa: PLC0415

    for c in candidates.attestations:
        if isinstance(c, BundleReferrer):
            envelope = c.bundle.get("dsseEnvelope")
            if isinstance(envelope, Mapping):
                yield c.source, envelope
        else:
            yield c.source, c.envelope


def _statement(envelope: Mapping[str, Any]) -> Any:
    from slsacheck._json import parse  # noqa: PLC0415

    try:
        return parse(base64.b64decode(str(envelope.get("payload") or ""), validate=True))
    except (binascii.Error, ValueError):
        return None


def _attestations(args: argparse.Namespace) -> int:
    from slsacheck.models.predicates import PREDICATE_ALIASES  # noqa: PLC0415

    image, digest, candidates = _read(args, signatures=False)
    wanted = PREDICATE_ALIASES.get(args.predicate_type, args.predicate_type) if args.predicate_type else None
    printed = 0
    for source, envelope in _envelopes(candidates):
        statement = _statement(envelope)
        kind = statement.get("predicateType") if isinstance(statement, Mapping) else None
        if wanted is not None and kind != wanted:
            continue
        if args.output == "payload":
            if statement is None:
                print(f"skipped {source}: its payload is not JSON", file=sys.stderr)
                continue
            _line(statement)
        else:
            _line(dict(envelope))
        printed += 1
    what = "attestation" if wanted is None else f"{wanted} attestation"
    return _finish(what, printed, image, digest, candidates, command="verify-attestation")


# -- signatures --------------------------------------------------------------------------


def _b64(data: bytes | None) -> str | None:
    return base64.b64encode(data).decode() if data is not None else None


def _tag_signature(c: TagSignature) -> dict[str, Any]:
    m = c.material
    return {
        "Base64Signature": _b64(c.signature),
        "Payload": _b64(c.payload),
        "Cert": m.certificate.decode() if m.certificate else None,
        "Chain": m.chain.decode() if m.chain else None,
        "Bundle": dict(m.rekor_bundle) if m.rekor_bundle is not None else None,
        "RFC3161Timestamp": {"SignedRFC3161Timestamp": _b64(m.rfc3161_timestamp)} if m.rfc3161_timestamp else None,
        "Source": c.source,
    }


def _pem(raw: object) -> str | None:
    if not isinstance(raw, str):
        return None
    body = "\n".join(raw[i:i + 64] for i in range(0, len(raw), 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"


def _bundle_signature(c: BundleReferrer) -> dict[str, Any]:
    bundle = c.bundle
    material = bundle.get("verificationMaterial")
    material = material if isinstance(material, Mapping) else {}
    cert = material.get("certificate")
    chain = material.get("x509CertificateChain")
    certs = chain.get("certificates") if isinstance(chain, Mapping) else None
    raw = cert.get("rawBytes") if isinstance(cert, Mapping) else (
        certs[0].get("rawBytes") if isinstance(certs, list) and certs and isinstance(certs[0], Mapping) else None)
    message = bundle.get("messageSignature")
    envelope = bundle.get("dsseEnvelope")
    signature = payload = None
    if isinstance(message, Mapping):
        signature = message.get("signature")
    elif isinstance(envelope, Mapping):
        sigs = envelope.get("signatures")
        signature = sigs[0].get("sig") if isinstance(sigs, list) and sigs and isinstance(sigs[0], Mapping) else None
        payload = envelope.get("payload")
    return {"Base64Signature": signature, "Payload": payload, "Cert": _pem(raw), "Chain": None, "Bundle": None,
            "RFC3161Timestamp": None, "Source": c.source, "SigstoreBundle": dict(bundle)}


def _signatures(args: argparse.Namespace) -> int:
    from slsacheck.attach.candidates import BundleReferrer  # noqa: PLC0415

    image, digest, candidates = _read(args, signatures=True)
    printed = 0
    for c in candidates.signatures:
        _line(_bundle_signature(c) if isinstance(c, BundleReferrer) else _tag_signature(c))
        printed += 1
    return _finish("signature", printed, image, digest, candidates, command="verify")
