"""`slsacheck policy lint FILE...`, `policy explain FILE...`, `policy init` and `policy test`.

Light at import time: the policy loader (jsonschema, CEL) is imported inside the
command functions so `slsacheck --help` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from slsacheck.errors import EXIT_OK, EXIT_POLICY, EXIT_USAGE, InputError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("policy", help="write, check, test and explain ImagePolicy files",
                       description="Work with ImagePolicy files: init writes one, convert translates a "
                       "policy-controller or Kyverno policy, lint checks it, test judges it offline against "
                       "statements, explain says what it demands.")
    policy_sub = p.add_subparsers(dest="policy_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda _args: _usage(p))

    lint = policy_sub.add_parser(
        "lint",
        description="Validate ImagePolicy files against the schema and build them (keys, trust roots, patterns, "
        "CEL): every problem with file:line, schema and file references in one round; then warn where a valid "
        "policy leaves a gap. Exit 0 valid, 2 invalid. --output json|sarif prints a document for pull-request "
        "checks.",
        help="validate policy files; print every problem with file:line (exit 0 valid, 2 invalid), and warn "
        "where a valid policy leaves a gap (a catch-all weaker than a specific policy, authorities one "
        "signer can satisfy)",
    )
    lint.add_argument("files", nargs="+", metavar="FILE", help="ImagePolicy files (YAML, several documents each)")
    lint.add_argument("--output", choices=["text", "json", "sarif"], default="text",
                      help="text (default, on stderr), or a JSON or SARIF 2.1.0 document on stdout for "
                      "pull-request checks; the exit code is the same")
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
    # --output-file as every other command names the file it writes; --output/-o: the earlier spelling
    init.add_argument("--output-file", "--output", "-o", dest="output", metavar="FILE",
                      help="write here (default: stdout; with --from, NAME.yaml in the current directory)")
    init.add_argument("--force", action="store_true", help="overwrite an existing --output-file")
    init.set_defaults(func=_init)

    test = policy_sub.add_parser(
        "test", help="evaluate policies against local statements, offline, at a chosen time; or run a folder of cases",
        description="POLICY... --statement FILE...: the verdict the policies give an image whose attestations are "
        "these in-toto statements (no registry, no signatures: a statement counts as signed by --signed-by "
        "authorities, by default all of the policy's; without --signed-by the signature rule is skipped). "
        "DIR: run the cases of DIR/slsacheck-tests.yaml and compare each outcome with the one it expects. "
        "Exit 0 pass (or every case as expected), 1 fail, 2 input error.")
    test.add_argument("targets", nargs="+", metavar="POLICY|DIR", help="policy files, or one folder of test cases")
    test.add_argument("--statement", action="append", default=[], metavar="FILE",
                      help="an in-toto statement (JSON/YAML) or a DSSE envelope of one (repeatable)")
    test.add_argument("--image", metavar="REF", help="the image judged (default: the statement subject's name); "
                      "REF@sha256:... also sets the digest")
    test.add_argument("--signed-by", action="append", default=[], metavar="AUTHORITY",
                      help="take the image and statements as signed by this authority of the policy (repeatable)")
    test.add_argument("--at", metavar="TIME", help="evaluate as if now were TIME (RFC 3339 or a date): maxAge, "
                      "exceptions' until")
    test.add_argument("--output", choices=["text", "json"], default="text",
                      help="text (default), or JSON: the verdict, or for a folder each case and its outcome")
    test.set_defaults(func=_test)

    convert = policy_sub.add_parser(
        "convert", help="turn a policy-controller ClusterImagePolicy or Kyverno verifyImages rules into ImagePolicy",
        description="Read a policy-controller ClusterImagePolicy (policy.sigstore.dev) or a Kyverno ClusterPolicy/"
        "Policy with verifyImages rules, and write the equivalent ImagePolicy documents. Everything that could "
        "not carry over (CUE/Rego, KMS keys, Secret references, JMESPath conditions, ...) is listed on stderr and "
        "as comments at the top of the output: nothing is dropped silently.")
    convert.add_argument("file", metavar="FILE", help="the policy to convert (YAML; one document)")
    convert.add_argument("--output-file", "--output", "-o", dest="output", metavar="FILE",
                         help="write here (default: stdout)")
    convert.add_argument("--force", action="store_true", help="overwrite an existing --output-file")
    convert.set_defaults(func=_convert)

    explain = policy_sub.add_parser("explain", help="say in words what the policies demand")
    explain.add_argument("files", nargs="+", metavar="FILE", help="ImagePolicy files")
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
    if args.output != "text":
        from slsacheck.policy.lint_report import lint_json, lint_sarif  # noqa: PLC0415

        sys.stdout.write(lint_json(args.files, problems, warnings, count) if args.output == "json"
                         else lint_sarif(problems, warnings))
        return EXIT_USAGE if problems else EXIT_OK
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
        raise InputError(f"--output-file {output} already exists",
                         hint="pass --force to overwrite it, or choose another")
    write_file(output, text.encode("utf-8"), flag="--output-file", what="the policy")
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


def _test(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime  # noqa: PLC0415

    from slsacheck.models.verdict_render import render_json, render_text  # noqa: PLC0415
    from slsacheck.policy import testing  # noqa: PLC0415 - loads the evaluator
    from slsacheck.policy.load import load_policies  # noqa: PLC0415
    from slsacheck.verify.gate import exit_code  # noqa: PLC0415

    now = testing.parse_at(args.at) if args.at else datetime.now(UTC)
    if len(args.targets) == 1 and Path(args.targets[0]).is_dir():
        if args.statement or args.image or args.signed_by:
            raise InputError("a test folder names its statements, images and signers in its cases",
                             hint=f"edit {Path(args.targets[0]) / testing.SUITE_FILE}, or give POLICY files")
        return _suite(Path(args.targets[0]), now, args.output)
    if not args.statement:
        raise InputError("policy test needs the evidence to judge", expected="--statement FILE (repeatable), "
                         "or a folder of test cases", hint="e.g. the output of `slsacheck provenance generate`")
    statements = [testing.read_statement(Path(s)) for s in args.statement]
    verdict = testing.test_policies(load_policies(args.targets), statements, image=args.image,
                                    signed_by=args.signed_by, now=now)
    sys.stdout.write(render_json([verdict]) if args.output == "json" else render_text([verdict]))
    return exit_code([verdict])


def _suite(directory: Path, now: Any, output: str) -> int:
    import json  # noqa: PLC0415

    from slsacheck.models.verdict_render import check_line  # noqa: PLC0415
    from slsacheck.policy import testing  # noqa: PLC0415
    from slsacheck.policy.load import load_policies  # noqa: PLC0415

    suite = testing.load_suite(directory)
    policy_set = load_policies(suite.policies)
    results = [testing.run_case(case, policy_set, now) for case in suite.cases]
    bad = [r for r in results if r.problems]
    if output == "json":
        doc = {"suite": str(suite.path), "passed": len(results) - len(bad), "failed": len(bad), "cases": [
            {"name": r.case.name, "expect": r.case.expect, "outcome": r.verdict.outcome, "ok": not r.problems,
             "problems": list(r.problems), "failedChecks": sorted({c.id for c in r.verdict.failed})}
            for r in results]}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        for r in results:
            print(f"{'ok  ' if not r.problems else 'FAIL'}  {r.case.name}: {r.verdict.outcome}"
                  + ("" if not r.problems else " (" + "; ".join(r.problems) + ")"))
            if r.problems:
                for check in r.verdict.failed:
                    print(f"        {check_line(check)}")
        print(f"{len(results) - len(bad)} of {len(results)} case(s) as expected ({suite.path})")
    return EXIT_POLICY if bad else EXIT_OK


def _convert(args: argparse.Namespace) -> int:
    import yaml  # noqa: PLC0415

    from slsacheck import _yaml  # noqa: PLC0415
    from slsacheck.cli._files import write_file  # noqa: PLC0415
    from slsacheck.policy.convert import convert  # noqa: PLC0415
    from slsacheck.policy.yamlsource import POLICY_LIMITS  # noqa: PLC0415

    try:
        text = Path(args.file).read_text(encoding="utf-8")
        docs = _yaml.load_all(text, POLICY_LIMITS)
    except OSError as exc:
        raise InputError(f"{args.file}: cannot read: {exc.strerror}") from None
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError(f"{args.file}: not YAML: {exc}") from None
    docs = [d for d in docs if d is not None]
    if len(docs) != 1:
        raise InputError(f"{args.file}: expected one document, found {len(docs)}",
                         hint="split the file and convert each policy")
    result = convert(docs[0])
    header = [f"# Converted by `slsacheck policy convert` from {Path(args.file).name}."]
    if result.notes:
        header.append("# Not carried over, or changed (review before use):")
        header += [f"#   - {note}" for note in result.notes]
    header.append("# Check it: slsacheck policy lint FILE")
    body = "---\n".join(yaml.safe_dump(p, sort_keys=False, allow_unicode=True) for p in result.policies)
    out = "\n".join(header) + "\n" + body
    for note in result.notes:
        print(f"not carried over: {note}", file=sys.stderr)
    if args.output is None:
        sys.stdout.write(out)
        return EXIT_OK
    output = Path(args.output)
    if output.exists() and not args.force:
        raise InputError(f"--output-file {output} already exists", hint="pass --force to overwrite it")
    write_file(output, out.encode("utf-8"), flag="--output-file", what="the converted policy")
    print(f"wrote {output}: {len(result.policies)} polic{'y' if len(result.policies) == 1 else 'ies'}, "
          f"{len(result.notes)} note(s)", file=sys.stderr)
    return EXIT_OK
