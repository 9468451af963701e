"""SLSA Provenance v1.0 for a Tekton run, in the shape Tekton Chains' `slsa/v2alpha4` emits.

buildType `https://tekton.dev/chains/v2/slsa`; `externalParameters.runSpec` is the run's spec
as exported and `buildConfigSource` comes from the refSource of a remotely resolved
Task/Pipeline; `internalParameters` holds the feature flags; `resolvedDependencies` are, in
Chains' order: the run's own `task`/`pipeline` ref, each child's `pipelineTask` ref, remote
`stepAction/<step>` refs, step and sidecar images, then `inputs/result` entries (git source
from CHAINS-GIT_*, `*ARTIFACT_INPUTS`); `byproducts` are the results that are not subjects.
Deep inspection (on by default) adds the child TaskRuns' subjects, byproducts and inputs.

Deliberate differences from Chains (each also a `Warning`): a malformed digest or a git
commit that is not a full SHA is never written as a digest (the dependency is kept without
it); an image hint without a digest is not a subject; one normalised name per subject
(Chains writes `abc` and `index.docker.io/library/abc` for the same artifact); unknown
feature flags are kept rather than dropped. Lists keep Chains' emission order, which is a
function of the input only (Chains pairs `*_IMAGE_URL` hints in Go map order; slsacheck
in result order), so the same run gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from slsacheck.models.predicates import SLSA_PROVENANCE_V1
from slsacheck.models.statement import STATEMENT_V1, Statement, Subject
from slsacheck.provenance.children import executed_children, no_subject_hint
from slsacheck.provenance.collect import (
    Dependency,
    append_artifacts,
    append_dependencies,
    artifact_dependency,
    go_json,
    image_dependencies,
    ref_dependency,
    remove_duplicates,
)
from slsacheck.provenance.findings import Warning, no_artifact, unique
from slsacheck.provenance.hints import Artifact, Hints, clean_digest_set, git_source, read_hints, subject_name
from slsacheck.provenance.runs import Result, Run
from slsacheck.provenance.tasks import TASKS_KEY, pipeline_tasks

BUILD_TYPE = "https://tekton.dev/chains/v2/slsa"
DEFAULT_BUILDER_ID = "https://tekton.dev/chains/v2"
PREDICATE_TYPE = SLSA_PROVENANCE_V1
INPUT_RESULT = "inputs/result"
JSON_MEDIA_TYPE = "application/json"

# Tekton's FeatureFlags JSON names; Go reads any capitalisation and writes these, dropping
# zero values (omitempty). `enableTektonOCIBundles` is a pointer: only absence drops it.
_FLAG_NAMES = (
    "disableCredsInit",
    "runningInEnvWithInjectedSidecars",
    "requireGitSSHSecretKnownHosts",
    "enableAPIFields",
    "sendCloudEventsForRuns",
    "awaitSidecarReadiness",
    "enforceNonfalsifiability",
    "enableKeepPodOnCancel",
    "verificationNoMatchPolicy",
    "enableProvenanceInStatus",
    "resultExtractionMethod",
    "maxResultSize",
    "setSecurityContext",
    "setSecurityContextReadOnlyRootFilesystem",
    "coschedule",
    "enableCELInWhenExpression",
    "enableStepActions",
    "enableParamEnum",
    "enableArtifacts",
    "disableInlineSpec",
    "enableConciseResolverSyntax",
    "enableKubernetesSidecar",
    "enableWaitExponentialBackoff",
    "enableTerminationMessageCompression",
    "enableTektonOCIBundles",
)
_FLAGS = {name.lower(): name for name in _FLAG_NAMES}


@dataclass
class Analysis:
    """One run's hints, read once so each warning is reported once."""

    run: Run
    task: Hints
    steps: list[tuple[str, Hints]] = field(default_factory=list)


class Context:
    """The state of one generation: warnings so far, and each run's hints."""

    def __init__(self) -> None:
        self.warnings: list[Warning] = []
        self._cache: dict[int, Analysis] = {}

    def analyse(self, run: Run) -> Analysis:
        found = self._cache.get(id(run))
        if found is None:
            self.warnings.extend(run.warnings)
            task = read_hints(run.results, f"{run.label}: result")
            self.warnings.extend(task.warnings)
            found = Analysis(run, task)
            for step in run.steps:
                hints = read_hints(step.results, f"{run.label}: step {step.name} result")
                self.warnings.extend(hints.warnings)
                found.steps.append((step.name, hints))
            self._cache[id(run)] = found
        return found


# -- subjects -------------------------------------------------------------------------


def subjects_of(hints: Hints) -> list[Artifact]:
    """Chains' order: build artifacts, then images (pairs, then IMAGES); repeats merged."""
    return append_artifacts([], [*hints.build_artifacts, *hints.images])


def task_subjects(ctx: Context, run: Run) -> list[Artifact]:
    analysis = ctx.analyse(run)
    out: list[Artifact] = []
    for _, hints in analysis.steps:
        out = append_artifacts(out, subjects_of(hints))
    return append_artifacts(out, subjects_of(analysis.task))


def check_subjects(subjects: Sequence[Artifact], warnings: list[Warning]) -> None:
    """Two digests for one image name is reported: one of the hints is wrong."""
    by_name: dict[str, list[Artifact]] = {}
    for artifact in subjects:
        by_name.setdefault(artifact.name, []).append(artifact)
    for name, group in by_name.items():
        if len(group) > 1:
            shown = "; ".join(
                f"{','.join(f'{k}:{v}' for k, v in sorted(a.digest.items()))} ({a.origin})" for a in group
            )
            warnings.append(Warning("subject.conflict", name, f"hints name it with {len(group)} digests: {shown}"))


# -- byproducts -----------------------------------------------------------------------


def byproducts(prefix: str, run_name: str, results: Sequence[Result], excluded: frozenset[str]) -> list[Dependency]:
    return [
        Dependency(name=f"{prefix}/{run_name}/{r.name}", content=go_json(r.value), media_type=JSON_MEDIA_TYPE)
        for r in results
        if r.name not in excluded
    ]


def task_byproducts(ctx: Context, run: Run) -> list[Dependency]:
    analysis = ctx.analyse(run)
    out = byproducts("taskRunResults", run.name, run.results, analysis.task.not_byproducts)
    step_excluded = frozenset().union(*(h.not_byproducts for _, h in analysis.steps))
    step_results = [r for step in run.steps for r in step.results]
    return out + byproducts("stepResults", run.name, step_results, step_excluded)


# -- resolved dependencies ------------------------------------------------------------


def step_inputs(ctx: Context, run: Run) -> list[Dependency]:
    """Inputs StepActions declared: CHAINS-GIT_* per step, then steps' `*ARTIFACT_INPUTS`."""
    analysis = ctx.analyse(run)
    out: list[Dependency] = []
    for step in run.steps:
        git, warnings = git_source((), (), step.results, f"{run.label}: step {step.name}")
        ctx.warnings.extend(warnings)
        if git is not None:
            out = append_dependencies(out, [artifact_dependency(git, INPUT_RESULT)])
    inputs = [artifact_dependency(a, INPUT_RESULT) for _, h in analysis.steps for a in h.inputs]
    return append_dependencies(out, inputs)


def task_inputs(ctx: Context, run: Run) -> list[Dependency]:
    """The run's git source (defaults, params, results) and its `*ARTIFACT_INPUTS`."""
    git, warnings = git_source(run.declared_params, run.params, run.results, run.label)
    ctx.warnings.extend(warnings)
    out = [artifact_dependency(git, INPUT_RESULT)] if git is not None else []
    inputs = [artifact_dependency(a, INPUT_RESULT) for a in ctx.analyse(run).task.inputs]
    return append_dependencies(out, inputs)


def remote_step_actions(ctx: Context, run: Run) -> list[Dependency]:
    return [
        ref_dependency(step.ref_source, f"stepAction/{step.name}", f"{run.label}: step {step.name}", ctx.warnings)
        for step in run.steps
        if step.ref_source is not None
    ]


def task_dependencies(ctx: Context, run: Run) -> list[Dependency]:
    out: list[Dependency] = []
    if run.ref_source is not None:
        out.append(ref_dependency(run.ref_source, "task", f"{run.label}: refSource", ctx.warnings))
    inner = image_dependencies(run, ctx.warnings)
    inner += step_inputs(ctx, run) + remote_step_actions(ctx, run) + task_inputs(ctx, run)
    return out + remove_duplicates(inner)


def pipeline_dependencies(ctx: Context, run: Run, children: Sequence[Run], deep: bool) -> list[Dependency]:
    out: list[Dependency] = []
    if run.ref_source is not None:
        out.append(ref_dependency(run.ref_source, "pipeline", f"{run.label}: refSource", ctx.warnings))
    for child in children:
        if child.ref_source is not None:
            out.append(ref_dependency(child.ref_source, "pipelineTask", f"{child.label}: refSource", ctx.warnings))
        out += remote_step_actions(ctx, child)
        out += image_dependencies(child, ctx.warnings)
    if deep:
        for child in children:
            out += step_inputs(ctx, child)
    inputs = [artifact_dependency(a, INPUT_RESULT) for a in ctx.analyse(run).task.inputs]
    if deep:
        inputs = append_dependencies(inputs, [d for child in children for d in task_inputs(ctx, child)])
    git, warnings = git_source(run.declared_params, run.params, run.results, run.label)
    ctx.warnings.extend(warnings)
    if git is not None:
        inputs = append_dependencies(inputs, [artifact_dependency(git, INPUT_RESULT)])
    return remove_duplicates(out + inputs)


# -- parameters and metadata ----------------------------------------------------------


def feature_flags(flags: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flags.items():
        name = _FLAGS.get(str(key).lower())
        if name is None:
            out[str(key)] = value
        elif name == "enableTektonOCIBundles":
            if value is not None:
                out[name] = value
        elif value not in (False, "", 0, None):
            out[name] = value
    return out


def external_parameters(run: Run) -> dict[str, Any]:
    out: dict[str, Any] = {"runSpec": dict(run.spec)}
    ref = run.ref_source
    if ref is not None and run.is_remote:
        digest, _ = clean_digest_set(ref.digest)
        first = next(iter(sorted(digest.items())), None)
        out["buildConfigSource"] = {
            "ref": f"{first[0]}:{first[1]}" if first else "",
            "repository": ref.uri,
            "path": ref.entry_point,
        }
    return out


def internal_parameters(run: Run) -> dict[str, Any]:
    if run.feature_flags is None:
        return {}
    return {"tekton-pipelines-feature-flags": feature_flags(run.feature_flags)}


def run_details(run: Run, builder_id: str, byproducts_: Sequence[Dependency]) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    if run.uid:
        metadata["invocationId"] = run.uid
    if run.start_time:
        metadata["startedOn"] = run.start_time
    if run.completion_time:
        metadata["finishedOn"] = run.completion_time
    details: dict[str, Any] = {"builder": {"id": builder_id}, "metadata": metadata}
    if byproducts_:
        details["byproducts"] = [b.to_dict() for b in byproducts_]
    return details


# -- the statement --------------------------------------------------------------------


def generate(
    run: Run,
    children: Sequence[Run] = (),
    *,
    builder_id: str = DEFAULT_BUILDER_ID,
    deep_inspection: bool = True,
    extra_internal: Mapping[str, Any] | None = None,
    record_tasks: bool = False,
) -> tuple[Statement, list[Warning]]:
    """The statement for `run` (and, for a PipelineRun, its child TaskRuns), with warnings;
    `record_tasks` adds the pipeline's tasks (`tasks.TASKS_KEY`) to internalParameters."""
    ctx = Context()
    executed: list[Run] = []
    if run.kind == "TaskRun":
        subjects = task_subjects(ctx, run)
        deps = task_dependencies(ctx, run)
        products = task_byproducts(ctx, run)
    else:
        executed = executed_children(run, children, ctx.warnings)
        analysis = ctx.analyse(run)
        subjects = subjects_of(analysis.task)
        products = byproducts("pipelineRunResults", run.name, run.results, analysis.task.not_byproducts)
        if deep_inspection:
            subjects = append_artifacts(subjects, [a for child in executed for a in task_subjects(ctx, child)])
            products += [b for child in executed for b in task_byproducts(ctx, child)]
        deps = pipeline_dependencies(ctx, run, executed, deep_inspection)
    check_subjects(subjects, ctx.warnings)
    if not subjects:
        raise no_artifact(
            run.label,
            ctx.warnings,
            'a result IMAGE_URL+IMAGE_DIGEST, IMAGES, or *ARTIFACT_OUTPUTS with isBuildArtifact "true"',
            no_subject_hint(run, children, deep_inspection),
        )
    internal = internal_parameters(run)
    if record_tasks and run.kind == "PipelineRun":
        internal[TASKS_KEY] = pipeline_tasks(run, executed)
    if extra_internal:
        internal.update(extra_internal)
    build_definition: dict[str, Any] = {
        "buildType": BUILD_TYPE,
        "externalParameters": external_parameters(run),
        "internalParameters": internal,
    }
    if deps:
        build_definition["resolvedDependencies"] = [d.to_dict() for d in deps]
    predicate = {"buildDefinition": build_definition, "runDetails": run_details(run, builder_id, products)}
    statement = Statement(
        tuple(Subject(subject_name(a.name), a.digest) for a in subjects), PREDICATE_TYPE, predicate, type=STATEMENT_V1
    )
    return statement, unique(ctx.warnings)
