"""The run objects a Tekton controller would have exported for a run the harness made.

`slsacheck provenance generate --run FILE --child FILE...` reads a PipelineRun and its
TaskRuns as `kubectl get -o yaml` prints them. The harness runs a Pipeline on this machine
and reports what happened (run names, the PipelineRun's UID, each task's results, which
tasks stood in, which failed); this module writes that down in the shape of tekton.dev/v1
objects, with nothing the harness did not produce, except:

- times: the harness keeps no clock, so the caller passes the moments it read just before
  and just after the run, and every TaskRun gets those bounds;
- TaskRun UIDs: the harness substitutes a fresh `$(context.taskRun.uid)` and keeps it to
  itself, so the caller passes the ones it learned (an in-step statement records its own);
  the others are derived from the TaskRun's name (no statement mentions a child's UID);
- step images (`status.steps[].imageID`): a controller reads them from the pods; here they
  come from the Task documents (a Task of this project) or, for the catalog Tasks the
  Pipeline resolves from the hub, from the image params the Pipeline pins
  (`HUB_STEP_IMAGES`). The catalog Tasks' steps whose image the Pipeline does not pass
  (kaniko's write-url) are not recorded, nor is a refSource for the hub Tasks: the harness
  resolves nothing remotely, and this module invents no digest.

`pipeline_part` cuts a Pipeline down to some of its tasks (runAfter and results pruned to
them), so a test runs only the part it compares.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.tekton_harness import (
    PipelineRunResult,
    _declared_params,
    _param_value,
    substitute,
    substitute_list,
)

API_VERSION = "tekton.dev/v1"
# The catalog Tasks' steps whose image is a param the Pipeline sets: catalog task name ->
# step name -> param name (git-clone 0.9 and kaniko 0.7 as tektoncd/catalog publishes them).
HUB_STEP_IMAGES: Mapping[str, Mapping[str, str]] = {
    "git-clone": {"clone": "gitInitImage"},
    "kaniko": {"build-and-push": "BUILDER_IMAGE"},
}
_TASK_RESULT = re.compile(r"\$\(tasks\.([^.()]+)\.")


def pipeline_part(pipeline: Mapping[str, Any], keep: Sequence[str]) -> dict[str, Any]:
    """`pipeline` with only the tasks named in `keep`: their runAfter and the Pipeline's
    results pruned to them; a kept task reading a dropped task's results is refused."""
    doc = copy.deepcopy(dict(pipeline))
    spec = doc["spec"]
    tasks = [t for t in spec["tasks"] if t["name"] in keep]
    missing = set(keep) - {t["name"] for t in tasks}
    assert not missing, f"the Pipeline has no tasks {sorted(missing)}"
    for task in tasks:
        needed = set(_TASK_RESULT.findall(json.dumps(task.get("params", []))))
        assert needed <= set(keep), f"task {task['name']} reads results of {sorted(needed - set(keep))}"
        after = [name for name in task.get("runAfter", []) if name in keep]
        if after:
            task["runAfter"] = after
        else:
            task.pop("runAfter", None)
    spec["tasks"] = tasks
    spec.pop("finally", None)
    spec["results"] = [
        r for r in spec.get("results", []) if set(_TASK_RESULT.findall(str(r["value"]))) <= set(keep)
    ]
    return doc


@dataclass(frozen=True)
class Exported:
    pipeline_run: dict[str, Any]
    task_runs: dict[str, dict[str, Any]]  # by pipeline task name, in the order they ran

    def write(self, folder: Path) -> tuple[Path, list[Path]]:
        """The PipelineRun and each TaskRun as JSON files (what `--run` and `--child` read)."""
        folder.mkdir(parents=True, exist_ok=True)
        run_path = folder / "pipelinerun.json"
        run_path.write_text(json.dumps(self.pipeline_run, indent=2))
        children = []
        for task, doc in self.task_runs.items():
            path = folder / f"taskrun-{task}.json"
            path.write_text(json.dumps(doc, indent=2))
            children.append(path)
        return run_path, children


def export(
    pipeline: Mapping[str, Any],
    tasks: Mapping[str, Mapping[str, Any]],
    run: PipelineRunResult,
    params: Mapping[str, Any],
    *,
    started: str,
    finished: str,
    namespace: str = "default",
    task_run_uids: Mapping[str, str] | None = None,
) -> Exported:
    """The PipelineRun `run` of `pipeline` (given `params`) and its TaskRuns, as exported."""
    spec = pipeline["spec"]
    pipeline_name = pipeline["metadata"]["name"]
    where = f"PipelineRun {run.name}"
    resolved = _declared_params(spec, params, where)
    context = {
        "context.pipelineRun.name": run.name,
        "context.pipelineRun.uid": run.uid,
        "context.pipelineRun.namespace": namespace,
        "context.pipeline.name": pipeline_name,
    }

    def values(ref: str) -> Any:
        kind, _, rest = ref.partition(".")
        if kind == "params":
            return _param_value(resolved, rest, where)
        if ref in context:
            return context[ref]
        task, _, tail = rest.partition(".results.")
        return run.task_runs[task].results[tail]

    uids = dict(task_run_uids or {})
    task_runs: dict[str, dict[str, Any]] = {}
    for pt in spec["tasks"]:
        if pt["name"] not in run.task_runs:
            continue
        task_params = {
            p["name"]: substitute_list(p["value"], values, where)
            if isinstance(p["value"], list)
            else substitute(str(p["value"]), values, where)
            for p in pt.get("params", [])
        }
        uid = uids.get(pt["name"]) or str(uuid.uuid5(uuid.NAMESPACE_URL, run.task_runs[pt["name"]].name))
        task_runs[pt["name"]] = _task_run(pt, tasks, run, task_params, pipeline_name=pipeline_name,
                                          namespace=namespace, uid=uid, started=started, finished=finished)
    ran = len(run.task_runs)
    failed = sum(1 for r in run.task_runs.values() if not r.succeeded)
    status: dict[str, Any] = {
        "conditions": [_condition(run.succeeded, finished,
                                  f"Tasks Completed: {ran} (Failed: {failed}, Cancelled 0), "
                                  f"Skipped: {len(run.skipped)}")],
        "startTime": started,
        "completionTime": finished,
        "pipelineSpec": spec,
        "childReferences": [
            {"apiVersion": API_VERSION, "kind": "TaskRun", "name": run.task_runs[t].name, "pipelineTaskName": t}
            for t in task_runs
        ],
        "results": [{"name": k, "value": v} for k, v in run.results.items()],
    }
    if run.skipped:
        status["skippedTasks"] = [{"name": t, "reason": "PipelineRun was stopping"} for t in run.skipped]
    pipeline_run = {
        "apiVersion": API_VERSION,
        "kind": "PipelineRun",
        "metadata": {"name": run.name, "namespace": namespace, "uid": run.uid,
                     "labels": {"tekton.dev/pipeline": pipeline_name}},
        # The run's own spec: only the params it was given (defaults live in pipelineSpec).
        "spec": {"pipelineRef": {"name": pipeline_name},
                 "params": [{"name": k, "value": v} for k, v in params.items()]},
        "status": status,
    }
    return Exported(pipeline_run, task_runs)


def _task_run(
    pt: Mapping[str, Any],
    tasks: Mapping[str, Mapping[str, Any]],
    run: PipelineRunResult,
    params: Mapping[str, Any],
    *,
    pipeline_name: str,
    namespace: str,
    uid: str,
    started: str,
    finished: str,
) -> dict[str, Any]:
    result = run.task_runs[pt["name"]]
    ref = pt.get("taskRef", {})
    doc = tasks.get(ref["name"]) if "name" in ref else None
    labels = {"tekton.dev/pipeline": pipeline_name, "tekton.dev/pipelineRun": run.name,
              "tekton.dev/pipelineTask": pt["name"], "tekton.dev/taskRun": result.name}
    status: dict[str, Any] = {
        "conditions": [_condition(result.succeeded, finished, "All Steps have completed executing"
                                  if result.succeeded else f"exit code {result.exit_code}")],
        "podName": f"{result.name}-pod",
        "startTime": started,
        "completionTime": finished,
        "steps": _steps(pt, doc, params, result.succeeded, result.exit_code),
        "results": [{"name": k, "type": "string", "value": v} for k, v in result.results.items()],
    }
    if doc is not None:
        labels["tekton.dev/task"] = ref["name"]
        status["taskSpec"] = doc["spec"]
    return {
        "apiVersion": API_VERSION,
        "kind": "TaskRun",
        "metadata": {
            "name": result.name, "namespace": namespace, "uid": uid, "labels": labels,
            "ownerReferences": [{"apiVersion": API_VERSION, "kind": "PipelineRun", "name": run.name,
                                 "uid": run.uid, "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": {"taskRef": dict(ref), "params": [{"name": k, "value": v} for k, v in params.items()],
                 "serviceAccountName": "default"},
        "status": status,
    }


def _steps(
    pt: Mapping[str, Any], doc: Mapping[str, Any] | None, params: Mapping[str, Any], succeeded: bool, exit_code: int
) -> list[dict[str, Any]]:
    if doc is not None:
        spec = doc["spec"]
        resolved = _declared_params(spec, params, f"Task {doc['metadata']['name']}")

        def values(ref: str) -> Any:
            kind, _, rest = ref.partition(".")
            assert kind == "params", f"a step image names $({ref}), which this module does not resolve"
            return _param_value(resolved, rest, "step image")

        images = [(s["name"], substitute(s["image"], values, s["name"])) for s in spec["steps"]]
    else:
        catalog = {p["name"]: p["value"] for p in pt["taskRef"].get("params", [])}.get("name", "")
        images = [(step, str(params[param])) for step, param in HUB_STEP_IMAGES.get(catalog, {}).items()
                  if param in params]
    out = []
    for index, (name, image) in enumerate(images):
        # The harness stops at the first failing step; with one step per Task here, it is the last.
        failed_here = not succeeded and index == len(images) - 1
        out.append({
            "name": name,
            "container": f"step-{name}",
            "imageID": image_id(image),
            "terminated": {"exitCode": exit_code if failed_here else 0,
                           "reason": "Error" if failed_here else "Completed"},
        })
    return out


def image_id(image: str) -> str:
    """`repo[:tag]@digest` as a pod's imageID shows it: `repo@digest` (a tag is not kept)."""
    name, sep, digest = image.partition("@")
    assert sep, f"step image {image} is not pinned by digest"
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name[: name.rfind(":")]
    return f"{name}@{digest}"


def _condition(succeeded: bool, when: str, message: str) -> dict[str, str]:
    return {"type": "Succeeded", "status": "True" if succeeded else "False",
            "reason": "Succeeded" if succeeded else "Failed", "message": message, "lastTransitionTime": when}
