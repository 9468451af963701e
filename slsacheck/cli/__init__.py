"""The `slsacheck` command line: thin commands over the library.

Each command lives in its own module under `slsacheck.cli` and exposes
`register(subparsers)`; `COMMANDS` names them. Only the module of the command being run
is imported, and command modules import only light modules at top level, so that
`slsacheck --help` stays fast; heavy imports happen inside the command function.
`main()` is the one place that catches `slsacheck.errors.Error` and turns it into a
message and an exit code, and it runs every command with stdout and stderr wrapped in
`slsacheck._display.GuardedStream`: whatever a command prints (verdicts, inspect, promote,
warnings, errors, logs), evidence in it cannot drive the terminal.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from slsacheck import __version__
from slsacheck._display import GuardedStream
from slsacheck.errors import EXIT_INCOMPLETE, EXIT_USAGE, Error

# Every command: its name, the module that registers it, and its one-line help, in the
# order of --help. Only the module of the command being run is imported, so that
# `slsacheck --help` and a command's start-up pay for nothing else. A test checks this
# table against what each module registers.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("inspect", "oci_commands", "show an image's digest, media type, platforms and attached evidence"),
    ("copy", "oci_commands", "copy an image or index with all its children and blobs"),
    ("demo", "demo", "run the whole flow on OCI layout directories (no registry, no network)"),
    ("generate-key-pair", "key_commands", "write a cosign-format key pair: PREFIX.key (encrypted) and PREFIX.pub"),
    ("public-key", "key_commands", "print the public key of a private key (PKIX PEM)"),
    ("sign", "sign_commands", "sign an image (cosign .sig layer and/or Sigstore bundle referrer)"),
    ("attest", "sign_commands", "attest an image with an in-toto statement (cosign .att and/or bundle)"),
    ("verify", "sign_commands", "verify images' signatures with a key, a keyless identity, or policies"),
    ("verify-attestation", "sign_commands", "verify images' attestations of a type with a key or identity"),
    ("download", "download_commands", "print the attestations or signatures stored for an image, unverified"),
    ("trusted-root", "trust_commands", "fetch (through TUF) and show the cached Sigstore trust root"),
    (
        "verify-bundle",
        "bundle_commands",
        "verify a Sigstore bundle over a file or <algorithm>:<hex> (offline; sigstore-conformance protocol)",
    ),
    ("sign-blob", "blob_commands", "sign a file: a Sigstore bundle (and optionally a detached signature)"),
    ("attest-blob", "blob_commands", "attest a file with an in-toto statement: a Sigstore bundle"),
    ("verify-blob", "blob_commands", "verify a file's signature: a bundle, or a detached signature"),
    (
        "verify-blob-attestation",
        "blob_commands",
        "verify attestations about a file (bundle, DSSE envelope, .intoto.jsonl) and their provenance",
    ),
    ("provenance", "provenance_commands", "generate, attest and validate SLSA provenance for Tekton runs"),
    (
        "vuln-predicate",
        "vuln_commands",
        "turn a Trivy JSON report into a cosign vuln predicate (for attest --type vuln)",
    ),
    ("policy", "policy_commands", "write, check, test and explain ImagePolicy files"),
    ("promote", "promote_commands", "verify an image against policies, then copy it with its evidence to other places"),
    (
        "serve",
        "serve_commands",
        "run the Kubernetes admission webhook (validate, mutate: pin tags to verified digests)",
    ),
    (
        "audit",
        "audit_commands",
        "verify or inventory many images; reports in text, JSON, JUnit, SARIF, Markdown, HTML, PolicyReport",
    ),
    ("completion", "completion_commands", "print a shell completion script: slsacheck completion bash|zsh"),
)



# The width of a formatter whose text is never printed (argparse's own default off a terminal).
_UNPRINTED_WIDTH = 78

_INVALID_CHOICE = re.compile(
    r"argument (?P<arg>[^:]+): invalid choice: '(?P<given>[^']*)' \(choose from (?P<choices>.*)\)"
)


class _Parser(argparse.ArgumentParser):
    """argparse, with "did you mean" for a mistyped subcommand or choice (Python 3.11's
    argparse only lists every choice); subparsers inherit it."""

    # argparse builds a help formatter for every argument added (to check its metavar) and
    # for the subcommands' prog; each asks the terminal its width, which loads `shutil`
    # (with bz2, lzma, fnmatch) into every command. Only printed help and usage need it.
    _printing = False

    def _get_formatter(self) -> argparse.HelpFormatter:
        if self._printing:
            return super()._get_formatter()
        # Unprinted text: a metavar checked against nargs, the subcommands' prog; the
        # formatter's class changes neither.
        return argparse.HelpFormatter(prog=self.prog, width=_UNPRINTED_WIDTH)

    def format_usage(self) -> str:
        return self._printed(super().format_usage)

    def format_help(self) -> str:
        return self._printed(super().format_help)

    def _printed(self, format_text: Callable[[], str]) -> str:
        self._printing = True
        try:
            return format_text()
        finally:
            self._printing = False

    def error(self, message: str) -> NoReturn:
        match = _INVALID_CHOICE.fullmatch(message)
        if match is not None:
            import difflib  # noqa: PLC0415 - only a mistyped command or choice needs it

            choices = re.findall(r"'([^']*)'", match["choices"])
            close = difflib.get_close_matches(match["given"], choices, n=1, cutoff=0.6)
            what = "command" if match["arg"] in ("COMMAND", "SUBCOMMAND") else f"value for {match['arg']}"
            message = f"unknown {what} {match['given']!r}" + (
                f"; did you mean {close[0]!r}?" if close else f" (one of: {', '.join(choices)})")
        super().error(message)


def _command_in(argv: Sequence[str]) -> str | None:
    """The subcommand named in argv: the first argument that is not a global option
    (nor the value of one: `--docker-config PATH`)."""
    values = iter(argv)
    for arg in values:
        if arg == "--docker-config":
            next(values, None)
        elif not arg.startswith("-"):
            return arg
    return None


def build_parser(command: str | None = None, *, all_commands: bool = True) -> argparse.ArgumentParser:
    """The parser. With `all_commands`, every command module is imported and registered;
    otherwise only the module of `command`, and the others appear in --help by name."""
    parser = _Parser(
        prog="slsacheck",
        description="Generate SLSA provenance for Tekton builds, sign and attest images, "
        "and verify them against a policy.",
    )
    parser.add_argument("--version", action="version", version=f"slsacheck {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more logging (-vv: debug); also accepted after the command")
    parser.add_argument("--docker-config", dest="global_docker_config", metavar="PATH",
                        help="docker config.json (or its directory) with registry credentials, for any command; "
                        "also accepted after the command")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = {module for name, module, _ in COMMANDS if all_commands or name == command}
    for module in dict.fromkeys(module for _, module, _ in COMMANDS):
        if module in wanted:
            importlib.import_module(f"slsacheck.cli.{module}").register(sub)
    # The other commands, by name, for --help and "did you mean": not needed (and each an
    # ArgumentParser to build) when the command run is one of the table's.
    if all_commands or command not in sub.choices:
        for name, _, help_text in COMMANDS:
            if name not in sub.choices:
                sub.add_parser(name, help=help_text, add_help=False)
    # argparse lists subcommands in the order they were added; show the table's order.
    order = {name: i for i, (name, _, _) in enumerate(COMMANDS)}
    sub._choices_actions.sort(key=lambda action: order.get(action.dest, len(order)))
    _accept_global_flags(parser)
    return parser


def _accept_global_flags(parser: argparse.ArgumentParser) -> None:
    """`-v` after the command too (`slsacheck verify -v ...`), on every command and action.

    Its own dest, and no default, so that a subcommand's parser never resets the count the
    top level made; `_main` adds the two."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for child in action.choices.values():
            if "-v" not in child._option_string_actions:
                child.add_argument("-v", "--verbose", action="count", dest="verbose_after",
                                   default=argparse.SUPPRESS, help=argparse.SUPPRESS)
            _accept_global_flags(child)


def main(argv: Sequence[str] | None = None) -> int:
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = GuardedStream(stdout), GuardedStream(stderr)
    try:
        return _main(argv)
    finally:
        sys.stdout, sys.stderr = stdout, stderr


def _main(argv: Sequence[str] | None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_in(arguments), all_commands=False)
    args = parser.parse_args(arguments)
    import logging  # noqa: PLC0415 - not needed for --help

    verbose = args.verbose + getattr(args, "verbose_after", 0)
    if args.global_docker_config is not None and getattr(args, "docker_config", None) is None:
        # Given before the command: the same setting as the command's own --docker-config.
        args.docker_config = args.global_docker_config
    logging.basicConfig(
        level=logging.WARNING - 10 * min(verbose, 2),
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
