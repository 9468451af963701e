"""`slsacheck provenance generate|attest|validate`: SLSA provenance for Tekton runs.

`generate` has two modes: from exported run objects (`--run FILE [--child FILE]...`), or,
without `--run`, inside a Tekton step (`--param`, `--result-dir`, context flags or
SLSACHECK_* environment variables; see `slsacheck.provenance.instep`). The statement goes
to stdout (or `--output-file`), warnings to stderr, one per line.

`attest` generates the same provenance and attests it (what the Tekton Task calls): on
every image subject (`NAME@sha256:...`), or only on IMAGE when given, which must then be
one of the subjects. Which images those are, and what `--strict` refuses, is decided by
`slsacheck.attach.subjects`; this module reads flags and prints. Two formats meet here, so
the flags say which is which: `--provenance-format slsa-v1|slsa-v0.2` picks the predicate
(`https://slsa.dev/provenance/v1` or `/v0.2`), `--format legacy|bundle|both` where the
attestation goes, exactly as for `slsacheck attest`. Each attestation's statement names the
one image it is attached to (its repository, or `oci:DIR`, and digest), as `slsacheck attest`
writes it; `provenance generate` prints the statement with every subject. Every warning
(the run's, and subjects that are not images) goes to stderr; with `--strict` any warning
is an error, raised before anything is written. Every target is resolved before the first
is attested, so a missing image writes nothing either.

The builder id is the mode's own (`slsacheck.provenance.builders`): `IDENTITY/exported-run`
with `--run`, `IDENTITY/in-step/TASK` in a step; `--reproduce-chains` writes Tekton Chains'
id and document instead, `--builder-id` any id. A child TaskRun that is not the
PipelineRun's own, or a result file that is not a plain result, is an error whatever
`--strict` says.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from slsacheck._json import utf8
from slsacheck.cli._files import write_file
from slsacheck.cli._registry_flags import add_registry_flags, open_image, registry_options

# The same signing flags (and their reading) as `slsacheck sign` and `attest`: one definition.
from slsacheck.cli.sign_commands import _placement, _signer, _signer_flags
from slsacheck.errors import EXIT_OK, EXIT_USAGE, InputError

if TYPE_CHECKING:
    from slsacheck.attach.sign import Attached
    from slsacheck.models.statement import Statement
    from slsacheck.provenance.generate import Generated, Options

_FORMATS = ("slsa-v1", "slsa-v0.2")
_ATTACH_FORMATS = ("legacy", "bundle", "both")
_CONTEXT_FLAGS = (
    ("pipelinerun-name", "pipeline_run_name", "SLSACHECK_PIPELINERUN_NAME", "$(context.pipelineRun.name)"),
    ("pipelinerun-uid", "pipeline_run_uid", "SLSACHECK_PIPELINERUN_UID", "$(context.pipelineRun.uid)"),
    ("taskrun-name", "task_run_name", "SLSACHECK_TASKRUN_NAME", "$(context.taskRun.name)"),
    ("taskrun-uid", "task_run_uid", "SLSACHECK_TASKRUN_UID", "$(context.taskRun.uid)"),
    ("namespace", "namespace", "SLSACHECK_NAMESPACE", "$(context.taskRun.namespace)"),
    ("pipeline-task", "pipeline_task", "SLSACHECK_PIPELINE_TASK", "the task's name in the Pipeline"),
    ("task-name", "task_name", "SLSACHECK_TASK_NAME", "$(context.task.name), named by the in-step builder id"),
    ("started-on", "started_on", "SLSACHECK_STARTED_ON", "RFC 3339 start of the build"),
    ("finished-on", "finished_on", "SLSACHECK_FINISHED_ON", "RFC 3339 end of the build"),
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("provenance", help="generate, attest and validate SLSA provenance for Tekton runs",
                       description="generate: SLSA provenance from exported Tekton runs or inside a step; attest: "
                       "generate it and attach it to the image; validate: check a provenance file against the schemas.")
    actions = p.add_subparsers(dest="provenance_action", metavar="ACTION")
    p.set_defaults(func=lambda _args: _usage(p))

    g = actions.add_parser(
        "generate",
        help="SLSA provenance from an exported TaskRun/PipelineRun, or from inside a Tekton step",
        description="With --run: from `kubectl get taskrun|pipelinerun NAME -o json|yaml` output. "
        "Without --run: in-step mode, from --param, --result-dir and the context flags or "
        "their SLSACHECK_* environment variables.",
    )
    _generation_flags(g)
    # Earlier spellings, kept for one release: --format for the predicate, --output/-o for the file.
    g.add_argument("--format", dest="provenance_format", choices=_FORMATS, help=argparse.SUPPRESS)
    g.add_argument("--output-file", type=Path, metavar="FILE", dest="output_file",
                   help="write the statement here, not to stdout")
    g.add_argument("--output", "-o", type=Path, dest="output_file", help=argparse.SUPPRESS)
    g.add_argument(
        "--predicate-only",
        action="store_true",
        help="print only the predicate (for `attest --predicate -`, which makes the image the subject)",
    )
    _step_flags(g)
    add_registry_flags(g)
    g.set_defaults(func=_generate)

    a = actions.add_parser(
        "attest",
        help="generate SLSA provenance and attest it on the images it names (or on IMAGE)",
        description="Generate the provenance as `provenance generate` does, then sign it (DSSE) and attach it "
        "to every image subject (NAME@DIGEST), or only to IMAGE, which must be one of the subjects. "
        "--provenance-format picks the predicate (slsa-v1: https://slsa.dev/provenance/v1, slsa-v0.2); "
        "--format picks where the attestation goes, as for `slsacheck attest`. With --strict, any warning "
        "fails the command before anything is written.",
    )
    _signer_flags(a)
    a.add_argument(
        "--format",
        choices=_ATTACH_FORMATS,
        default="both",
        help="legacy: a layer of sha256-<hex>.att; bundle: a Sigstore bundle referrer; both (default)",
    )
    _generation_flags(a)
    _step_flags(a)
    a.add_argument(
        "image",
        nargs="?",
        metavar="IMAGE",
        help="attest only this image (a registry reference or oci:DIR[:TAG]); it must be a subject",
    )
    add_registry_flags(a)
    a.set_defaults(func=_attest)

    v = actions.add_parser(
        "validate",
        help="check a provenance document (any builder's) against the schemas, with line numbers",
    )
    v.add_argument("file", type=Path, metavar="FILE", help="an in-toto statement with SLSA provenance (JSON or YAML)")
    v.set_defaults(func=_validate)


def _generation_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", type=Path, metavar="FILE", help="the exported TaskRun or PipelineRun (JSON or YAML)")
    p.add_argument(
        "--child", type=Path, action="append", default=[], metavar="FILE", help="a child TaskRun of the PipelineRun"
    )
    p.add_argument(
        "--builder-id",
        metavar="URI",
        help="the builder id to record; default: IDENTITY/exported-run with --run, IDENTITY/in-step/TASK in a step, "
        "https://tekton.dev/chains/v2 with --reproduce-chains",
    )
    p.add_argument(
        "--builder-identity",
        metavar="URI",
        help="the cluster's builder identity the default builder ids start with; else $SLSACHECK_BUILDER_IDENTITY, "
        "else https://slsacheck.dev/builders/tekton",
    )
    p.add_argument(
        "--reproduce-chains",
        action="store_true",
        help="with --run: write what Tekton Chains would (its builder id, no task list of slsacheck's own)",
    )
    p.add_argument(
        "--provenance-format",
        dest="provenance_format",
        choices=_FORMATS,
        default="slsa-v1",
        help="the provenance predicate: slsa-v1 (default) or slsa-v0.2",
    )
    p.add_argument("--strict", action="store_true", help="fail on any warning instead of recording it")
    p.add_argument("--allow-failed", action="store_true", help="describe a run that failed or did not finish")
    p.add_argument(
        "--no-deep-inspection",
        dest="deep_inspection",
        action="store_false",
        help="a PipelineRun's subjects and byproducts from its own results only",
    )
    p.add_argument(
        "--platform-subjects",
        action="store_true",
        help="for an image index subject, add each platform manifest as a subject (reads the registry)",
    )


def _step_flags(p: argparse.ArgumentParser) -> None:
    step = p.add_argument_group("in-step mode (without --run)")
    step.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a Task param")
    step.add_argument("--result-dir", type=Path, metavar="DIR", help="the Task's result files (/tekton/results)")
    step.add_argument("--step-image", action="append", default=[], metavar="NAME=IMAGE@DIGEST",
                      help="a step's image, pinned by digest, recorded as a resolved dependency (repeatable)")
    for flag, dest, env, meaning in _CONTEXT_FLAGS:
        step.add_argument(f"--{flag}", dest=dest, metavar="VALUE", help=f"{meaning}; else ${env}")


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def _generated(args: argparse.Namespace) -> Generated:
    """The provenance the flags describe (either mode), its warnings printed to stderr."""
    from slsacheck.provenance.builders import IDENTITY_ENVIRONMENT  # noqa: PLC0415 - keep --help fast
    from slsacheck.provenance.generate import Options, generate_from_files  # noqa: PLC0415 - keep --help fast

    options = Options(
        builder_id=args.builder_id,
        format=args.provenance_format,
        strict=args.strict,
        deep_inspection=args.deep_inspection,
        reproduce_chains=args.reproduce_chains,
        builder_identity=(args.builder_identity or os.environ.get(IDENTITY_ENVIRONMENT, "")).strip(),
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
    return generated


def _generate(args: argparse.Namespace) -> int:
    statement = _generated(args).statement
    if args.platform_subjects:
        statement = _with_platforms(statement, args)
    if args.predicate_only:
        text = json.dumps(statement.to_dict()["predicate"], ensure_ascii=False, indent=2) + "\n"
    else:
        text = statement.to_json()
    # A document meant to be attested: text UTF-8 cannot carry is the run's input error, here too.
    data = utf8(text, what="the generated provenance")
    if args.output_file is not None:
        write_file(args.output_file, data, flag="--output-file", what="the provenance")
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


def _attest(args: argparse.Namespace) -> int:
    from slsacheck.attach.subjects import (  # noqa: PLC0415 - crypto loads only when signing
        Target,
        attest_provenance,
        chosen_target,
        subject_targets,
    )
    from slsacheck.models.reference import ImageRef  # noqa: PLC0415 - keep --help fast
    from slsacheck.oci.open import open_store  # noqa: PLC0415 - keep --help fast

    if args.image is not None:
        ImageRef.parse(args.image)  # a typo fails before the run is read
    statement = _generated(args).statement  # under --strict, the run's warnings stop here
    if args.platform_subjects:
        statement = _with_platforms(statement, args)
    if args.image is not None:
        ref, store = open_image(args.image, args)
        targets = [chosen_target(statement, ref, store, args.image)]
    else:
        options = registry_options(args)
        targets = subject_targets(statement, lambda ref: open_store(ref, options), strict=args.strict,
                                  on_warning=lambda line: print(f"warning: {line}", file=sys.stderr))
    signer = _signer(args)

    def report(target: Target, attached: Attached) -> None:
        where = []
        if attached.tag is not None:
            where.append(f"{attached.tag} ({attached.added} new layer(s))" if attached.added
                         else f"{attached.tag} (already there)")
        if attached.bundle is not None:
            where.append(f"bundle referrer {attached.bundle}")
        print(f"attested {statement.predicate_type} on {target.text}: {'; '.join(where)}")

    attest_provenance(statement, signer, targets, fmt=_placement(args, signer), on_attested=report)
    return EXIT_OK


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
