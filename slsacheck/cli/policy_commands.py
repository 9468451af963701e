"""`slsacheck policy lint FILE...` and `slsacheck policy explain FILE...`.

Light at import time: the policy loader (jsonschema, CEL) is imported inside the
command functions so `slsacheck --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys

from slsacheck.errors import EXIT_OK, EXIT_USAGE


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
