"""`slsacheck audit`: verify (or inventory) many images and write reports people and machines read.

Light at import time: the audit package (and through it the registry, policy and
verification code) is imported inside the command function.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from slsacheck.cli._registry_flags import add_registry_flags, registry_options
from slsacheck.errors import EXIT_INCOMPLETE, EXIT_OK, EXIT_POLICY, InputError

if TYPE_CHECKING:
    from slsacheck.audit.sources import Target
    from slsacheck.audit.transport import Clients

FORMAT_NAMES = ("text", "json", "junit", "markdown", "html", "sarif")

EPILOG = """\
sources (any mix): IMAGE arguments (oci:DIR audits every tagged image of a layout),
  --images-file FILE or - (one reference per line, # comments), --repository REG/REPO
  (every tag), --registry REG (every repository it lists in /v2/_catalog).
  Tags of the same digest are verified once and reported under every tag.
outputs: one --format writes to --output FILE (default: stdout). Several --format values
  need --output: an existing directory or one ending in / receives audit.json,
  audit.junit.xml, audit.sarif, audit.md, audit.html, audit.txt; any other value is a
  prefix (--output out/nightly -> out/nightly.json, out/nightly.html, ...). Report files
  get mode 0666 less the umask, as other tools' output; --file-mode 0600 keeps them private.
exit status: 0 ok, 1 an image failed (or warned, with --fail-on warn), 3 an image could
  not be audited or the audit was interrupted, 2 usage; --fail-on never: always 0 once
  the reports are written (3 if interrupted).
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "audit", help="verify or inventory many images; reports in text, JSON, JUnit, SARIF, Markdown, HTML",
        description="Audit many images against policies (or, without --policy, inventory their evidence: "
        "signers, attestations, provenance, SLSA build level) and write reports.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="*", metavar="IMAGE", help="image references (tags, digests, oci:DIR[:TAG])")
    p.add_argument("--images-file", metavar="FILE", action="append", default=[],
                   help="file of image references, one per line ('-': stdin; repeatable)")
    p.add_argument("--repository", metavar="REG/REPO", action="append", default=[],
                   help="audit every tag of this repository (repeatable)")
    p.add_argument("--registry", metavar="REG", action="append", default=[],
                   help="audit every repository the registry lists in _catalog (repeatable)")
    p.add_argument("--policy", metavar="FILE", action="append", default=[],
                   help="ImagePolicy file (repeatable); without one, an inventory")
    p.add_argument("--no-match", choices=("deny", "warn", "allow"),
                   help="outcome for images no policy matches (default: the policy files' spec.noMatch)")
    p.add_argument("--trusted-root", metavar="FILE",
                   help="inventory: verify keyless signatures against this Sigstore trusted_root.json")
    p.add_argument("--format", action="append", choices=FORMAT_NAMES, dest="formats",
                   help="report format (repeatable; default text)")
    p.add_argument("--output", metavar="PATH", help="report file, or with several formats a directory or prefix")
    p.add_argument("--file-mode", type=_octal_mode, default=None, metavar="OCTAL",
                   help="mode of the report files, e.g. 0600 for reports only you may read (default: 0666 less "
                   "the umask, as other tools' output)")
    p.add_argument("--concurrency", type=int, default=8, metavar="N", help="images audited at once (default 8)")
    p.add_argument("--rate-limit", type=float, metavar="RPS",
                   help="at most RPS requests a second to each registry (default: no limit)")
    p.add_argument("--fail-on", choices=("fail", "warn", "never"), default="fail",
                   help="what makes the exit status non-zero (default fail)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary on stderr")
    add_registry_flags(p)
    p.set_defaults(func=_audit)


def _targets(args: argparse.Namespace, clients: Clients) -> Iterator[Target]:
    from slsacheck.audit import sources  # noqa: PLC0415

    yield from sources.explicit(args.images)
    for name in args.images_file:
        if name == "-":
            yield from sources.from_lines(sys.stdin, "stdin")
            continue
        try:
            fh = open(name, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed below
        except OSError as exc:  # checked before the run; gone since
            yield sources.Target(name, None, f"--images-file {name}: {exc.strerror or exc}")
            continue
        with fh:
            yield from sources.from_lines(fh, name)
    for repository in args.repository:
        yield from sources.repository_tags(repository, clients.get)
    for registry in args.registry:
        yield from sources.registry_repositories(registry, clients.get)


def _exit(summary: dict[str, object], fail_on: str, interrupted: bool) -> int:
    if interrupted:
        return EXIT_INCOMPLETE
    if fail_on == "never":
        return EXIT_OK
    outcomes = summary["outcomes"]
    assert isinstance(outcomes, dict)
    if outcomes.get("error"):
        return EXIT_INCOMPLETE
    if outcomes.get("fail") or (fail_on == "warn" and outcomes.get("warn")):
        return EXIT_POLICY
    return EXIT_OK


def _audit(args: argparse.Namespace) -> int:
    from slsacheck.audit.progress import progress  # noqa: PLC0415
    from slsacheck.audit.report.text import summary_lines  # noqa: PLC0415
    from slsacheck.audit.session import output_paths, run_audit  # noqa: PLC0415
    from slsacheck.audit.transport import Clients  # noqa: PLC0415

    if not (args.images or args.images_file or args.repository or args.registry):
        raise InputError("nothing to audit", expected="IMAGE arguments, --images-file, --repository or --registry")
    if args.concurrency < 1:
        raise InputError("--concurrency must be at least 1", found=str(args.concurrency))
    if args.rate_limit is not None and args.rate_limit <= 0:
        raise InputError("--rate-limit must be positive", found=str(args.rate_limit))
    if args.images_file.count("-") > 1:
        raise InputError("--images-file - (stdin) given twice")
    for name in args.images_file:
        if name != "-" and not os.access(name, os.R_OK):
            raise InputError(f"--images-file {name}: cannot read it", expected="a readable file of image references")
    if args.policy and args.trusted_root:
        raise InputError("--trusted-root is for inventories (no --policy)",
                         hint="a policy names its trusted roots in its keyless authorities")
    formats = list(dict.fromkeys(args.formats or ["text"]))
    output_paths(formats, args.output)  # a usage error before any registry call
    policy_set = None
    if args.policy:
        from slsacheck.policy.load import load_policies  # noqa: PLC0415

        policy_set = load_policies(args.policy, no_match=args.no_match)
    elif args.no_match:
        raise InputError("--no-match needs --policy")
    options = registry_options(args)
    # Listing (tags, _catalog) shares the clients the workers use, so connections are reused.
    clients = Clients(options, pool=args.concurrency, rate=args.rate_limit)
    sources = [*args.images, *(f"file:{f}" for f in args.images_file), *(f"repository:{r}" for r in args.repository),
               *(f"registry:{r}" for r in args.registry)]
    with progress(not args.quiet) as bar:
        result = run_audit(_targets(args, clients), policy_set=policy_set, options=options, formats=formats,
                           output=args.output, concurrency=args.concurrency, rate=args.rate_limit,
                           trusted_root=args.trusted_root, sources=sources, policy_files=args.policy,
                           on_record=bar, on_total=bar.total if bar else None, clients=clients,
                           mode=args.file_mode)
    to_stdout = args.output in (None, "-")
    if not args.quiet and not (to_stdout and formats == ["text"]):
        print("\n".join(summary_lines(result.summary, result.meta)), file=sys.stderr)
        for path in result.written:
            print(f"wrote {path}", file=sys.stderr)
    if result.interrupted:
        print("interrupted: the reports hold the images that finished", file=sys.stderr)
    return _exit(result.summary, args.fail_on, result.interrupted)


def _octal_mode(text: str) -> int:
    try:
        mode = int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an octal file mode (e.g. 0644)") from None
    if not 0 <= mode <= 0o777:
        raise argparse.ArgumentTypeError(f"{text!r} is not a file mode between 0000 and 0777")
    return mode
