"""`slsacheck promote SRC DST [DST...]`: a thin command over `slsacheck.promote`.

The source's verdict is printed first (the same rendering as `slsacheck verify`), then
what was copied where, each destination's verdict and digest. `--output json` prints the
promotion record (schemas/promotion-record.schema.json); `--record FILE` writes it too.
Exit codes: 0 promoted (or planned), 1 the source or a destination did not pass the
policies, 2 usage, 3 something could not complete (nothing is ever promoted on 1 or 3 at
the source). Exit 0 under `mode: warn` or `--no-match allow|warn` is not a verified image:
the record's `verificationResult` says FAILED. Library modules load inside the command function so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from slsacheck._json import dumps_report
from slsacheck.cli._files import write_file
from slsacheck.cli._registry_flags import add_registry_flags, registry_options
from slsacheck.errors import InputError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "promote", help="verify an image against policies, then copy it with its evidence to other places",
        description="Judge SRC against every --policy; if it passes, copy the verified digest (image or index "
        "with every child), its .sig/.att manifests (merged with what is there) and its referrers to each DST, "
        "judge each DST by the policies that judged SRC plus any policy matching the DST's name (an oci: "
        "hand-over is judged by SRC's policies), and set the DST tags last. A DST that fails keeps the copy "
        "untagged; re-running finishes an interrupted or withheld promotion and sends nothing that is already "
        "there. A SRC no policy matches is refused unless --no-match is allow or warn: then it is copied and "
        "the record says no policy judged it. Under mode: warn, or unjudged, the record and the VSA say "
        "verificationResult FAILED even though the promotion goes on.",
    )
    p.add_argument("source", metavar="SRC", help="REGISTRY/REPO[:TAG][@DIGEST] or oci:DIR[:TAG]")
    p.add_argument("destinations", nargs="+", metavar="DST",
                   help="REGISTRY/REPO[:TAG] or oci:DIR[:TAG] (an air-gapped hand-over); several allowed")
    p.add_argument("--policy", action="append", default=[], required=True, metavar="FILE",
                   help="an ImagePolicy file (repeatable); every policy matching an image must pass")
    p.add_argument("--no-match", choices=["deny", "warn", "allow"], default=None,
                   help="what a SRC no policy matches gets (default: the policies' noMatch, else deny): deny "
                   "refuses it; allow and warn promote it UNVERIFIED and the record says so")
    p.add_argument("--tag", action="append", default=[], metavar="TAG",
                   help="tag to set at every destination (repeatable; default: DST's tag, else SRC's)")
    p.add_argument("--dry-run", action="store_true", help="verify SRC and say what would be copied; write nothing")
    p.add_argument("--output", choices=["text", "json"], default="text",
                   help="text (default), or the promotion record as JSON")
    p.add_argument("--record", metavar="FILE", help="write the promotion record (JSON) to FILE")
    p.add_argument("--attest-record", action="store_true",
                   help="attach a signed SLSA verification summary (VSA) at each destination (needs --key)")
    p.add_argument("--key", metavar="KEY", help="private key for --attest-record: a path, file://PATH, env://VAR, "
                   "pkcs11:... or awskms://...")
    p.add_argument("--password-file", metavar="FILE", help="key password file (else $COSIGN_PASSWORD or a prompt)")
    p.add_argument("--policy-uri", metavar="URI",
                   help="the policy URI the VSA names (default: the one policy file's file: URI)")
    add_registry_flags(p)
    p.set_defaults(func=_promote)


def _promote(args: argparse.Namespace) -> int:
    from slsacheck.models.verdict_render import render_verdict  # noqa: PLC0415
    from slsacheck.policy.load import load_policies  # noqa: PLC0415
    from slsacheck.promote.promotion import plan_destinations, promote  # noqa: PLC0415
    from slsacheck.promote.record import render_text  # noqa: PLC0415

    if args.attest_record and not args.key:
        raise InputError("--attest-record needs --key KEY", hint="the verification summary is signed with that key")
    if args.key and not args.attest_record:
        raise InputError("--key is only used with --attest-record", hint="add --attest-record, or drop --key")
    if args.dry_run and args.attest_record:
        raise InputError("--dry-run writes nothing, so it cannot attach a verification summary",
                         hint="drop --attest-record for the dry run")
    from slsacheck.models.reference import ImageRef  # noqa: PLC0415

    plan_destinations(args.destinations, ImageRef.parse(args.source), args.tag)  # refuse typos first
    if args.record and not Path(args.record).resolve().parent.is_dir():
        raise InputError(f"--record {args.record}: its directory does not exist",
                         hint="the record is written after the promotion; name a file in an existing directory")
    options = registry_options(args)
    policy_set = load_policies(args.policy, no_match=args.no_match)
    signer = None
    if args.attest_record:
        from slsacheck.cli.key_commands import password_source  # noqa: PLC0415
        from slsacheck.signing.resolve import load_signer  # noqa: PLC0415

        signer = load_signer(args.key, password=password_source(args.password_file))
    record = promote(args.source, args.destinations, policy_set, policy_files=args.policy, options=options,
                     tags=args.tag, dry_run=args.dry_run, signer=signer, policy_uri=args.policy_uri)
    doc = record.to_json()
    if args.record:
        _write_record(Path(args.record), doc)
    if args.output == "json":
        sys.stdout.write(dumps_report(doc, indent=2) + "\n")
    else:
        sys.stdout.write(render_verdict(record.verdict))
        sys.stdout.write("\n" + render_text(record))
    for d in record.destinations:
        if d.error is not None:
            print(f"error: {d.image}: {d.error}", file=sys.stderr)
    return record.exit_code


def _write_record(path: Path, doc: dict[str, object]) -> None:
    write_file(path, (dumps_report(doc, indent=2) + "\n").encode("utf-8"), flag="--record",
               what="the promotion record")
