"""A PipelineRun's child TaskRuns: which belong to it, which ran, which are missing.

Children are given as files next to the PipelineRun (`--child`), so nothing but their
content says whose they are; their `IMAGE_URL`/`IMAGE_DIGEST` become subjects and their
step images and task refs what a policy judges. A child is accepted only when every link
between the two objects agrees, as the Tekton controller writes them:

- the PipelineRun lists it (`status.childReferences`, or the older embedded
  `status.taskRuns`) by name, and by uid where the reference carries one;
- its `tekton.dev/pipelineRun` label names the PipelineRun (an absent label is refused);
  its `tekton.dev/pipelineTask` label agrees with the reference's `pipelineTaskName`;
- it is in the PipelineRun's namespace;
- its `ownerReferences`, where present, name this PipelineRun (kind, name, uid).

Anything else is a `RunError` listing every such child, whatever `--strict` says: a
foreign TaskRun is not a warning about the run, it is another run's evidence.

Then, in pipeline order (tasks, then finally), the children that ran, matched by their
`tekton.dev/pipelineTask` label as Chains matches them; a listed child that was not given
is a `child.missing` warning naming it (an error under `--strict`), as is one that matches
no task of the pipeline or has not finished.
"""

from __future__ import annotations

from collections.abc import Sequence

from slsacheck.provenance.findings import RunError, Warning
from slsacheck.provenance.runs import PIPELINE_RUN_LABEL, PIPELINE_TASK_LABEL, ChildReference, Run


def export_hint(run: Run) -> str:
    """The command that exports exactly this PipelineRun's TaskRuns."""
    return f"kubectl get taskruns -n {run.namespace or 'NAMESPACE'} -l {PIPELINE_RUN_LABEL}={run.name} -o json"


def check_membership(run: Run, children: Sequence[Run]) -> None:
    """Refuse every child that is not this PipelineRun's (see the module docstring)."""
    listed = {ref.name: ref for ref in run.child_references}
    problems: list[str] = []
    seen: set[str] = set()
    for child in children:
        if child.name in seen:
            problems.append(f"{child.label} is given twice")
            continue
        seen.add(child.name)
        problems.extend(f"{child.label}: {why}" for why in _mismatches(run, child, listed.get(child.name)))
    if problems:
        shown = ", ".join(sorted(listed)) or "none"
        raise RunError(
            f"{len(problems)} problem(s) with the child TaskRuns of {run.label}:\n    " + "\n    ".join(problems),
            expected=f"TaskRuns {run.label} lists in status.childReferences ({shown}), labelled "
            f"{PIPELINE_RUN_LABEL}={run.name}, in its namespace and owned by it",
            found=f"{len(problems)} foreign or inconsistent TaskRun(s)",
            hint=f"pass only this PipelineRun's TaskRuns with --child, exported from the cluster: {export_hint(run)}",
        )


def _mismatches(run: Run, child: Run, ref: ChildReference | None) -> list[str]:
    out = []
    if ref is None:
        out.append(f"not listed in {run.label}'s status.childReferences")
    elif ref.uid and child.uid and ref.uid != child.uid:
        out.append(f"uid {child.uid} is not the listed child's uid {ref.uid}")
    owner_label = child.labels.get(PIPELINE_RUN_LABEL)
    if owner_label is None:
        out.append(f"has no {PIPELINE_RUN_LABEL} label")
    elif owner_label != run.name:
        out.append(f"is labelled {PIPELINE_RUN_LABEL}={owner_label}, not {run.name}")
    task_label = child.labels.get(PIPELINE_TASK_LABEL)
    if ref is not None and ref.pipeline_task and task_label is not None and task_label != ref.pipeline_task:
        out.append(f"is labelled {PIPELINE_TASK_LABEL}={task_label}, but the run lists it for {ref.pipeline_task}")
    if child.namespace != run.namespace:
        out.append(f"is in namespace {child.namespace or '(none)'}, not {run.namespace or '(none)'}")
    if child.owner_references:
        mine = [
            o
            for o in child.owner_references
            if o.kind == "PipelineRun" and o.name == run.name and (not o.uid or not run.uid or o.uid == run.uid)
        ]
        others = [o for o in child.owner_references if o.kind == "PipelineRun" and o not in mine]
        for other in others:
            out.append(f"is owned by PipelineRun {other.name} (uid {other.uid or '?'})")
        if not mine and not others:
            kinds = ", ".join(f"{o.kind} {o.name}" for o in child.owner_references)
            out.append(f"is owned by {kinds}, not by {run.label}")
    return out


def executed_children(run: Run, children: Sequence[Run], warnings: list[Warning]) -> list[Run]:
    """The child TaskRuns that ran, in pipeline order; foreign ones refused, the rest reported."""
    if run.kind != "PipelineRun":
        return []
    check_membership(run, children)
    given = {child.name for child in children}
    for ref in run.child_references:
        if ref.name not in given:
            task = f" (pipeline task {ref.pipeline_task})" if ref.pipeline_task else ""
            warnings.append(
                Warning(
                    "child.missing",
                    run.label,
                    f"TaskRun {ref.name}{task} is listed in status.childReferences but was not given (--child): "
                    "its task ref, step images and results are not recorded",
                )
            )
    order = {name: i for i, name in enumerate(run.pipeline_task_names)}
    out: list[tuple[int, str, str, Run]] = []
    for child in children:
        label = child.labels.get(PIPELINE_TASK_LABEL)
        if label is None or label not in order:
            warnings.append(
                Warning(
                    "child.unmatched",
                    child.label,
                    f"its {PIPELINE_TASK_LABEL} label ({label or 'absent'}) names no task of {run.label}; ignored",
                )
            )
            continue
        if child.completion_time is None:
            warnings.append(Warning("child.unfinished", child.label, "it has no completionTime; ignored"))
            continue
        out.append((order[label], child.start_time or "", child.name, child))
    out.sort(key=lambda item: item[:3])
    return [item[3] for item in out]


def no_subject_hint(run: Run, children: Sequence[Run], deep_inspection: bool) -> str | None:
    """When a PipelineRun yields no subject because its TaskRuns were not given, say so."""
    if run.kind != "PipelineRun" or children or not run.child_references:
        return None
    names = ", ".join(ref.name for ref in run.child_references)
    how = "" if deep_inspection else " and leave deep inspection on"
    return (
        f"the image is a result of the PipelineRun's TaskRuns ({names}), which were not given: pass each with "
        f"--child{how} ({export_hint(run)}), or declare IMAGE_URL/IMAGE_DIGEST as Pipeline results"
    )
