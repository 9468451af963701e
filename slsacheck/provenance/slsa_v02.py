"""SLSA Provenance v0.2 for a Tekton run, in the shape of Tekton Chains' `slsa/v1` format.

For consumers still on v0.2: statement `_type` v0.1, buildType `<apiVersion>/<kind>`
(`tekton.dev/v1/PipelineRun`), `invocation` (configSource from refSource, parameters from
the defaults then the run's params, labels and annotations as environment), `buildConfig`
(a TaskRun's steps; a PipelineRun's executed tasks), `metadata` and `materials`.

Subjects follow Chains' v0.2 rules: the run's own results only (not steps'), images first,
then `*ARTIFACT_URI`/`*ARTIFACT_DIGEST` pairs, then every well-formed `*ARTIFACT_OUTPUTS`
(marked as a build artifact or not). The same strictness as the v1 generator applies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from slsacheck.models.predicates import SLSA_PROVENANCE_V02
from slsacheck.models.statement import STATEMENT_V01, Statement, Subject
from slsacheck.provenance.children import executed_children, no_subject_hint
from slsacheck.provenance.collect import (
    Dependency,
    append_artifacts,
    append_dependencies,
    image_dependencies,
    ref_dependency,
)
from slsacheck.provenance.findings import Warning, no_artifact, unique
from slsacheck.provenance.hints import Artifact, clean_digest_set, git_source, subject_name
from slsacheck.provenance.runs import Run, as_list, as_mapping
from slsacheck.provenance.slsa_v1 import DEFAULT_BUILDER_ID, Context, check_subjects

PREDICATE_TYPE = SLSA_PROVENANCE_V02
_TASK_REF = re.compile(r"\$\(tasks\.([a-z0-9-]+)\.results\.")
_IGNORED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"


def _subjects(ctx: Context, run: Run) -> list[Artifact]:
    hints = ctx.analyse(run).task
    out = append_artifacts([], hints.images)
    out = append_artifacts(out, [Artifact(subject_name(a.name), a.digest, a.origin) for a in hints.artifact_pairs])
    return append_artifacts(out, [*hints.build_artifacts, *hints.other_outputs])


def _materials(ctx: Context, run: Run, children: Sequence[Run], deep: bool) -> list[Dependency]:
    def unnamed(dep: Dependency) -> Dependency:
        return Dependency(dep.uri, dep.digest)

    def inputs(of: Run) -> list[Dependency]:
        git, warnings = git_source(of.declared_params, of.params, of.results, of.label)
        ctx.warnings.extend(warnings)
        found = [Dependency(git.name, git.digest)] if git is not None else []
        return append_dependencies(found, [Dependency(a.name, a.digest) for a in ctx.analyse(of).task.inputs])

    if run.kind == "TaskRun":
        return append_dependencies(image_dependencies(run, ctx.warnings), inputs(run))
    out: list[Dependency] = []
    if run.ref_source is not None:
        out.append(unnamed(ref_dependency(run.ref_source, "", f"{run.label}: refSource", ctx.warnings)))
    found: list[Dependency] = []
    for child in children:
        found += image_dependencies(child, ctx.warnings)
        if child.ref_source is not None:
            found.append(unnamed(ref_dependency(child.ref_source, "", f"{child.label}: refSource", ctx.warnings)))
    out = append_dependencies(out, found)
    pipeline_inputs = [Dependency(a.name, a.digest) for a in ctx.analyse(run).task.inputs]
    if deep:
        pipeline_inputs = append_dependencies(pipeline_inputs, [d for child in children for d in inputs(child)])
    git, warnings = git_source(run.declared_params, run.params, run.results, run.label)
    ctx.warnings.extend(warnings)
    if git is not None:
        pipeline_inputs = append_dependencies(pipeline_inputs, [Dependency(git.name, git.digest)])
    return append_dependencies(out, pipeline_inputs)


def _invocation(run: Run) -> dict[str, Any]:
    out: dict[str, Any] = {}
    ref = run.ref_source
    if ref is not None:
        source: dict[str, Any] = {}
        digest, _ = clean_digest_set(ref.digest)
        for key, value in (("uri", ref.uri), ("digest", digest), ("entryPoint", ref.entry_point)):
            if value:
                source[key] = value
        out["configSource"] = source
    parameters = {p.name: p.value for p in run.declared_params}
    parameters.update({p.name: p.value for p in run.params})
    if parameters:
        out["parameters"] = parameters
    environment: dict[str, Any] = {}
    annotations = {
        k: v for k, v in run.annotations.items() if k != _IGNORED_ANNOTATION and not k.startswith("chains.tekton.dev/")
    }
    if annotations:
        environment["annotations"] = annotations
    if run.labels:
        environment["labels"] = dict(run.labels)
    if environment:
        out["environment"] = environment
    return out


def _steps(run: Run) -> list[dict[str, Any]]:
    # The run object is the user's export: a field of another shape is left out, never a crash.
    specs = {s["name"]: s for s in as_list(run.task_spec.get("steps")) if isinstance(s, Mapping)
             and isinstance(s.get("name"), str)}
    out = []
    for state in run.steps:
        spec = specs.get(state.name, {})
        script = spec.get("script") if isinstance(spec.get("script"), str) else ""
        command = as_list(spec.get("command"))
        step: dict[str, Any] = {"entryPoint": script or " ".join(str(c) for c in command)}
        if spec.get("args"):
            step["arguments"] = spec["args"]
        image = state.image_id.removeprefix("docker-pullable://")
        step["environment"] = {"container": state.name, "image": f"oci://{image}"}
        step["annotations"] = None
        out.append(step)
    return out


def _status(run: Run) -> str:
    for condition in as_list(run.status.get("conditions")):
        if isinstance(condition, Mapping) and condition.get("type") == "Succeeded":
            return {"True": "Succeeded", "False": "Failed"}.get(str(condition.get("status")), "Running")
    return ""


def _tasks(run: Run, children: Sequence[Run]) -> list[dict[str, Any]]:
    spec = run.pipeline_spec
    declared = [t for t in [*as_list(spec.get("tasks")), *as_list(spec.get("finally"))] if isinstance(t, Mapping)]
    by_name = {t["name"]: t for t in declared if isinstance(t.get("name"), str)}
    template = run.spec.get("taskRunTemplate")
    account = (template or {}).get("serviceAccountName") if isinstance(template, Mapping) else None
    account = account or run.spec.get("serviceAccountName") or ""
    out = []
    for child in children:
        task_name = child.labels.get("tekton.dev/pipelineTask", "")
        task = by_name.get(task_name, {})
        after = [str(a) for a in as_list(task.get("runAfter"))]
        for ref in _TASK_REF.findall(json.dumps(task)):
            if ref not in after:
                after.append(ref)
        entry: dict[str, Any] = {"name": task_name}
        if after:
            entry["after"] = after
        entry["ref"] = dict(as_mapping(task.get("taskRef")))
        entry.update({"startedOn": child.start_time or "", "finishedOn": child.completion_time or ""})
        if account:
            entry["serviceAccountName"] = account
        entry["status"] = _status(child)
        entry["steps"] = _steps(child)
        entry["invocation"] = _invocation(child)
        results = child.status.get("results") or child.status.get("taskResults")
        if results:
            entry["results"] = results
        out.append(entry)
    return out


def generate(
    run: Run,
    children: Sequence[Run] = (),
    *,
    builder_id: str = DEFAULT_BUILDER_ID,
    deep_inspection: bool = True,
) -> tuple[Statement, list[Warning]]:
    ctx = Context()
    ctx.analyse(run)
    executed = executed_children(run, children, ctx.warnings)
    if run.kind == "TaskRun":
        subjects = _subjects(ctx, run)
        build_config: dict[str, Any] = {"steps": _steps(run)}
    else:
        subjects = []
        if deep_inspection:
            subjects = append_artifacts(subjects, [a for child in executed for a in _subjects(ctx, child)])
        subjects = append_artifacts(subjects, _subjects(ctx, run))
        build_config = {"tasks": _tasks(run, executed)}
    check_subjects(subjects, ctx.warnings)
    if not subjects:
        raise no_artifact(
            run.label,
            ctx.warnings,
            "a result IMAGE_URL+IMAGE_DIGEST, IMAGES, ARTIFACT_URI+ARTIFACT_DIGEST or *ARTIFACT_OUTPUTS",
            no_subject_hint(run, children, deep_inspection),
        )
    metadata: dict[str, Any] = {}
    if run.uid:
        metadata["buildInvocationId"] = run.uid
    if run.start_time:
        metadata["buildStartedOn"] = run.start_time
    if run.completion_time:
        metadata["buildFinishedOn"] = run.completion_time
    metadata["completeness"] = {"parameters": False, "environment": False, "materials": False}
    metadata["reproducible"] = run.labels.get("chains.tekton.dev/reproducible") == "true"
    predicate: dict[str, Any] = {
        "builder": {"id": builder_id},
        "buildType": f"{run.api_version}/{run.kind}",
        "invocation": _invocation(run),
        "buildConfig": build_config,
        "metadata": metadata,
    }
    materials = _materials(ctx, run, executed, deep_inspection)
    if materials:
        predicate["materials"] = [{k: v for k, v in d.to_dict().items() if k in ("uri", "digest")} for d in materials]
    statement = Statement(
        tuple(Subject(a.name, a.digest) for a in subjects), PREDICATE_TYPE, predicate, type=STATEMENT_V01
    )
    return statement, unique(ctx.warnings)
