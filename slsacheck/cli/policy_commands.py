"""`slsacheck policy lint FILE...`, `policy explain FILE...` and `policy init`.

Light at import time: the policy loader (jsonschema, CEL) is imported inside the
command functions so `slsacheck --help` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from slsacheck.errors import EXIT_OK, EXIT_USAGE, InputError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("policy", help="check and explain ImagePolicy files")
    policy_sub = p.add_subparsers(dest="policy_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda _args: _usage(p))

    lint = policy_sub.add_parser(
        "lint",
        help="validate policy files; print every problem with file:line (exit 0 valid, 2 invalid), and warn "
        "where a valid policy leaves a gap (a catch-all weaker than a specific policy, authorities one "
        "signer can satisfy)",
    )
    lint.add_argument("files", nargs="+", metavar="FILE")
    lint.set_defaults(func=_lint)

    init = policy_sub.add_parser(
        "init", help="write a commented starting policy for your images and signer, or copy a shipped one out",
        description="Write a commented ImagePolicy: the images it judges (--image) must be signed by a key "
        "(--key PUB) or a keyless identity (--certificate-identity[-regexp] with --certificate-oidc-issuer). "
        "--from NAME copies a shipped policy instead and lists the files it reads. Paths in the policy are "
        "relative to the policy file.")
    init.add_argument("--from", dest="from_policy", metavar="NAME",
                      help="copy a shipped policy: key-signed-only, tekton-pipeline, tekton-slsa3, vulnerability-gate")
    init.add_argument("--image", action="append", default=[], metavar="PATTERN",
                      help="images the policy judges, e.g. 'registry.example.com/team/**' (repeatable)")
    init.add_argument("--key", metavar="PUB", help="the public key that signs the images")
    init.add_argument("--certificate-identity", metavar="ID", help="keyless: the signer's exact identity")
    init.add_argument("--certificate-identity-regexp", metavar="RE", help="keyless: the identity as a regexp")
    init.add_argument("--certificate-oidc-issuer", metavar="URL", help="keyless: the OIDC issuer")
    init.add_argument("--trusted-root", metavar="FILE", default=None,
                      help="keyless: the Sigstore trusted_root.json (default: trusted_root.json beside the policy)")
    init.add_argument("--name", default=None, help="metadata.name (default: from the output file's name)")
    init.add_argument("--output", "-o", metavar="FILE",
                      help="write here (default: stdout; with --from, NAME.yaml in the current directory)")
    init.add_argument("--force", action="store_true", help="overwrite an existing --output file")
    init.set_defaults(func=_init)

    explain = policy_sub.add_parser("explain", help="say in words what the policies demand")
    explain.add_argument("files", nargs="+", metavar="FILE")
    explain.set_defaults(func=_explain)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def _lint(args: argparse.Namespace) -> int:
    from slsacheck.policy.lint import lint_warnings  # noqa: PLC0415 - keep --help fast
    from slsacheck.policy.load import check_file, load_policies  # noqa: PLC0415 - keep --help fast
    from slsacheck.policy.problems import PolicyLoadError  # noqa: PLC0415 - keep --help fast

    problems = []
    warnings = []
    count = 0
    for file in args.files:
        policies, found = check_file(file)
        count += len(policies)
        problems.extend(found)
    if not problems:
        try:  # cross-file rules (unique names, registry aliases), then what loads but leaves a gap
            warnings = lint_warnings(load_policies(args.files))
        except PolicyLoadError as exc:
            problems.extend(exc.problems)
    for problem in problems:
        print(problem.render(), file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) in {len(args.files)} file(s)", file=sys.stderr)
        return EXIT_USAGE
    for warning in warnings:
        print("warning: " + warning.render(), file=sys.stderr)
    suffix = f", {len(warnings)} warning(s)" if warnings else ""
    print(f"ok: {count} polic{'y' if count == 1 else 'ies'} in {len(args.files)} file(s){suffix}")
    return EXIT_OK


def _explain(args: argparse.Namespace) -> int:
    from slsacheck.policy.explain import explain  # noqa: PLC0415 - keep --help fast
    from slsacheck.policy.load import load_policies  # noqa: PLC0415 - keep --help fast

    sys.stdout.write(explain(load_policies(args.files)))
    return EXIT_OK


def _relative_to(path: str, output: Path | None) -> str:
    """`path` as the policy must name it: relative to the policy file's directory."""
    if output is None:  # printed: the user places it, most likely here
        return path
    return os.path.relpath(os.path.abspath(path), os.path.abspath(output.parent))


def _init(args: argparse.Namespace) -> int:
    from slsacheck.cli._files import write_file  # noqa: PLC0415
    from slsacheck.policy import starter  # noqa: PLC0415 - reads the shipped policies

    output = Path(args.output) if args.output else None
    if args.from_policy is not None:
        if args.image or args.key or args.certificate_identity or args.certificate_identity_regexp:
            raise InputError("--from copies a shipped policy as it is; --image, --key and identities do not apply",
                             hint="copy it, then edit its images.include and authorities")
        shipped = starter.shipped(args.from_policy)
        output = output or Path(f"{shipped.name}.yaml")
        text = shipped.text
    else:
        text = starter.starter(args.name or (output.stem if output else "my-images"), args.image,
                               _signer(args, output))
    if output is None:
        sys.stdout.write(text)
        return EXIT_OK
    if output.exists() and not args.force:
        raise InputError(f"--output {output} already exists", hint="pass --force to overwrite it, or choose another")
    write_file(output, text.encode("utf-8"), flag="--output", what="the policy")
    print(f"wrote {output}", file=sys.stderr)
    if args.from_policy is not None and shipped.files:
        print(f"it reads {', '.join(shipped.files)} relative to itself: put "
              f"{'them' if len(shipped.files) > 1 else 'it'} in {output.parent}/", file=sys.stderr)
    print(f"next: edit images.include, then: slsacheck policy lint {output}", file=sys.stderr)
    return EXIT_OK


def _signer(args: argparse.Namespace, output: Path | None) -> Any:
    from slsacheck.policy import starter  # noqa: PLC0415

    identity = args.certificate_identity or args.certificate_identity_regexp
    if bool(args.key) == bool(identity):
        raise InputError("policy init needs exactly one signer",
                         expected="--key PUB, or --certificate-identity[-regexp] ID with --certificate-oidc-issuer URL",
                         hint="the public key (.pub) that signs your images, or your pipeline's keyless identity")
    if args.key:
        return starter.KeySigner(_relative_to(args.key, output))
    if not args.certificate_oidc_issuer:
        raise InputError("a keyless identity needs its issuer", expected="--certificate-oidc-issuer URL",
                         hint="e.g. https://token.actions.githubusercontent.com, or your cluster's issuer")
    return starter.KeylessSigner(args.certificate_oidc_issuer, identity, not args.certificate_identity,
                                 _relative_to(args.trusted_root, output) if args.trusted_root else "trusted_root.json")
