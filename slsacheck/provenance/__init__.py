"""Tekton run objects (or a step's view of its run) -> SLSA provenance v1.0 (and v0.2).

Modules, by idea: `documents` (JSON/YAML files), `runs` (load and check exported
TaskRun/PipelineRun objects), `children` (which TaskRuns belong to the PipelineRun, which
are missing), `hints` (Tekton Chains type hints, with warnings where Chains drops
silently), `collect` (dependencies, byproduct encoding), `tasks` (the pipeline's tasks,
recorded for pipelineRef runs), `builders` (builder ids and the SLSA level each can carry),
`slsa_v1` and `slsa_v02` (the two predicate shapes), `instep` (the in-step mode) and
`resultdir` (its untrusted result directory), `validate` and `positions` (JSON Schema +
in-toto model checks with line numbers), `platforms` (index subjects -> platform subjects,
through a `Store`), `generate` (the entry point: `slsacheck.provenance.generate.generate`, or
`slsacheck.generate_provenance`).

No name below is also the name of a module here, so `slsacheck.provenance.X` is always the
same object whichever modules were imported first. The names load lazily: generation pulls
in jsonschema and protobuf for validation.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Generated": "slsacheck.provenance.generate",
    "Options": "slsacheck.provenance.generate",
    "generate_from_files": "slsacheck.provenance.generate",
    "ProvenanceRefused": "slsacheck.provenance.findings",
    "RunError": "slsacheck.provenance.findings",
    "Finding": "slsacheck.provenance.findings",
    "Run": "slsacheck.provenance.runs",
    "load_runs": "slsacheck.provenance.runs",
    "StepContext": "slsacheck.provenance.instep",
    "generate_in_step": "slsacheck.provenance.instep",
    "InvalidProvenance": "slsacheck.provenance.validate",
    "validate_file": "slsacheck.provenance.validate",
    "add_platform_subjects": "slsacheck.provenance.platforms",
}

__all__ = [
    "Finding",
    "Generated",
    "InvalidProvenance",
    "Options",
    "ProvenanceRefused",
    "Run",
    "RunError",
    "StepContext",
    "add_platform_subjects",
    "generate_from_files",
    "generate_in_step",
    "load_runs",
    "validate_file",
]


# Old names, still answered but not exported: `Warning` shadowed the builtin.
_RENAMED = {"Warning": "Finding"}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(_RENAMED.get(name, name))
    if module is None:
        raise AttributeError(f"module 'slsacheck.provenance' has no attribute {name!r}")
    return getattr(importlib.import_module(module), _RENAMED.get(name, name))
