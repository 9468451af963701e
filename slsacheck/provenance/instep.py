"""Provenance from inside a Tekton step, without the Kubernetes API.

A step sees its Task's params (passed as `--param NAME=VALUE`), the results earlier steps
wrote (the result directory, `/tekton/results` by default, one file per result; read as
untrusted input by `resultdir`: no links, no special files, bounded), and the
context Tekton substitutes into its env or args. From these, slsacheck builds the TaskRun
object the API would have shown and runs the same generator on it: the same type hints
give the same subjects and git materials as the exported-run mode.

Context values, each from a flag or else from the environment (a Task sets them from
`$(context.*)`):

| value                | flag                  | environment variable         | Tekton variable                    |
|----------------------|-----------------------|------------------------------|------------------------------------|
| PipelineRun name     | --pipelinerun-name    | SLSACHECK_PIPELINERUN_NAME   | $(context.pipelineRun.name)        |
| PipelineRun UID      | --pipelinerun-uid     | SLSACHECK_PIPELINERUN_UID    | $(context.pipelineRun.uid)         |
| TaskRun name         | --taskrun-name        | SLSACHECK_TASKRUN_NAME       | $(context.taskRun.name)            |
| TaskRun UID          | --taskrun-uid         | SLSACHECK_TASKRUN_UID        | $(context.taskRun.uid)             |
| namespace            | --namespace           | SLSACHECK_NAMESPACE          | $(context.taskRun.namespace)       |
| pipeline task name   | --pipeline-task       | SLSACHECK_PIPELINE_TASK      | (the task's name in the Pipeline)  |
| Task name            | --task-name           | SLSACHECK_TASK_NAME          | $(context.task.name)               |
| build start (RFC3339)| --started-on          | SLSACHECK_STARTED_ON         | (a first step's `date -u +%FT%TZ`) |
| build end (RFC3339)  | --finished-on         | SLSACHECK_FINISHED_ON        | (this step's `date -u +%FT%TZ`)    |

The invocation id is the TaskRun UID (the PipelineRun UID when only that is known). Step
images are known to a step only when the Task passes them (`--step-image NAME=REF@DIGEST`).
No clock is read here: without `--finished-on` the statement has no finishedOn.

The builder id is this step's, not Chains': `<identity>/in-step/<Task name>` (see
`builders`; the identity from `--builder-identity` or `$SLSACHECK_BUILDER_IDENTITY`).

What a policy can require of in-step provenance: the builder id, the source (repository,
ref, commit from CHAINS-GIT_* params or results), the subjects, the step images the Task
passes with `--step-image`, and the finish time. The step knows only its own Task: the
statement records no pipeline tasks and no task references, so `provenance.tasks.required`
and `provenance.tasks.trustedRefs` fail on it (they need exported-run provenance, or
Chains' from an inline pipelineSpec).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from slsacheck._json import Refused, parse
from slsacheck.provenance import builders
from slsacheck.provenance.findings import RunError
from slsacheck.provenance.generate import Generated, Options, builder_id_for, generate
from slsacheck.provenance.hints import ARTIFACT_INPUTS, ARTIFACT_OUTPUTS
from slsacheck.provenance.resultdir import read_results
from slsacheck.provenance.runs import (
    PIPELINE_RUN_LABEL,
    PIPELINE_TASK_LABEL,
    Run,
    normalise_time,
    parse_run,
)

ENVIRONMENT = {
    "pipeline_run_name": "SLSACHECK_PIPELINERUN_NAME",
    "pipeline_run_uid": "SLSACHECK_PIPELINERUN_UID",
    "task_run_name": "SLSACHECK_TASKRUN_NAME",
    "task_run_uid": "SLSACHECK_TASKRUN_UID",
    "namespace": "SLSACHECK_NAMESPACE",
    "pipeline_task": "SLSACHECK_PIPELINE_TASK",
    "task_name": "SLSACHECK_TASK_NAME",
    "started_on": "SLSACHECK_STARTED_ON",
    "finished_on": "SLSACHECK_FINISHED_ON",
}


@dataclass(frozen=True)
class StepContext:
    pipeline_run_name: str = ""
    pipeline_run_uid: str = ""
    task_run_name: str = ""
    task_run_uid: str = ""
    namespace: str = ""
    pipeline_task: str = ""
    task_name: str = ""
    started_on: str = ""
    finished_on: str = ""

    @classmethod
    def from_values(cls, flags: Mapping[str, str | None], env: Mapping[str, str]) -> StepContext:
        """Each value from its flag if given, else from its environment variable."""
        values = {}
        for f in fields(cls):
            flag = flags.get(f.name)
            values[f.name] = (flag if flag else env.get(ENVIRONMENT[f.name], "")).strip()
        return cls(**values)


def parse_param(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise RunError(f"--param {text[:80]!r} is not NAME=VALUE", hint="e.g. --param CHAINS-GIT_URL=$(params.url)")
    return name, _typed(name, value, f"--param {name}")


def read_result_dir(path: Path) -> list[tuple[str, Any]]:
    """Each result file in `path` (sorted by name), read as `resultdir` allows: objects for
    `*ARTIFACT_*` hints, else text."""
    return [(name, _typed(name, text, f"result file {path / name}")) for name, text in read_results(path)]


def _typed(name: str, text: str, where: str) -> Any:
    """Tekton object results arrive as JSON text; the hints that are objects are parsed."""
    if not name.endswith((ARTIFACT_OUTPUTS, ARTIFACT_INPUTS)):
        return text
    try:
        value = parse(text)
    except Refused:
        return text  # the hint reader reports a non-object value as a warning
    return value if isinstance(value, dict) else text


def step_run(
    context: StepContext,
    params: Sequence[tuple[str, Any]] = (),
    results: Sequence[tuple[str, Any]] = (),
    step_images: Sequence[str] = (),
) -> Run:
    """The TaskRun as the API would show it, from what the step knows."""
    labels = {}
    if context.pipeline_run_name:
        labels[PIPELINE_RUN_LABEL] = context.pipeline_run_name
    if context.pipeline_task:
        labels[PIPELINE_TASK_LABEL] = context.pipeline_task
    metadata: dict[str, Any] = {
        "name": context.task_run_name or context.pipeline_run_name or "in-step",
        "uid": context.task_run_uid or context.pipeline_run_uid,
        "labels": labels,
    }
    if context.namespace:
        metadata["namespace"] = context.namespace
    steps = []
    for item in step_images:
        name, sep, image = item.partition("=")
        if not sep or not name or not image:
            raise RunError(f"--step-image {item[:80]!r} is not NAME=IMAGE@DIGEST")
        steps.append({"name": name, "imageID": image})
    status: dict[str, Any] = {
        "results": [{"name": n, "value": v} for n, v in results],
        "steps": steps,
    }
    for field_name, key in (("started_on", "startTime"), ("finished_on", "completionTime")):
        value = getattr(context, field_name)
        if value:
            flag = "--" + field_name.replace("_", "-")
            status[key] = normalise_time(value, f"{flag} (or ${ENVIRONMENT[field_name]})")
    doc = {
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "metadata": metadata,
        "spec": {"params": [{"name": n, "value": v} for n, v in params]},
        "status": status,
    }
    return parse_run(doc, "in-step", require_finished=False)


def generate_in_step(
    context: StepContext,
    params: Sequence[tuple[str, Any]] = (),
    results: Sequence[tuple[str, Any]] = (),
    step_images: Sequence[str] = (),
    options: Options | None = None,
) -> Generated:
    options = options or Options()
    if options.reproduce_chains:
        raise RunError(
            "in-step provenance cannot reproduce Tekton Chains",
            hint="Chains' provenance is made by its controller from the run objects: use --run with --reproduce-chains",
        )
    builder_id = builder_id_for(options, builders.IN_STEP, context.task_name)
    run = step_run(context, params, results, step_images)
    known = {k: v for k, v in asdict(context).items() if v and k not in ("started_on", "finished_on")}
    extra: dict[str, Any] = {builders.GENERATOR_KEY: {"mode": builders.IN_STEP}}
    if known:
        extra["tekton-context"] = known
    if options.format != "slsa-v1":
        extra = {}
    return generate(run, (), replace(options, builder_id=builder_id), extra_internal=extra)
