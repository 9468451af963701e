"""Tekton run objects (or a step's view of its run) -> SLSA provenance v1.0 (and v0.2).

Modules, by idea: `documents` (JSON/YAML files), `runs` (load and check exported
TaskRun/PipelineRun objects), `children` (which TaskRuns belong to the PipelineRun, which
are missing), `hints` (Tekton Chains type hints, with warnings where Chains drops
silently), `collect` (dependencies, byproduct encoding), `tasks` (the pipeline's tasks,
recorded for pipelineRef runs), `builders` (builder ids and the SLSA level each can carry),
`slsa_v1` and `slsa_v02` (the two predicate shapes), `instep` (the in-step mode) and
`resultdir` (its untrusted result directory), `validate` and `positions` (JSON Schema +
in-toto model checks with line numbers), `platforms` (index subjects -> platform subjects,
through a `Store`), `generate` (the entry point).

The names below load lazily: `generate` pulls in jsonschema and protobuf for validation.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Generated": "slsacheck.provenance.generate",
    "Options": "slsacheck.provenance.generate",
    "generate": "slsacheck.provenance.generate",
    "generate_from_files": "slsacheck.provenance.generate",
    "ProvenanceRefused": "slsacheck.provenance.findings",
    "RunError": "slsacheck.provenance.findings",
    "Warning": "slsacheck.provenance.findings",
    "Run": "slsacheck.provenance.runs",
    "load_runs": "slsacheck.provenance.runs",
    "StepContext": "slsacheck.provenance.instep",
    "generate_in_step": "slsacheck.provenance.instep",
    "InvalidProvenance": "slsacheck.provenance.validate",
    "validate_file": "slsacheck.provenance.validate",
    "add_platform_subjects": "slsacheck.provenance.platforms",
}

__all__ = [
    "Generated",
    "InvalidProvenance",
    "Options",
    "ProvenanceRefused",
    "Run",
    "RunError",
    "StepContext",
    "Warning",
    "add_platform_subjects",
    "generate",
    "generate_from_files",
    "generate_in_step",
    "load_runs",
    "validate_file",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'slsacheck.provenance' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
