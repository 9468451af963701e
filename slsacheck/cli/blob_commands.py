"""`slsacheck sign-blob`, `attest-blob`, `verify-blob` and `verify-blob-attestation`: files,
not images, with cosign's command names and flags.

- `sign-blob FILE --key K | --keyless ... --bundle OUT` writes a Sigstore bundle v0.3 with a
  message signature over the file (and, on request, the detached signature/certificate);
- `attest-blob FILE --predicate P --type T ... --bundle OUT` writes a bundle whose DSSE
  envelope holds an in-toto Statement naming the file (basename, sha256);
- `verify-blob FILE (--bundle F | --signature F [--certificate F])` with `--key` or an
  identity: a Sigstore bundle, cosign 2's blob bundle, or a detached signature;
- `verify-blob-attestation FILE (--bundle F | --signature F)` with `--key` or an identity: a
  bundle, a bare DSSE envelope, or an `.intoto.jsonl`; then the provenance rules
  slsa-verifier's `verify-artifact` applies (`--builder-id`, `--source-uri`, `--source-tag`,
  `--source-branch`), judged by the same rule code as an image's policy.

Exit codes: 0 verified (or written), 1 refused, 2 usage or input error. Everything is
offline: trust roots come from `--trusted-root` files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slsacheck.cli._files import write_file
from slsacheck.errors import InputError

if TYPE_CHECKING:
    from slsacheck.models.artifact import ArtifactDigests
    from slsacheck.models.verdict import Verdict
    from slsacheck.signing.identity import Identity
    from slsacheck.signing.trust import PublicKey, TrustedRoot

_TLOG_HELP = ("with --key: require a verified transparency-log entry, verify entries when --trusted-root is given "
              "(default), or ignore them")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sign-blob", help="sign a file: a Sigstore bundle (and optionally a detached signature)",
                       description="Sign FILE with a key or keyless and write a Sigstore bundle v0.3 (as cosign "
                       "sign-blob --bundle does), optionally the detached signature and certificate too.")
    _signer_flags(p)
    p.add_argument("--bundle", metavar="OUT", help="write the Sigstore bundle v0.3 here")
    p.add_argument("--output-signature", metavar="OUT", help="also write the signature, base64 (cosign's form)")
    p.add_argument("--output-certificate", metavar="OUT", help="keyless: also write the certificate, PEM")
    p.add_argument("file", metavar="FILE", help="the file to sign")
    p.set_defaults(func=_sign_blob)

    p = sub.add_parser("attest-blob", help="attest a file with an in-toto statement: a Sigstore bundle",
                       description="Wrap a predicate in an in-toto Statement whose subject is FILE (every digest "
                       "algorithm named), sign it as a DSSE envelope and write a Sigstore bundle v0.3.")
    _signer_flags(p)
    p.add_argument("--predicate", required=True, metavar="FILE",
                   help="predicate JSON, or a whole in-toto Statement naming the file (as `provenance generate` "
                   "prints for ARTIFACT_URI/ARTIFACT_DIGEST results)")
    p.add_argument("--type", default=None, metavar="TYPE", help="predicate type: a cosign alias or a URI")
    p.add_argument("--bundle", required=True, metavar="OUT", help="write the Sigstore bundle v0.3 here")
    p.add_argument("file", metavar="FILE", help="the file the statement is about")
    p.set_defaults(func=_attest_blob)

    p = sub.add_parser("verify-blob", help="verify a file's signature: a bundle, or a detached signature",
                       description="Verify FILE's signature from a Sigstore bundle, or a detached signature (and "
                       "certificate), with --key or a keyless identity; exit 0 verified, 1 rejected, 2 bad input.")
    p.add_argument("--bundle", metavar="FILE", help="a Sigstore bundle or cosign's sign-blob --bundle file")
    p.add_argument("--signature", metavar="FILE", help="a detached signature (base64 or raw)")
    p.add_argument("--certificate", metavar="FILE", help="the signing certificate (PEM, base64 PEM or DER)")
    _verifier_flags(p)
    p.add_argument("file", metavar="FILE", help="the file that was signed")
    p.set_defaults(func=_verify_blob)

    p = sub.add_parser(
        "verify-blob-attestation",
        help="verify attestations about a file (bundle, DSSE envelope, .intoto.jsonl) and their provenance",
        description="Verify attestations about FILE (a bundle, a DSSE envelope or an .intoto.jsonl) with --key or "
        "a keyless identity, check that a subject names FILE, then judge provenance with the slsa-verifier-style "
        "flags or an ArtifactPolicy.",
    )
    p.add_argument("--bundle", metavar="FILE", help="a Sigstore bundle, a DSSE envelope, or an .intoto.jsonl")
    p.add_argument("--signature", metavar="FILE", help="the same as --bundle (cosign's name for an envelope file)")
    p.add_argument("--type", default=None, metavar="TYPE", help="predicate type (alias or URI); default: any")
    p.add_argument("--builder-id", metavar="ID", help="the provenance's builder id (without @ref: any version)")
    p.add_argument("--source-uri", metavar="URI", help="the source repository, e.g. github.com/org/repo")
    p.add_argument("--source-tag", metavar="TAG", help="the source tag the build ran on (refs/tags/TAG)")
    p.add_argument("--source-branch", metavar="BRANCH", help="the source branch the build ran on (refs/heads/BRANCH)")
    p.add_argument("--policy", action="append", default=[], metavar="FILE",
                   help="an ArtifactPolicy file (repeatable): its authorities and rules instead of --key/identity "
                   "and the flags above")
    p.add_argument("--no-match", choices=["deny", "warn", "allow"], default=None,
                   help="what a file no ArtifactPolicy matches gets (default: the policies' noMatch, else deny)")
    _verifier_flags(p)
    p.add_argument("file", metavar="FILE_OR_DIGEST",
                   help="the file, or without --policy its digest: sha256:<hex>, sha512:<hex>, ... (the statement's "
                   "subject is compared on the algorithms it shares with it)")
    p.set_defaults(func=_verify_blob_attestation)


def _signer_flags(p: argparse.ArgumentParser) -> None:
    # The image commands' signer flags: one signer resolution (sign_commands._signer) reads them all.
    from slsacheck.cli.sign_commands import _signer_flags as image_signer_flags  # noqa: PLC0415

    image_signer_flags(p)


def _verifier_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--key", metavar="PEM", help="the public key (key-signed evidence)")
    p.add_argument("--certificate-identity", metavar="ID", help="keyless: the exact certificate identity")
    p.add_argument("--certificate-identity-regexp", metavar="RE", help="keyless: identity as a full-match regexp")
    p.add_argument("--certificate-oidc-issuer", metavar="URL", help="keyless: the exact OIDC issuer")
    p.add_argument("--certificate-oidc-issuer-regexp", metavar="RE", help="keyless: issuer as a full-match regexp")
    p.add_argument("--trusted-root", metavar="FILE", help="trusted_root.json or a ClientTrustConfig (never fetched)")
    p.add_argument("--tlog", choices=["require", "verify", "ignore"], default="verify", help=_TLOG_HELP)
    p.add_argument("--insecure-ignore-tlog", action="store_true",
                   help="keyless evidence without a log entry: check the certificate at the current time instead "
                   "(nothing then proves when it signed, or that it was logged)")
    p.add_argument("--output", choices=["text", "json"], default="text", help="text (default) or JSON")


# Evidence files (bundles, signatures, envelopes, .intoto.jsonl) are read whole: a cap keeps a
# wrong path (the artifact given as the bundle, a device) from filling memory. Artifacts are not
# capped: they are what the user asked to check.
MAX_EVIDENCE_FILE = 32 * 1024 * 1024


def _read(path: str, what: str, *, limit: int | None = None) -> bytes:
    try:
        if path == "-":
            data = sys.stdin.buffer.read(limit + 1 if limit is not None else -1)
        elif limit is not None:
            with Path(path).open("rb") as handle:
                data = handle.read(limit + 1)
        else:
            data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror}", hint="check the path") from None
    if limit is not None and len(data) > limit:
        raise InputError(f"{what} {path} is too large", expected=f"at most {limit} bytes",
                         found=f"more than {limit} bytes", hint=f"check that {path} is the {what}")
    return data


def _evidence(path: str, what: str) -> bytes:
    return _read(path, what, limit=MAX_EVIDENCE_FILE)


def _write(path: str, data: bytes, what: str, *, flag: str) -> None:
    """As every file-writing flag: a missing directory is created, the file written whole."""
    write_file(Path(path), data, flag=flag, what=what)


def _bundle_bytes(doc: Any) -> bytes:
    return json.dumps(doc, indent=None, separators=(",", ":")).encode() + b"\n"


# -- signing ------------------------------------------------------------------------------


def _sign_blob(args: argparse.Namespace) -> int:
    from slsacheck.cli.sign_commands import _signer  # noqa: PLC0415 - one signer resolution for every command
    from slsacheck.signing.bundle_build import message_bundle  # noqa: PLC0415
    from slsacheck.signing.signer import SignedMessage  # noqa: PLC0415

    if not (args.bundle or args.output_signature):
        raise InputError("sign-blob writes nothing without --bundle OUT or --output-signature OUT",
                         hint="--bundle OUT writes a Sigstore bundle that carries everything a verifier needs")
    data = _read(args.file, "file")
    signed: SignedMessage = _signer(args).sign_message(data)
    if args.bundle:
        _write(args.bundle, _bundle_bytes(message_bundle(signed)), "the bundle", flag="--bundle")
    if args.output_signature:
        import base64  # noqa: PLC0415

        _write(args.output_signature, base64.b64encode(signed.signature), "the signature", flag="--output-signature")
    if args.output_certificate:
        if signed.material.certificate is None:
            raise InputError("--output-certificate: a key signature has no certificate",
                             hint="verify it with the public key (slsacheck public-key)")
        _write(args.output_certificate, signed.material.certificate, "the certificate",
               flag="--output-certificate")
    print(f"signed {args.file}" + (f": bundle {args.bundle}" if args.bundle else ""))
    return 0


def _attest_blob(args: argparse.Namespace) -> int:
    from slsacheck.attach.predicates import (  # noqa: PLC0415
        load_predicate,
        predicate_for,
        predicate_type,
        statement,
        statement_type,
    )
    from slsacheck.cli.sign_commands import _signer  # noqa: PLC0415
    from slsacheck.models.digest import Digest  # noqa: PLC0415
    from slsacheck.signing.bundle_build import dsse_bundle  # noqa: PLC0415
    from slsacheck.signing.dsse import IN_TOTO_PAYLOAD_TYPE  # noqa: PLC0415

    where = f"--predicate {args.predicate}"
    data = _read(args.file, "file")
    digest = Digest.of(data)
    doc = load_predicate(_read(args.predicate, "predicate file"), args.predicate)
    ptype = predicate_type(args.type) if args.type else statement_type(doc, where) or predicate_type("custom")
    predicate = predicate_for(doc, ptype, digest, where)
    payload = statement(Path(args.file).name, digest, ptype, predicate)
    signed = _signer(args).sign_dsse(IN_TOTO_PAYLOAD_TYPE, payload)
    _write(args.bundle, _bundle_bytes(dsse_bundle(signed)), "the bundle", flag="--bundle")
    print(f"attested {args.file} ({digest}, {ptype}): bundle {args.bundle}")
    return 0


# -- verification --------------------------------------------------------------------------


def _trust(args: argparse.Namespace) -> tuple[PublicKey | None, Identity | None, TrustedRoot | None]:
    from slsacheck.signing.identity import Identity  # noqa: PLC0415
    from slsacheck.signing.keys import load_public_key  # noqa: PLC0415
    from slsacheck.signing.trust import load_trusted_root  # noqa: PLC0415

    given = (args.certificate_identity, args.certificate_identity_regexp, args.certificate_oidc_issuer,
             args.certificate_oidc_issuer_regexp)
    keyless = any(v is not None for v in given)
    if (args.key is None) == (not keyless):
        raise InputError(
            f"{args.command} needs either --key or a certificate identity, not both and not neither",
            hint="--key PEM for key-signed evidence; --certificate-identity[-regexp] ID "
            "--certificate-oidc-issuer[-regexp] URL --trusted-root FILE for keyless",
        )
    root = load_trusted_root(args.trusted_root) if args.trusted_root else None
    if keyless and root is None:
        raise InputError(
            "no trust root: slsacheck embeds none and never fetches one (no TUF)",
            hint="pass --trusted-root FILE: the instance's trusted_root.json",
        )
    identity = None
    if keyless:
        identity = Identity(issuer=args.certificate_oidc_issuer, subject=args.certificate_identity,
                            issuer_regexp=args.certificate_oidc_issuer_regexp,
                            subject_regexp=args.certificate_identity_regexp)
    key = load_public_key(_evidence(args.key, "key"), where=args.key) if args.key else None
    return key, identity, root


def _verify_blob(args: argparse.Namespace) -> int:
    from slsacheck._json import load_object  # noqa: PLC0415
    from slsacheck.signing import blob  # noqa: PLC0415
    from slsacheck.signing.bundle import verify_bundle  # noqa: PLC0415

    if (args.bundle is None) == (args.signature is None):
        raise InputError("verify-blob needs --bundle FILE or --signature FILE (with --certificate when keyless)",
                         hint="--bundle takes a Sigstore bundle or cosign's sign-blob --bundle file")
    key, identity, root = _trust(args)
    data = _read(args.file, "file")
    if args.bundle is not None:
        raw = _evidence(args.bundle, "bundle")
        doc = load_object(raw, not_json=lambda exc: InputError(f"--bundle {args.bundle} is not JSON ({exc})"),
                          not_object=lambda v: InputError(f"--bundle {args.bundle} is not a JSON object"))
        if blob.is_cosign_blob_bundle(doc):
            parts = blob.parse_cosign_blob_bundle(doc, where=f"--bundle {args.bundle}")
            if key is None and parts.certificate_pem is None:
                from slsacheck.errors import VerificationError  # noqa: PLC0415

                raise VerificationError(
                    "the bundle carries no certificate: it was signed with a key",
                    expected="a `cert` to check the identity against", found="none",
                    hint="verify it with --key PUB",
                )
            result = blob.verify_blob_signature(
                data, parts.signature, certificate_pem=None if key else parts.certificate_pem,
                rekor_bundle=parts.rekor_bundle, public_key=key, identity=identity, trusted_root=root,
                tlog=args.tlog, insecure_ignore_tlog=args.insecure_ignore_tlog,
            )
            return _report_blob(args, result.signer, result.tlog_entries, result.unchecked, "cosign bundle")
        verified = verify_bundle(doc, artifact=data, identity=identity, public_key=key, trusted_root=root,
                                 tlog=args.tlog)
        if verified.kind != "message":
            from slsacheck.errors import VerificationError  # noqa: PLC0415

            raise VerificationError(
                "the bundle holds an attestation (DSSE), not a signature over the file",
                expected="a message-signature bundle (sign-blob)", found="a DSSE envelope",
                hint="verify it with `slsacheck verify-blob-attestation --bundle`",
            )
        notes = ((f"{verified.tlog_unchecked} transparency-log entry(ies) not checked; the key alone vouches",)
                 if verified.tlog_unchecked else ())
        return _report_blob(args, verified.signer, verified.tlog_entries, notes, "Sigstore bundle")
    signature = blob.read_signature(_evidence(args.signature, "signature"), where=f"--signature {args.signature}")
    cert = None
    if args.certificate is not None:
        cert = blob.read_certificates(_evidence(args.certificate, "certificate"),
                                      where=f"--certificate {args.certificate}")
    if key is None and cert is None:
        raise InputError("a keyless detached signature needs --certificate FILE",
                         hint="pass the certificate written by sign-blob --output-certificate, or use --bundle")
    result = blob.verify_blob_signature(
        data, signature, certificate_pem=None if key else cert, public_key=key, identity=identity,
        trusted_root=root, tlog=args.tlog, insecure_ignore_tlog=args.insecure_ignore_tlog,
    )
    return _report_blob(args, result.signer, result.tlog_entries, result.unchecked, "detached signature")


def _report_blob(args: argparse.Namespace, signer: str, tlog: int, unchecked: tuple[str, ...], form: str) -> int:
    if args.output == "json":
        print(json.dumps({"verified": True, "file": args.file, "form": form, "signer": signer,
                          "tlogEntriesVerified": tlog, "notChecked": list(unchecked)}, indent=2))
    else:
        print(f"verified: {args.file} signed by {signer} ({form}, {tlog} transparency-log entry(ies) verified)")
    for note in unchecked:
        print(f"note: {note}", file=sys.stderr)
    return 0


def _verify_blob_attestation(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime  # noqa: PLC0415

    from slsacheck.policy.artifact_flags import ProvenanceFlags  # noqa: PLC0415
    from slsacheck.verify.artifact import judge_with_trust  # noqa: PLC0415
    from slsacheck.verify.blob_attestation import BlobTrust, read_documents  # noqa: PLC0415
    from slsacheck.verify.gate import exit_code  # noqa: PLC0415

    if (args.bundle is None) == (args.signature is None):
        raise InputError("verify-blob-attestation needs one of --bundle FILE and --signature FILE",
                         hint="a Sigstore bundle, a DSSE envelope, or an .intoto.jsonl (one per line)")
    path = args.bundle or args.signature
    if args.policy:
        return _judge_with_policies(args, path)
    wanted = _wanted_type(args.type)
    rules = ProvenanceFlags(args.builder_id, args.source_uri, args.source_tag, args.source_branch).rules()
    key, identity, root = _trust(args)
    target = _artifact(args.file)
    docs = read_documents(_evidence(path, "attestation file"), where=path)
    trust = BlobTrust(public_key=key, identity=identity, trusted_root=root, tlog=args.tlog,
                      insecure_ignore_tlog=args.insecure_ignore_tlog)
    verdict, accepted = judge_with_trust(
        args.file, target, docs, trust, signer=f"--key {args.key}" if key is not None else "--certificate-identity",
        predicate_type=wanted, rules=rules, now=datetime.now(UTC),
    )
    _print_verdict(verdict, args.output)
    for a in accepted:
        for note in a.unchecked:
            print(f"note: {a.source}: {note}", file=sys.stderr)
    return exit_code([verdict])


def _print_verdict(verdict: Verdict, output: str) -> None:
    from slsacheck.models.verdict_render import render_json, render_text  # noqa: PLC0415

    sys.stdout.write(render_json([verdict]) if output == "json" else render_text([verdict]))


def _artifact(text: str) -> ArtifactDigests:
    """The file, or a digest of it (`sha512:<hex>`, as npm names packages)."""
    from slsacheck.models.artifact import ArtifactDigests  # noqa: PLC0415
    from slsacheck.signing.bundle import parse_digest_or_none  # noqa: PLC0415

    digest = parse_digest_or_none(text)
    return ArtifactDigests(given=digest) if digest is not None else ArtifactDigests(_read(text, "file"))


def _judge_with_policies(args: argparse.Namespace, path: str) -> int:
    from datetime import UTC, datetime  # noqa: PLC0415

    from slsacheck.policy.load import load_policies  # noqa: PLC0415
    from slsacheck.verify.artifact import judge_artifact  # noqa: PLC0415
    from slsacheck.verify.blob_attestation import read_documents  # noqa: PLC0415
    from slsacheck.verify.gate import exit_code  # noqa: PLC0415

    flags = {"--key": args.key, "--certificate-identity": args.certificate_identity,
             "--certificate-identity-regexp": args.certificate_identity_regexp,
             "--certificate-oidc-issuer": args.certificate_oidc_issuer,
             "--certificate-oidc-issuer-regexp": args.certificate_oidc_issuer_regexp,
             "--trusted-root": args.trusted_root, "--insecure-ignore-tlog": args.insecure_ignore_tlog,
             "--builder-id": args.builder_id, "--source-uri": args.source_uri, "--source-tag": args.source_tag,
             "--source-branch": args.source_branch, "--type": args.type}
    given = [flag for flag, value in flags.items() if value]
    if given:
        raise InputError(f"--policy decides who signs and what provenance must say; {', '.join(given)} "
                         "cannot be combined with it", hint="put the key, identity and rules in the ArtifactPolicy")
    from slsacheck.models.digest import looks_like_digest  # noqa: PLC0415

    if looks_like_digest(args.file):
        raise InputError("an ArtifactPolicy judges a file by its name and bytes, not a digest",
                         found=args.file, hint="pass the file itself")
    policies = load_policies(args.policy, no_match=args.no_match)
    data = _read(args.file, "file")
    docs = read_documents(_evidence(path, "attestation file"), where=path)
    verdict = judge_artifact(Path(args.file).name, data, docs, policies, now=datetime.now(UTC))
    _print_verdict(verdict, args.output)
    return exit_code([verdict])


def _wanted_type(name: str | None) -> str | None:
    if name is None:
        return None
    from slsacheck.attach.predicates import predicate_type  # noqa: PLC0415

    return predicate_type(name)
