"""`slsacheck verify-bundle`: verify a Sigstore bundle over a file or a digest (`sha256:<hex>`,
`sha384:<hex>`, `sha512:<hex>`, ...; npm names packages by sha512).

Speaks the sigstore-conformance client protocol, so the suite can drive slsacheck:

    verify-bundle [--staging] --bundle FILE --certificate-identity ID --certificate-oidc-issuer URL
                  [--trusted-root FILE] FILE_OR_DIGEST
    verify-bundle [--staging] --bundle FILE --key PEMFILE [--trusted-root FILE] [--tlog RULE] FILE_OR_DIGEST

Exit 0 means verified; anything else means rejected, with the reason on stderr: 1 a bundle that
does not verify, 2 a file that is not a bundle (or another input error), 3 a trust root that
could not be had.
The trust root comes from `--trusted-root` (a `trusted_root.json` or a ClientTrustConfig,
read offline), else, for a keyless bundle, from the TUF cache of the Sigstore public good
(`--staging`: its staging repository; `--tuf-mirror URL`: another), fetched first when
missing or expired (said on stderr) unless `--offline`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from slsacheck.errors import InputError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "verify-bundle",
        help="verify a Sigstore bundle over a file or <algorithm>:<hex> (offline; sigstore-conformance protocol)",
        description="Verify a Sigstore bundle (.sigstore.json) over FILE_OR_DIGEST, offline: with --key for a "
        "key-signed bundle, or a certificate identity and issuer with --trusted-root for a keyless one (the "
        "trust root is read from the file, never fetched). Exit 0 verified, 1 the bundle does not verify, "
        "2 the input is not a bundle or a flag is wrong.",
    )
    p.add_argument("--bundle", required=True, metavar="FILE", help="the Sigstore bundle (.sigstore.json)")
    p.add_argument("--key", metavar="PEM", help="verify with this public key (a key-signed bundle)")
    p.add_argument("--certificate-identity", metavar="ID", help="the exact certificate subject (email, URI)")
    p.add_argument("--certificate-identity-regexp", metavar="RE", help="a full-match regexp for the subject")
    p.add_argument("--certificate-oidc-issuer", metavar="URL", help="the exact OIDC issuer")
    p.add_argument("--certificate-oidc-issuer-regexp", metavar="RE", help="a full-match regexp for the issuer")
    p.add_argument("--trusted-root", metavar="FILE",
                   help="trusted_root.json or a ClientTrustConfig (read offline); without it, a keyless bundle is "
                   "verified with the root cached through TUF (`slsacheck trusted-root update`)")
    p.add_argument("--staging", action="store_true",
                   help="the bundle is from Sigstore staging: without --trusted-root, its TUF root")
    p.add_argument("--tuf-mirror", metavar="URL", help="without --trusted-root: this TUF repository's cached root")
    p.add_argument("--offline", action="store_true",
                   help="never fetch a trust root through TUF (a missing or expired cached root fails, exit 3)")
    p.add_argument(
        "--tlog", choices=["require", "verify", "ignore"], default="verify",
        help="with --key: require a verified transparency-log entry, verify entries when --trusted-root is given "
        "(default), or ignore them; keyless bundles always need theirs",
    )
    p.add_argument("--output", choices=["text", "json"], default="text",
                   help="text (default) or a JSON document of what verified: kind, signer, times, log entries")
    p.add_argument(
        "artifact", metavar="FILE_OR_DIGEST",
        help="the signed file, or its digest: sha256:<hex>, sha384:<hex>, sha512:<hex> (a DSSE bundle's subject "
        "is compared on the algorithms it shares with the artifact)",
    )
    p.set_defaults(func=_verify_bundle)


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror}", hint="check the path") from None


def _verify_bundle(args: argparse.Namespace) -> int:
    from slsacheck.signing._bundle_doc import MalformedBundle  # noqa: PLC0415
    from slsacheck.signing.bundle import parse_digest_or_none, verify_bundle  # noqa: PLC0415 - crypto loads here
    from slsacheck.signing.identity import Identity  # noqa: PLC0415
    from slsacheck.signing.keys import load_public_key  # noqa: PLC0415
    from slsacheck.signing.trust import load_trusted_root  # noqa: PLC0415

    keyless = any(
        v is not None
        for v in (
            args.certificate_identity,
            args.certificate_identity_regexp,
            args.certificate_oidc_issuer,
            args.certificate_oidc_issuer_regexp,
        )
    )
    if (args.key is None) == (not keyless):
        raise InputError(
            "verify-bundle needs either --key or a certificate identity, not both and not neither",
            hint="--key PEM for key-signed bundles; "
            "--certificate-identity ID --certificate-oidc-issuer URL for keyless ones",
        )
    if keyless and args.tlog != "verify":
        raise InputError(f"--tlog {args.tlog} applies to key-signed bundles (--key)",
                         hint="a keyless bundle always needs its transparency-log entry; drop --tlog")
    root = None
    if args.trusted_root is not None:
        root = load_trusted_root(args.trusted_root)
    elif keyless or args.tuf_mirror:
        from slsacheck.signing import tuf  # noqa: PLC0415 - python-tuf loads only for TUF roots
        from slsacheck.signing.tuf_source import Mirror  # noqa: PLC0415

        mirror = Mirror.of(args.tuf_mirror, staging=args.staging)
        root = tuf.trusted_root(mirror, tuf.TufUse(offline=args.offline))

    digest = parse_digest_or_none(args.artifact)  # a known algorithm with bad hex is an error here
    artifact = None if digest is not None else _read(args.artifact, "artifact")
    identity = None
    if keyless:
        identity = Identity(
            issuer=args.certificate_oidc_issuer,
            subject=args.certificate_identity,
            issuer_regexp=args.certificate_oidc_issuer_regexp,
            subject_regexp=args.certificate_identity_regexp,
        )
    key = load_public_key(_read(args.key, "key"), where=args.key) if args.key else None
    try:
        result = verify_bundle(
            _read(args.bundle, "bundle"),
            artifact=artifact,
            digest=digest,
            identity=identity,
            public_key=key,
            trusted_root=root,
            tlog=args.tlog,
        )
    except MalformedBundle as exc:
        # The file the user named is not a bundle: their input, not a signature that failed.
        raise InputError(f"--bundle {args.bundle}: {exc.message}", expected=exc.expected, found=exc.found,
                         hint=exc.hint) from None
    if args.output == "json":
        import json  # noqa: PLC0415

        doc = {
            "verified": True,
            "kind": result.kind,
            "mediaType": result.media_type,
            "signer": result.signer,
            "subject": result.subject,
            "issuer": result.issuer,
            "keyFingerprint": result.key_fingerprint,
            "integratedTime": result.integrated_time.isoformat() if result.integrated_time else None,
            "timestamps": [t.isoformat() for t in result.timestamps],
            "rejectedTimestamps": list(result.rejected_timestamps),
            "tlogEntriesVerified": result.tlog_entries,
            "tlogEntriesUnchecked": result.tlog_unchecked,
            "payloadType": result.payload_type,
        }
        print(json.dumps(doc, indent=2))
    else:
        when = result.integrated_time or (result.timestamps[0] if result.timestamps else None)
        print(
            f"verified: {result.kind} signature by {result.signer}" + (f", logged {when.isoformat()}" if when else "")
        )
    if result.tlog_unchecked:
        why = "--tlog ignore" if args.tlog == "ignore" else "no --trusted-root"
        print(f"note: {result.tlog_unchecked} transparency-log entry(ies) not checked ({why}); the key alone "
              "vouches for this signature", file=sys.stderr)
    if result.rejected_timestamps:
        # Skipped, as the Sigstore clients skip them, but never silently.
        print(f"note: skipped {len(result.rejected_timestamps)} RFC 3161 timestamp(s) that did not verify:",
              file=sys.stderr)
        for reason in result.rejected_timestamps:
            print(f"  {reason}", file=sys.stderr)
    sys.stdout.flush()
    return 0
