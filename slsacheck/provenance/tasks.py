"""The pipeline's tasks, recorded where a policy can read them (SLSA v1).

Tekton Chains records no task names for a PipelineRun that uses `pipelineRef` (the usual
case): `externalParameters.runSpec` holds only the reference, and a remotely resolved task
leaves an unnamed `pipelineTask` resolved dependency, a task from the cluster or an inline
`taskSpec` nothing at all. So a policy could neither require tasks nor judge where every
task came from. slsacheck adds one entry to `buildDefinition.internalParameters`, which
Chains' readers carry through untouched (left out when reproducing Chains):

```json
"slsacheck.dev/pipelineTasks": [
  {"name": "build", "task": "buildah", "taskRun": "pr-1-build", "status": "succeeded",
   "ref": {"kind": "bundle", "uri": "oci://registry.example.com/tekton/buildah",
           "digest": {"sha256": "..."}, "entryPoint": "buildah"}}
]
```

One entry per task of the resolved pipeline (`status.pipelineSpec`: tasks, then finally),
in that order:
- `name`: the pipeline task's name; `task`: the Task's own name (`taskRef.name`, the
  resolver's `name` param, or the child's `tekton.dev/task` label; absent when inline);
- `taskRun` and `status`: the child TaskRun given for it and how it ended (`succeeded`,
  `failed`); `not-given` when the run lists a child that was not given, `skipped` when the
  run skipped it, `unknown` otherwise;
- `ref.kind`: `bundle` (an OCI bundle), `resolver` (`ref.resolver` names it: git, hub,
  http...), `cluster` (a Task of the cluster: `taskRef` by name, or the cluster resolver)
  or `inline` (`taskSpec`); `uri`, `digest` and `entryPoint` from the child's
  `status.provenance.refSource` (what Tekton resolved) when given, else from the
  reference as the pipeline wrote it (a bundle's `@sha256:`, a git resolver's revision);
  `digest` only when it is a full digest or commit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from slsacheck.models.digest import Digest, InvalidDigest
from slsacheck.provenance.runs import PIPELINE_TASK_LABEL, Run

TASKS_KEY = "slsacheck.dev/pipelineTasks"
TASK_LABEL = "tekton.dev/task"
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def pipeline_tasks(run: Run, executed: Sequence[Run]) -> list[dict[str, Any]]:
    """The entries described in the module docstring, for a PipelineRun."""
    spec = run.pipeline_spec
    by_task = {c.labels.get(PIPELINE_TASK_LABEL): c for c in executed}
    listed = {ref.pipeline_task for ref in run.child_references if ref.pipeline_task}
    skipped = {s.get("name") for s in _list(run.status.get("skippedTasks")) if isinstance(s, Mapping)}
    out = []
    for declared in [*_list(spec.get("tasks")), *_list(spec.get("finally"))]:
        if not isinstance(declared, Mapping) or not isinstance(declared.get("name"), str):
            continue
        name = declared["name"]
        child = by_task.get(name)
        entry: dict[str, Any] = {"name": name}
        ref = _reference(declared, child)
        own = _own_name(declared, child)
        if own:
            entry["task"] = own
        if child is not None:
            entry["taskRun"] = child.name
            entry["status"] = "succeeded" if _succeeded(child) else "failed"
        elif name in skipped:
            entry["status"] = "skipped"
        elif name in listed:
            entry["status"] = "not-given"
        else:
            entry["status"] = "unknown"
        entry["ref"] = ref
        out.append(entry)
    return out


def _succeeded(run: Run) -> bool:
    for condition in _list(run.status.get("conditions")):
        if isinstance(condition, Mapping) and condition.get("type") == "Succeeded":
            return condition.get("status") == "True"
    return False


def _own_name(declared: Mapping[str, Any], child: Run | None) -> str:
    ref = _map(declared.get("taskRef"))
    params = _params(ref.get("params"))
    for value in (ref.get("name"), params.get("name"), child.labels.get(TASK_LABEL) if child else None):
        if isinstance(value, str) and value:
            return value
    return ""


def _reference(declared: Mapping[str, Any], child: Run | None) -> dict[str, Any]:
    ref = _map(declared.get("taskRef"))
    if not ref:
        return {"kind": "inline"}
    params = _params(ref.get("params"))
    resolver = str(ref.get("resolver") or "")
    out: dict[str, Any]
    if ref.get("bundle") or resolver == "bundles":
        out = {"kind": "bundle"}
        written = str(ref.get("bundle") or params.get("bundle") or "")
        out.update(_bundle(written))
    elif resolver in ("", "cluster"):
        out = {"kind": "cluster"}
        if resolver and params.get("namespace"):
            out["namespace"] = params["namespace"]
    else:
        out = {"kind": "resolver", "resolver": resolver}
        if resolver == "git" and params.get("url"):
            out["uri"] = "git+" + str(params["url"]).removeprefix("git+")
            revision = str(params.get("revision") or "")
            if _COMMIT.fullmatch(revision):
                out["digest"] = {"sha1" if len(revision) == 40 else "sha256": revision}
            if params.get("pathInRepo"):
                out["entryPoint"] = params["pathInRepo"]
    source = child.ref_source if child is not None else None
    if source is not None and out["kind"] != "cluster":
        # What Tekton resolved beats what the pipeline wrote.
        out["uri"] = source.uri
        digest = {k: v for k, v in source.digest.items() if _full(k, v)}
        if digest:
            out["digest"] = dict(sorted(digest.items()))
        else:
            out.pop("digest", None)
        if source.entry_point:
            out["entryPoint"] = source.entry_point
    return out


def _bundle(written: str) -> dict[str, Any]:
    if not written:
        return {}
    name, sep, digest = written.partition("@")
    out: dict[str, Any] = {"uri": "oci://" + name.removeprefix("oci://")}
    if sep:
        try:
            parsed = Digest.parse(digest)
            out["digest"] = {parsed.algorithm: parsed.hex}
        except InvalidDigest:
            pass
    return out


def _full(algorithm: str, value: str) -> bool:
    lengths = {"sha1": 40, "sha256": 64, "sha512": 128, "gitCommit": 40}
    return len(value) == lengths.get(algorithm, -1) and all(c in "0123456789abcdef" for c in value)


def _params(raw: object) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return {str(k): v for k, v in raw.items()}
    return {str(p["name"]): p.get("value") for p in _list(raw) if isinstance(p, Mapping) and "name" in p}


def _map(raw: object) -> Mapping[str, Any]:
    return raw if isinstance(raw, Mapping) else {}


def _list(raw: object) -> list[Any]:
    return raw if isinstance(raw, list) else []
