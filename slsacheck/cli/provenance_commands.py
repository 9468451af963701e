"""`slsacheck provenance generate|validate`: SLSA provenance for Tekton runs.

`generate` has two modes: from exported run objects (`--run FILE [--child FILE]...`), or,
without `--run`, inside a Tekton step (`--param`, `--result-dir`, context flags or
SLSACHECK_* environment variables; see `slsacheck.provenance.instep`). The statement goes
to stdout (or `--output`), warnings to stderr, one per line.

`provenance attest` (generate, sign and attach in one step, what the Tekton Task calls)
registers in `register()` below once signing lands; it will take the same generate flags
plus the signing ones.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from slsacheck.cli._registry_flags import add_registry_flags, registry_options
from slsacheck.errors import EXIT_OK, EXIT_USAGE, InputError

if TYPE_CHECKING:
    from slsacheck.models.statement import Statement
    from slsacheck.provenance.generate import Generated, Options

_FORMATS = ("slsa-v1", "slsa-v0.2")
_DEFAULT_BUILDER = "https://tekton.dev/chains/v2"
_CONTEXT_FLAGS = (
    ("pipelinerun-name", "pipeline_run_name", "SLSACHECK_PIPELINERUN_NAME", "$(context.pipelineRun.name)"),
    ("pipelinerun-uid", "pipeline_run_uid", "SLSACHECK_PIPELINERUN_UID", "$(context.pipelineRun.uid)"),
    ("taskrun-name", "task_run_name", "SLSACHECK_TASKRUN_NAME", "$(context.taskRun.name)"),
    ("taskrun-uid", "task_run_uid", "SLSACHECK_TASKRUN_UID", "$(context.taskRun.uid)"),
    ("namespace", "namespace", "SLSACHECK_NAMESPACE", "$(context.taskRun.namespace)"),
    ("pipeline-task", "pipeline_task", "SLSACHECK_PIPELINE_TASK", "the task's name in the Pipeline"),
    ("started-on", "started_on", "SLSACHECK_STARTED_ON", "RFC 3339 start of the build"),
    ("finished-on", "finished_on", "SLSACHECK_FINISHED_ON", "RFC 3339 end of the build"),
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("provenance", help="generate and validate SLSA provenance for Tekton runs")
    actions = p.add_subparsers(dest="provenance_action", metavar="ACTION")
    p.set_defaults(func=lambda _args: _usage(p))

    g = actions.add_parser(
        "generate",
        help="SLSA provenance from an exported TaskRun/PipelineRun, or from inside a Tekton step",
        description="With --run: from `kubectl get taskrun|pipelinerun NAME -o json|yaml` output. "
        "Without --run: in-step mode, from --param, --result-dir and the context flags or "
        "their SLSACHECK_* environment variables.",
    )
    g.add_argument("--run", type=Path, metavar="FILE", help="the exported TaskRun or PipelineRun (JSON or YAML)")
    g.add_argument(
        "--child", type=Path, action="append", default=[], metavar="FILE", help="a child TaskRun of the PipelineRun"
    )
    g.add_argument("--builder-id", default=_DEFAULT_BUILDER, metavar="URI", help=f"default {_DEFAULT_BUILDER}")
    g.add_argument("--format", choices=_FORMATS, default="slsa-v1")
    g.add_argument("--strict", action="store_true", help="fail on any warning instead of recording it")
    g.add_argument("--allow-failed", action="store_true", help="describe a run that failed or did not finish")
    g.add_argument(
        "--no-deep-inspection",
        dest="deep_inspection",
        action="store_false",
        help="a PipelineRun's subjects and byproducts from its own results only",
    )
    g.add_argument("--output", "-o", type=Path, metavar="FILE", help="write the statement here, not to stdout")
    g.add_argument(
        "--platform-subjects",
        action="store_true",
        help="for an image index subject, add each platform manifest as a subject (reads the registry)",
    )
    g.add_argument(
        "--predicate-only",
        action="store_true",
        help="print only the predicate (for `attest --predicate -`, which makes the image the subject)",
    )
    step = g.add_argument_group("in-step mode (without --run)")
    step.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a Task param")
    step.add_argument("--result-dir", type=Path, metavar="DIR", help="the Task's result files (/tekton/results)")
    step.add_argument("--step-image", action="append", default=[], metavar="NAME=IMAGE@DIGEST")
    for flag, dest, env, meaning in _CONTEXT_FLAGS:
        step.add_argument(f"--{flag}", dest=dest, metavar="VALUE", help=f"{meaning}; else ${env}")
    add_registry_flags(g)
    g.set_defaults(func=_generate)

    v = actions.add_parser(
        "validate",
        help="check a provenance document (any builder's) against the schemas, with line numbers",
    )
    v.add_argument("file", type=Path, metavar="FILE", help="an in-toto statement with SLSA provenance (JSON or YAML)")
    v.set_defaults(func=_validate)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def _generate(args: argparse.Namespace) -> int:
    from slsacheck.provenance.generate import Options, generate_from_files  # noqa: PLC0415 - keep --help fast

    options = Options(
        builder_id=args.builder_id, format=args.format, strict=args.strict, deep_inspection=args.deep_inspection
    )
    if args.run is not None:
        step_only = [
            flag
            for flag, given in (("param", args.param), ("step-image", args.step_image), ("result-dir", args.result_dir))
            if given
        ]
        if step_only:
            raise InputError(
                f"--{step_only[0]} is for the in-step mode, not with --run",
                hint="give either --run FILE (exported objects) or the in-step flags",
            )
        generated = generate_from_files(args.run, args.child, options, allow_failed=args.allow_failed)
    else:
        if args.child:
            raise InputError(
                "--child needs --run", hint="give the PipelineRun with --run and its TaskRuns with --child"
            )
        generated = _in_step(args, options)
    for warning in generated.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    statement = generated.statement
    if args.platform_subjects:
        statement = _with_platforms(statement, args)
    if args.predicate_only:
        text = json.dumps(statement.to_dict()["predicate"], ensure_ascii=False, indent=2) + "\n"
    else:
        text = statement.to_json()
    if args.output is not None:
        try:
            args.output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write {args.output}: {exc.strerror or exc}") from exc
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _with_platforms(statement: Statement, args: argparse.Namespace) -> Statement:
    from slsacheck.oci.open import open_store  # noqa: PLC0415 - keep --help fast
    from slsacheck.provenance.platforms import add_platform_subjects  # noqa: PLC0415
    from slsacheck.provenance.validate import check_statement  # noqa: PLC0415

    options = registry_options(args)
    widened = add_platform_subjects(statement, lambda ref: open_store(ref, options))
    check_statement(widened.to_dict())
    return widened


def _in_step(args: argparse.Namespace, options: Options) -> Generated:
    from slsacheck.provenance.instep import (  # noqa: PLC0415 - keep --help fast
        StepContext,
        generate_in_step,
        parse_param,
        read_result_dir,
    )

    context = StepContext.from_values({dest: getattr(args, dest) for _, dest, _, _ in _CONTEXT_FLAGS}, os.environ)
    params = [parse_param(p) for p in args.param]
    results = read_result_dir(args.result_dir) if args.result_dir is not None else []
    if not params and not results:
        raise InputError(
            "nothing to describe: no --run, and no --param or --result-dir",
            hint="pass --run FILE for an exported run, or --result-dir /tekton/results inside a step",
        )
    return generate_in_step(context, params, results, args.step_image, options)


def _validate(args: argparse.Namespace) -> int:
    from slsacheck.provenance.validate import validate_file  # noqa: PLC0415 - jsonschema loads here

    document = validate_file(args.file)
    count = len(document.get("subject", []))
    print(f"{args.file}: valid {document.get('predicateType')} ({count} subject(s))")
    return EXIT_OK
