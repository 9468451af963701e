"""`slsacheck audit`: verify (or inventory) many images and write reports people and machines read.

Light at import time: the audit package (and through it the registry, policy and
verification code) is imported inside the command function.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from slsacheck.cli._registry_flags import add_registry_flags, registry_options
from slsacheck.errors import EXIT_INCOMPLETE, EXIT_OK, EXIT_POLICY, InputError

if TYPE_CHECKING:
    from slsacheck.audit.sources import Target
    from slsacheck.audit.transport import Clients

FORMAT_NAMES = ("text", "json", "junit", "markdown", "html", "sarif", "policyreport")

EPILOG = """\
sources (any mix): IMAGE arguments (oci:DIR audits every tagged image of a layout),
  --images-file FILE or - (one reference per line, # comments), --repository REG/REPO
  (every tag), --registry REG (every repository it lists in /v2/_catalog).
  Tags of the same digest are verified once and reported under every tag.
kubernetes: --kube-inventory [CLUSTER=]FILE (kubectl get pods -A -o json, or Deployments,
  StatefulSets, DaemonSets, Jobs, CronJobs, ReplicaSets) judges the digest each container
  runs (status imageID), once per digest, and lists the workloads running it; containers
  without a status are judged by their spec's image, marked "not running". A tag that now
  points at another digest than the one running is reported (tags[].moved).
outputs: one --output FORMAT writes to --output-file FILE (default: stdout; a directory
  receives audit.<suffix>). Several --output formats need --output-file: an existing
  directory or one ending in / receives
  audit.json, audit.junit.xml, audit.sarif, audit.md, audit.html, audit.txt,
  audit.policyreport.json (PolicyReports per namespace and a ClusterPolicyReport, for kubectl
  apply); any other value is a prefix (--output-file out/nightly -> out/nightly.json, ...).
  The earlier spellings --format FORMAT and --output FILE still work for this release.
  Report files get mode 0666 less the umask, as other tools' output; --file-mode 0600
  keeps them private.
  An audit that finds no image at all is a usage error (2) unless --allow-empty.
progress: on a terminal a bar; otherwise (CI logs) a line every --progress-interval
  seconds on stderr: "audited 1200/5000, 3 failed, 2 errors, 41 img/s".
order: images sorted by reference, then digest; of the tags of one digest, the one that
  sorts first holds the verification and the others name it in sameAs.
shards: --shard I/N audits the digests whose hash falls in partition I of N (every tag of
  a digest in the same shard); "slsacheck audit merge SHARD.json... --output F
  --output-file P" writes what one run would have (timestamps aside), and refuses shard reports of another
  slsacheck version, policy set or sources, a shard missing or given twice.
  --output-oci REPO:TAG (or oci:DIR:TAG) pushes the JSON report as an OCI artifact (as oras
  push would); audit merge reads such references (oci:..., or REGISTRY/REPO:TAG|@DIGEST)
  beside files, checking media types and the layer's digest.
exit status: 0 ok, 1 an image failed (or warned, with --fail-on warn), 3 an image could
  not be audited or the audit was interrupted, 2 usage; --fail-on never: always 0 once
  the reports are written (3 if interrupted).
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "audit",
        help="verify or inventory many images; reports in text, JSON, JUnit, SARIF, Markdown, HTML, PolicyReport",
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
    p.add_argument("--kube-inventory", metavar="[CLUSTER=]FILE", action="append", default=[],
                   help="kubectl get pods -A -o json output (or any workload kinds); '-': stdin; repeatable, "
                   "one per cluster; CLUSTER defaults to the file's name")
    p.add_argument("--policy", metavar="FILE", action="append", default=[],
                   help="ImagePolicy file (repeatable); without one, an inventory")
    p.add_argument("--no-match", choices=("deny", "warn", "allow"),
                   help="outcome for images no policy matches (default: the policy files' spec.noMatch)")
    p.add_argument("--trusted-root", metavar="FILE",
                   help="inventory: verify keyless signatures against this Sigstore trusted_root.json")
    p.add_argument("--offline", action="store_true",
                   help="never fetch a trust root through TUF: policies' keyless authorities use the cached "
                   "root, and a missing or expired one stops the audit (exit 3) with a hint")
    p.add_argument("--output", "-o", action="append", default=[], metavar="FORMAT", dest="outputs",
                   help=f"report format: {', '.join(FORMAT_NAMES)} (repeatable; default text)")
    p.add_argument("--output-file", metavar="PATH",
                   help="report file, or a directory (existing, or ending in /); with several formats a directory or "
                   "prefix (default: stdout)")
    # Earlier spellings, kept for one release: --format FORMAT, and --output PATH (a value
    # that is no format name is read as the file, as it used to be).
    p.add_argument("--format", action="append", choices=FORMAT_NAMES, dest="formats", help=argparse.SUPPRESS)
    p.add_argument("--output-oci", metavar="REPO:TAG",
                   help="also push the JSON report as an OCI artifact (artifactType "
                   "application/vnd.slsacheck.audit.report.v1+json) to this registry tag or oci:DIR:TAG; "
                   "audit merge reads it back by that reference")
    p.add_argument("--file-mode", type=_octal_mode, default=None, metavar="OCTAL",
                   help="mode of the report files, e.g. 0600 for reports only you may read (default: 0666 less "
                   "the umask, as other tools' output)")
    p.add_argument("--concurrency", type=int, default=8, metavar="N", help="images audited at once (default 8)")
    p.add_argument("--rate-limit", type=float, metavar="RPS",
                   help="at most RPS requests a second to each registry (default: no limit)")
    p.add_argument("--shard", metavar="I/N",
                   help="audit only the I-th (0-based) of N partitions of the digests; merge the JSON reports "
                   "with: slsacheck audit merge REPORT.json...")
    p.add_argument("--fail-on", choices=("fail", "warn", "never"), default="fail",
                   help="what makes the exit status non-zero (default fail)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress and no summary on stderr")
    p.add_argument("--progress-interval", type=float, default=30.0, metavar="SECONDS",
                   help="without a terminal, a progress line on stderr every SECONDS (default 30)")
    p.add_argument("--allow-empty", action="store_true",
                   help="an audit whose sources list no image writes an empty report and exits 0 "
                   "(default: exit 2, nothing to audit)")
    add_registry_flags(p)
    p.set_defaults(func=_audit)


def _inventory_file(value: str) -> tuple[str, str]:
    """(cluster, file) of `--kube-inventory [CLUSTER=]FILE`."""
    cluster, sep, name = value.partition("=")
    if not sep or os.path.exists(value):
        name = value
        cluster = "stdin" if value == "-" else Path(value).name.removesuffix(".json")
    if not cluster or not name:
        raise InputError(f"--kube-inventory {value}: expected [CLUSTER=]FILE", found=value)
    return cluster, name


def _kube_targets(values: list[str]) -> list[Target]:
    """Every inventory read and checked now: a malformed one is a usage error before any image."""
    from slsacheck.audit import kube  # noqa: PLC0415

    containers: list[kube.Container] = []
    for value in values:
        cluster, name = _inventory_file(value)
        if name == "-":
            # The binary stream where there is one: the JSON's bytes, whatever the locale.
            containers += kube.read_inventory(getattr(sys.stdin, "buffer", sys.stdin), cluster,
                                              "--kube-inventory -")
            continue
        try:
            with open(name, "rb") as fh:
                containers += kube.read_inventory(fh, cluster, f"--kube-inventory {name}")
        except OSError as exc:
            raise InputError(f"--kube-inventory {name}: cannot read it: {exc.strerror or exc}",
                             hint="write it with kubectl get pods -A -o json > FILE") from None
    return kube.group(containers)


def _formats_and_file(args: argparse.Namespace, default: str = "text") -> tuple[list[str], str | None]:
    """The report formats and the file (or directory, or prefix) they go to.

    `--output` names a format, as in cosign; a value that is no format name is the earlier
    spelling of `--output-file`, still read as the file for this release."""
    formats = list(args.formats or [])
    files = [args.output_file] if args.output_file is not None else []
    for value in args.outputs:
        (formats if value in FORMAT_NAMES else files).append(value)
    if len(files) > 1:
        raise InputError(f"the report file is given {len(files)} times ({', '.join(files)})",
                         expected="one --output-file PATH",
                         hint=f"--output takes a format ({', '.join(FORMAT_NAMES)}); --output-file the file")
    return list(dict.fromkeys(formats or [default])), (files[0] if files else None)


def _targets(args: argparse.Namespace, clients: Clients, kube: list[Target]) -> Iterator[Target]:
    from slsacheck.audit import sources  # noqa: PLC0415

    yield from kube
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


def _merge(args: argparse.Namespace) -> int:
    """`slsacheck audit merge SHARD.json...` (argparse sees `merge` as the first IMAGE)."""
    from slsacheck.audit.report.text import summary_lines  # noqa: PLC0415
    from slsacheck.audit.session import merged, output_paths, result_of, write_reports  # noqa: PLC0415

    paths = args.images[1:]
    others = [flag for flag, used in (("--images-file", args.images_file), ("--repository", args.repository),
                                      ("--registry", args.registry), ("--kube-inventory", args.kube_inventory),
                                      ("--policy", args.policy), ("--shard", args.shard),
                                      ("--trusted-root", args.trusted_root), ("--output-oci", args.output_oci))
              if used]
    if others:
        raise InputError(f"audit merge takes shard reports, not {', '.join(others)}",
                         hint="slsacheck audit merge SHARD.json... --output FORMAT --output-file PATH")
    if not paths:
        raise InputError("audit merge: no shard report given", expected="the JSON reports of every shard")
    formats, output = _formats_and_file(args, default="json")
    outputs = output_paths(formats, output)
    with merged(paths, registry_options(args)) as report:
        result = result_of(report, write_reports(report, outputs, mode=args.file_mode))
    if not result.summary["images"] and not args.allow_empty:
        raise InputError("nothing to audit: no shard holds an image", found=", ".join(paths),
                         hint="check the sources; --allow-empty accepts an empty audit (the report was written)")
    if not args.quiet and not (output in (None, "-") and formats == ["text"]):
        print("\n".join(summary_lines(result.summary, result.meta)), file=sys.stderr)
        for path in result.written:
            print(f"wrote {path}", file=sys.stderr)
    return _exit(result.summary, args.fail_on, result.interrupted)


def _audit(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime  # noqa: PLC0415

    from slsacheck.audit import artifact  # noqa: PLC0415
    from slsacheck.audit.progress import progress  # noqa: PLC0415
    from slsacheck.audit.report.text import summary_lines  # noqa: PLC0415
    from slsacheck.audit.runner import AuditSettings  # noqa: PLC0415
    from slsacheck.audit.session import (  # noqa: PLC0415
        audit,
        file_mode,
        output_paths,
        push_report,
        result_of,
        write_reports,
    )
    from slsacheck.audit.shard import Shard  # noqa: PLC0415
    from slsacheck.audit.transport import Clients  # noqa: PLC0415

    if args.images and args.images[0] == "merge":
        return _merge(args)
    shard = Shard.parse(args.shard) if args.shard is not None else None

    if not (args.images or args.images_file or args.repository or args.registry or args.kube_inventory) \
            and not args.allow_empty:
        raise InputError("nothing to audit",
                         expected="IMAGE arguments, --images-file, --repository, --registry or --kube-inventory",
                         hint="--allow-empty writes an empty report instead")
    if args.progress_interval < 0:
        raise InputError("--progress-interval must not be negative", found=str(args.progress_interval))
    if args.concurrency < 1:
        raise InputError("--concurrency must be at least 1", found=str(args.concurrency))
    if args.rate_limit is not None and args.rate_limit <= 0:
        raise InputError("--rate-limit must be positive", found=str(args.rate_limit))
    stdin_uses = args.images_file.count("-") + sum(_inventory_file(v)[1] == "-" for v in args.kube_inventory)
    if stdin_uses > 1:
        raise InputError("stdin ('-') given to more than one --images-file/--kube-inventory")
    for name in args.images_file:
        if name != "-" and not os.access(name, os.R_OK):
            raise InputError(f"--images-file {name}: cannot read it", expected="a readable file of image references")
    if args.policy and args.trusted_root:
        raise InputError("--trusted-root is for inventories (no --policy)",
                         hint="a policy names its trusted roots in its keyless authorities")
    formats, output = _formats_and_file(args)
    outputs = output_paths(formats, output)  # a usage error before any registry call
    if args.output_oci is not None:
        artifact.destination(args.output_oci)
        if not (args.outputs or args.formats or args.output_file):
            outputs = []  # the artifact is the report; nothing on stdout unless asked for
    policy_set = None
    if args.policy:
        from slsacheck.policy.load import load_policies  # noqa: PLC0415

        policy_set = load_policies(args.policy, no_match=args.no_match)
    elif args.no_match:
        raise InputError("--no-match needs --policy")
    kube = _kube_targets(args.kube_inventory)
    options = registry_options(args)
    # Listing (tags, _catalog) shares the clients the workers use, so connections are reused.
    clients = Clients(options, pool=args.concurrency, rate=args.rate_limit)
    sources = [*args.images, *(f"file:{f}" for f in args.images_file), *(f"repository:{r}" for r in args.repository),
               *(f"registry:{r}" for r in args.registry),
               *(f"kube:{'='.join(_inventory_file(v))}" for v in args.kube_inventory)]
    settings = AuditSettings(policy_set, datetime.now(UTC), args.concurrency, args.trusted_root, args.offline,
                             shard, tuple(sources), tuple(args.policy))
    mode = file_mode(args.file_mode)  # read before any worker starts
    with progress(not args.quiet, interval=args.progress_interval) as bar, \
            audit(_targets(args, clients, kube), settings, clients, on_record=bar,
                  # a shard audits an unknown part of what is listed: no total to show
                  on_total=bar.total if bar and shard is None else None) as report:
        written = write_reports(report, outputs, mode=mode)
        if args.output_oci is not None:
            written += (push_report(report, args.output_oci, options),)
        result = result_of(report, written)
    text_on_stdout = ("text", None) in outputs
    if not args.quiet and not text_on_stdout:
        print("\n".join(summary_lines(result.summary, result.meta)), file=sys.stderr)
        for path in result.written:
            print(f"wrote {path}", file=sys.stderr)
    if result.interrupted:
        print("interrupted: the reports hold the images that finished", file=sys.stderr)
    elif not result.summary["images"] and not args.allow_empty and shard is None:
        raise InputError("nothing to audit: the sources listed no image", found=", ".join(sources) or "no source",
                         hint="check the sources; --allow-empty accepts an empty audit (the report was written)")
    return _exit(result.summary, args.fail_on, result.interrupted)


def _octal_mode(text: str) -> int:
    try:
        mode = int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an octal file mode (e.g. 0644)") from None
    if not 0 <= mode <= 0o777:
        raise argparse.ArgumentTypeError(f"{text!r} is not a file mode between 0000 and 0777")
    return mode
