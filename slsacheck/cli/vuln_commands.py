"""`slsacheck vuln-predicate --trivy FILE`: a Trivy JSON report as cosign's vuln predicate.

The predicate goes to stdout (or `--output-file`), ready for
`slsacheck attest --type vuln --predicate -`. The conversion itself is
`slsacheck.provenance.vuln` (pure); this module only reads and writes files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from slsacheck._json import utf8
from slsacheck.cli._files import write_file
from slsacheck.errors import EXIT_OK, InputError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "vuln-predicate",
        help="turn a Trivy JSON report into a cosign vuln predicate (for attest --type vuln)",
        description="Wrap a Trivy JSON report (SchemaVersion 2) unchanged as scanner.result of a "
        "https://cosign.sigstore.dev/attestation/vuln/v1 predicate. Scan times default to the "
        "report's CreatedAt.",
    )
    p.add_argument("--trivy", required=True, metavar="FILE", help="Trivy report (--format json), or - for stdin")
    p.add_argument("--started-on", metavar="TIME", help="RFC 3339 start of the scan (default: --finished-on)")
    p.add_argument("--finished-on", metavar="TIME", help="RFC 3339 end of the scan (default: the report's CreatedAt)")
    p.add_argument("--invocation-uri", default="", metavar="URI", help="link to the CI run that scanned")
    p.add_argument("--event-id", default="", metavar="ID", help="the CI run's id (e.g. the TaskRun UID)")
    p.add_argument("--builder-id", default="", metavar="URI", help="the CI system's id")
    p.add_argument(
        "--parameter", action="append", default=None, metavar="ARG", help="a scanner argument to record (repeatable)"
    )
    p.add_argument("--output-file", type=Path, metavar="FILE", dest="output_file",
                   help="write the predicate here, not to stdout")
    p.add_argument("--output", "-o", type=Path, dest="output_file", help=argparse.SUPPRESS)  # earlier spelling
    p.set_defaults(func=_vuln_predicate)


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(
            f"cannot read the Trivy report {path}: {exc.strerror or exc}",
            hint="run trivy with --output FILE in a workspace the next step can read",
        ) from None


def _vuln_predicate(args: argparse.Namespace) -> int:
    from slsacheck.provenance.vuln import Invocation, parse_report, vuln_predicate  # noqa: PLC0415

    where = "standard input" if args.trivy == "-" else args.trivy
    report = parse_report(_read(args.trivy), where)
    predicate = vuln_predicate(
        report,
        where=where,
        started_on=args.started_on,
        finished_on=args.finished_on,
        invocation=Invocation(args.invocation_uri, args.event_id, args.builder_id, args.parameter),
    )
    text = json.dumps(predicate, indent=2, ensure_ascii=False) + "\n"
    # A document meant to be attested: text UTF-8 cannot carry is the report's input error.
    data = utf8(text, what="the vuln predicate")
    if args.output_file is None:
        sys.stdout.write(text)
    else:
        write_file(args.output_file, data, flag="--output-file", what="the vuln predicate")
    return EXIT_OK
