"""Provenance for a Tekton run: the one entry point the CLI, the server and the Tekton Task use.

`generate(run, children, options)` picks the format, collects warnings, refuses under
`strict` when there are any, and validates the statement (JSON Schema and the in-toto
models) before returning it: a document that leaves here is well formed. It is a pure
function of its inputs; `generate_from_files` adds the reading of the exported objects.

The builder id defaults to the mode's own (`builders`): exported-run provenance names
`<identity>/exported-run`, and records the pipeline's tasks and the generator mode in
internalParameters. `reproduce_chains` writes what Tekton Chains would: its builder id,
nothing of slsacheck's own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slsacheck.errors import InputError
from slsacheck.models.statement import Statement
from slsacheck.provenance import builders, slsa_v02, slsa_v1
from slsacheck.provenance.findings import ProvenanceRefused, Warning
from slsacheck.provenance.runs import Run, load_runs
from slsacheck.provenance.validate import check_statement

FORMATS = ("slsa-v1", "slsa-v0.2")


@dataclass(frozen=True)
class Options:
    builder_id: str | None = None  # None: the mode's default (see `builders`)
    format: str = "slsa-v1"
    strict: bool = False
    deep_inspection: bool = True
    reproduce_chains: bool = False
    builder_identity: str = ""  # the cluster's builder identity; "" is builders.DEFAULT_IDENTITY


@dataclass(frozen=True)
class Generated:
    statement: Statement
    warnings: tuple[Warning, ...]


def generate(
    run: Run,
    children: Sequence[Run] = (),
    options: Options = Options(),
    *,
    extra_internal: Mapping[str, Any] | None = None,
) -> Generated:
    if options.format not in FORMATS:
        raise InputError(f"unknown provenance format {options.format!r}", expected=" or ".join(FORMATS))
    builder_id = builder_id_for(options, builders.EXPORTED)
    internal = dict(extra_internal or {})
    if not options.reproduce_chains:
        internal.setdefault(builders.GENERATOR_KEY, {"mode": builders.EXPORTED})
    if options.format == "slsa-v1":
        statement, warnings = slsa_v1.generate(
            run,
            children,
            builder_id=builder_id,
            deep_inspection=options.deep_inspection,
            extra_internal=internal,
            record_tasks=not options.reproduce_chains,
        )
    else:
        statement, warnings = slsa_v02.generate(
            run, children, builder_id=builder_id, deep_inspection=options.deep_inspection
        )
    if options.strict and warnings:
        raise ProvenanceRefused(warnings)
    check_statement(statement.to_dict())
    return Generated(statement, tuple(warnings))


def builder_id_for(options: Options, mode: str, task: str = "") -> str:
    """The builder id the options ask for, else the default of `mode` (exported or in-step)."""
    if options.builder_id is not None:
        if not options.builder_id.strip():
            raise InputError("the builder id is empty", hint="pass --builder-id URI or leave the default")
        return options.builder_id
    if options.reproduce_chains:
        return builders.CHAINS_BUILDER_ID
    if mode == builders.IN_STEP:
        return builders.in_step_builder_id(options.builder_identity, task)
    return builders.exported_builder_id(options.builder_identity)


def generate_from_files(
    run_path: Path, child_paths: Sequence[Path] = (), options: Options = Options(), *, allow_failed: bool = False
) -> Generated:
    run, children = load_runs(run_path, child_paths, allow_failed=allow_failed)
    return generate(run, children, options)
