"""The `slsacheck` command line: thin commands over the library.

Each command lives in its own module under `slsacheck.cli` and exposes
`register(subparsers)`. Command modules import only light modules at top level, so
that `slsacheck --help` stays fast; heavy imports happen inside the command function.
`main()` is the one place that catches `slsacheck.errors.Error` and turns it into a
message and an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from slsacheck import __version__
from slsacheck.errors import EXIT_INCOMPLETE, EXIT_USAGE, Error

# Command modules, in the order their commands appear in --help. Add a line per module.
COMMAND_MODULES: tuple[str, ...] = (
    "slsacheck.cli.oci_commands",
    "slsacheck.cli.demo",
    "slsacheck.cli.key_commands",
    "slsacheck.cli.sign_commands",
    "slsacheck.cli.bundle_commands",
    "slsacheck.cli.provenance_commands",
    "slsacheck.cli.vuln_commands",
    "slsacheck.cli.policy_commands",
    "slsacheck.cli.promote_commands",
    "slsacheck.cli.serve_commands",
    "slsacheck.cli.audit_commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slsacheck",
        description="Generate SLSA provenance for Tekton builds, sign and attest images, "
        "and verify them against a policy.",
    )
    parser.add_argument("--version", action="version", version=f"slsacheck {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(func(args))
    except Error as exc:
        print(f"error: {exc.diagnostics()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INCOMPLETE
    except BrokenPipeError:
        return 0
