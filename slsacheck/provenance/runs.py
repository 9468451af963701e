"""Tekton run objects as `kubectl get -o json|yaml` prints them: load, check, normalise.

A `Run` is a completed TaskRun or PipelineRun (tekton.dev/v1 or v1beta1) reduced to what
provenance needs, with the raw `spec` kept for `externalParameters.runSpec`. The v1beta1
spellings (`status.taskResults`, `status.pipelineResults`, `provenance.configSource`) are
read into the same fields as v1's.

Refused, with one clear line each: a document that is not a run, a run without status,
an unknown apiVersion, a run that has not finished or failed (unless `allow_failed`), a
timestamp that is not RFC 3339, and result values over `MAX_RESULT_BYTES` (Tekton itself
caps results at 4 KiB, or about 1.5 MB with sidecar logs: anything near 10 MB is not a
result a Task wrote). A document with neither apiVersion nor kind (Chains' unit fixtures)
is read as tekton.dev/v1 with the kind inferred from its fields, and says so in a warning.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from slsacheck.provenance.documents import read_documents
from slsacheck.provenance.findings import RunError, Warning

API_VERSIONS = ("tekton.dev/v1", "tekton.dev/v1beta1")
KINDS = ("TaskRun", "PipelineRun")
PIPELINE_TASK_LABEL = "tekton.dev/pipelineTask"
PIPELINE_RUN_LABEL = "tekton.dev/pipelineRun"
MAX_RESULT_BYTES = 1 << 20

ResultValue = str | list[str] | dict[str, str]


@dataclass(frozen=True)
class Result:
    """One Tekton result (or param): name and value (string, array or object)."""

    name: str
    value: ResultValue


@dataclass(frozen=True)
class RefSource:
    """Where a remote Task/Pipeline/StepAction came from (`status.provenance.refSource`)."""

    uri: str
    digest: Mapping[str, str]
    entry_point: str


@dataclass(frozen=True)
class ContainerState:
    """A step or sidecar as the run's status records it."""

    name: str
    image_id: str
    results: tuple[Result, ...] = ()
    ref_source: RefSource | None = None


@dataclass(frozen=True)
class OwnerReference:
    """`metadata.ownerReferences[]`: the object that owns this one (for a child TaskRun, its PipelineRun)."""

    kind: str
    name: str
    uid: str
    controller: bool


@dataclass(frozen=True)
class ChildReference:
    """`status.childReferences[]` of a PipelineRun (or a key of the older `status.taskRuns`)."""

    name: str
    pipeline_task: str
    uid: str = ""


@dataclass(frozen=True)
class Run:
    kind: str
    api_version: str
    name: str
    uid: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    results: tuple[Result, ...]
    steps: tuple[ContainerState, ...]
    sidecars: tuple[ContainerState, ...]
    ref_source: RefSource | None
    feature_flags: Mapping[str, Any] | None
    start_time: str | None
    completion_time: str | None
    params: tuple[Result, ...]
    declared_params: tuple[Result, ...]
    source: str = ""
    warnings: tuple[Warning, ...] = field(default=(), compare=False)
    namespace: str = ""
    owner_references: tuple[OwnerReference, ...] = ()

    @property
    def label(self) -> str:
        """How messages name this run: `TaskRun build-abc`."""
        return f"{self.kind} {self.name or '(unnamed)'}"

    @property
    def is_remote(self) -> bool:
        """Resolved by a remote resolver (git, bundles, hub...), as Chains decides it."""
        ref = self.spec.get("taskRef" if self.kind == "TaskRun" else "pipelineRef")
        resolver = ref.get("resolver", "") if isinstance(ref, Mapping) else ""
        return bool(resolver) and resolver != "Cluster"

    @property
    def pipeline_spec(self) -> Mapping[str, Any]:
        """The resolved spec (status); a run that never got one keeps its inline spec."""
        spec = self.status.get("pipelineSpec") or self.spec.get("pipelineSpec")
        return spec if isinstance(spec, Mapping) else {}

    @property
    def task_spec(self) -> Mapping[str, Any]:
        spec = self.status.get("taskSpec")
        return spec if isinstance(spec, Mapping) else {}

    @property
    def pipeline_task_names(self) -> tuple[str, ...]:
        """The pipeline's tasks then its finally tasks, in declaration order."""
        spec = self.pipeline_spec
        tasks = [*as_list(spec.get("tasks")), *as_list(spec.get("finally"))]
        return tuple(t["name"] for t in tasks if isinstance(t, Mapping) and isinstance(t.get("name"), str))

    @property
    def child_references(self) -> tuple[ChildReference, ...]:
        """The child TaskRuns the PipelineRun lists, by name (CustomRuns and others left out)."""
        out: dict[str, ChildReference] = {}
        for ref in as_list(self.status.get("childReferences")):
            named = isinstance(ref, Mapping) and isinstance(ref.get("name"), str)
            if named and ref.get("kind", "TaskRun") == "TaskRun":
                name = ref["name"]
                out[name] = ChildReference(name, str(ref.get("pipelineTaskName") or ""), str(ref.get("uid") or ""))
        embedded = self.status.get("taskRuns")
        if isinstance(embedded, Mapping):
            for name, entry in embedded.items():
                if isinstance(name, str) and name not in out:
                    task = as_mapping(entry).get("pipelineTaskName")
                    out[name] = ChildReference(name, task if isinstance(task, str) else "")
        return tuple(out[name] for name in sorted(out))



# -- checking one run -----------------------------------------------------------------


def parse_run(
    doc: Mapping[str, Any], source: str = "", *, allow_failed: bool = False, require_finished: bool = True
) -> Run:
    """One run object, checked; `require_finished=False` is for a run still in progress (in-step)."""
    warnings: list[Warning] = []
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    metadata = as_mapping(doc.get("metadata"))
    name = str(metadata.get("name") or metadata.get("generateName") or "")
    where = f"{source}: " if source else ""
    if api_version is None and kind is None:
        kind = _infer_kind(doc)
        api_version = API_VERSIONS[0]
        warnings.append(
            Warning(
                "run.no-kind",
                f"{kind} {name}",
                f"the object has no apiVersion/kind; read as {api_version} {kind} from its fields",
            )
        )
    if kind not in KINDS:
        raise RunError(
            f"{where}not a Tekton run: kind {kind!r}" + (f" ({name})" if name else ""),
            expected="kind TaskRun or PipelineRun",
            found=str(kind),
            hint="export the run, not its Task or Pipeline: kubectl get taskrun|pipelinerun NAME -o yaml",
        )
    if api_version not in API_VERSIONS:
        raise RunError(
            f"{where}unknown apiVersion {api_version!r} for {kind} {name}",
            expected=" or ".join(API_VERSIONS),
            found=str(api_version),
            hint="slsacheck reads Tekton's v1 and v1beta1 run objects",
        )
    label = f"{kind} {name or '(unnamed)'}"
    status = doc.get("status")
    if not isinstance(status, Mapping) or not status:
        raise RunError(
            f"{where}{label} has no status",
            expected="a run that has finished, with its status",
            found="no status",
            hint="export the run after it completed, with status (kubectl get ... -o yaml keeps it)",
        )
    if require_finished:
        _check_finished(status, label, where, allow_failed, warnings)
    spec = as_mapping(doc.get("spec"))
    v1beta1 = api_version == "tekton.dev/v1beta1"
    results_key = "results"
    if v1beta1:
        results_key = "taskResults" if kind == "TaskRun" else "pipelineResults"
    results = _results(status.get(results_key) or status.get("results"), f"{label}: result", warnings)
    steps = tuple(_container(s, label, "step", warnings) for s in as_list(status.get("steps")))
    sidecars = tuple(_container(s, label, "sidecar", warnings) for s in as_list(status.get("sidecars")))
    provenance = as_mapping(status.get("provenance"))
    flags = provenance.get("featureFlags")
    type_spec = as_mapping(status.get("taskSpec" if kind == "TaskRun" else "pipelineSpec"))
    return Run(
        kind=str(kind),
        api_version=str(api_version),
        name=name,
        uid=str(metadata.get("uid") or ""),
        labels={str(k): str(v) for k, v in as_mapping(metadata.get("labels")).items()},
        annotations={str(k): str(v) for k, v in as_mapping(metadata.get("annotations")).items()},
        spec=spec,
        status=status,
        results=results,
        steps=steps,
        sidecars=sidecars,
        ref_source=_ref_source(provenance),
        feature_flags=flags if isinstance(flags, Mapping) else None,
        start_time=normalise_time(status.get("startTime"), f"{where}{label} status.startTime"),
        completion_time=normalise_time(status.get("completionTime"), f"{where}{label} status.completionTime"),
        params=_results(spec.get("params"), f"{label}: param", warnings),
        declared_params=_declared_params(type_spec.get("params")),
        source=source,
        warnings=tuple(warnings),
        namespace=str(metadata.get("namespace") or ""),
        owner_references=_owner_references(metadata.get("ownerReferences")),
    )


def load_runs(
    run_path: Path, child_paths: Sequence[Path] = (), *, allow_failed: bool = False
) -> tuple[Run, tuple[Run, ...]]:
    """The run in `run_path` and its child TaskRuns (from `child_paths` or the same file)."""
    docs = [(d, str(run_path)) for d in read_documents(run_path)]
    for path in child_paths:
        docs.extend((d, str(path)) for d in read_documents(path))
    # The main run must have succeeded; a child may have failed (retried, or allowed to
    # fail) and is then reported rather than refused.
    kinds = [d.get("kind") or _infer_kind(d) for d, _ in docs]
    main_index = kinds.index("PipelineRun") if "PipelineRun" in kinds else 0
    runs = [parse_run(d, src, allow_failed=allow_failed or i != main_index) for i, (d, src) in enumerate(docs)]
    pipelines = [r for r in runs if r.kind == "PipelineRun"]
    if len(pipelines) > 1:
        raise RunError(
            f"{len(pipelines)} PipelineRuns given ({', '.join(p.name for p in pipelines)})",
            expected="one PipelineRun and its TaskRuns",
            hint="generate provenance for one PipelineRun at a time",
        )
    if pipelines:
        main = pipelines[0]
        children = tuple(r for r in runs if r is not main)
        return main, children or embedded_children(main)
    if len(runs) > 1:
        raise RunError(
            f"{len(runs)} TaskRuns given and no PipelineRun",
            expected="one TaskRun, or a PipelineRun with its TaskRuns",
            hint="--child is for a PipelineRun's TaskRuns",
        )
    return runs[0], ()


def embedded_children(run: Run) -> tuple[Run, ...]:
    """The TaskRuns an older PipelineRun embeds in `status.taskRuns` (Tekton's "full"
    embedded status), as child runs: they carry status but no spec, so their params are
    unknown; each says so in a warning."""
    embedded = run.status.get("taskRuns")
    if run.kind != "PipelineRun" or not isinstance(embedded, Mapping):
        return ()
    out = []
    for name in sorted(embedded):
        entry = as_mapping(embedded[name])
        status = as_mapping(entry.get("status"))
        task = entry.get("pipelineTaskName")
        if not status or not isinstance(task, str):
            continue
        doc = {
            "apiVersion": run.api_version,
            "kind": "TaskRun",
            "metadata": {
                "name": name,
                "namespace": run.namespace,
                "labels": {PIPELINE_TASK_LABEL: task, PIPELINE_RUN_LABEL: run.name},
            },
            "spec": {},
            "status": status,
        }
        child = parse_run(doc, f"{run.source} status.taskRuns", allow_failed=True)
        note = Warning(
            "child.embedded",
            child.label,
            "read from the PipelineRun's status.taskRuns (no spec: its params are unknown); "
            "pass the exported TaskRuns with --child for complete provenance",
        )
        out.append(replace(child, warnings=(*child.warnings, note)))
    return tuple(out)


def _infer_kind(doc: Mapping[str, Any]) -> str:
    spec, status = as_mapping(doc.get("spec")), as_mapping(doc.get("status"))
    if "pipelineRef" in spec or "pipelineSpec" in spec or "pipelineSpec" in status:
        return "PipelineRun"
    if "taskRef" in spec or "taskSpec" in spec or "taskSpec" in status:
        return "TaskRun"
    return "(unknown)"


def _check_finished(
    status: Mapping[str, Any], label: str, where: str, allow_failed: bool, warnings: list[Warning]
) -> None:
    succeeded = None
    for condition in as_list(status.get("conditions")):
        if isinstance(condition, Mapping) and condition.get("type") == "Succeeded":
            succeeded = condition
    state = succeeded.get("status") if succeeded else None
    if state == "True" and status.get("completionTime"):
        return
    reason = str(succeeded.get("reason", "")) if succeeded else ""
    what = "failed" if state == "False" else "has not finished"
    if allow_failed:
        warnings.append(Warning("run.not-succeeded", label, f"the run {what} ({reason or 'no reason'}); allowed"))
        return
    raise RunError(
        f"{where}{label} {what}" + (f" (reason {reason})" if reason else ""),
        expected="a run whose Succeeded condition is True and which has a completionTime",
        found=f"Succeeded={state or 'absent'}",
        hint="provenance describes a completed build; pass --allow-failed to describe this run anyway",
    )


def _results(raw: object, where: str, warnings: list[Warning]) -> tuple[Result, ...]:
    out: list[Result] = []
    for item in as_list(raw):
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            warnings.append(Warning("run.result-shape", where, f"an entry without a name was ignored: {item!r:.80}"))
            continue
        name, value = item["name"], item.get("value", "")
        if not _is_value(value):
            warnings.append(
                Warning("run.result-type", f"{where} {name}", f"a {type(value).__name__} value was ignored")
            )
            continue
        size = len(json.dumps(value, ensure_ascii=False).encode("utf-8"))
        if size > MAX_RESULT_BYTES:
            raise RunError(
                f"{where} {name} is {size / 1e6:.1f} MB, too large to be a Tekton result",
                expected=f"at most {MAX_RESULT_BYTES >> 10} KiB per value",
                found=f"{size} bytes",
                hint="Tekton caps results at 4 KiB (about 1.5 MB with sidecar logs); "
                "write large outputs to a registry and put their digest in the result",
            )
        out.append(Result(name, value))
    return tuple(out)


def _is_value(value: object) -> bool:
    if isinstance(value, str):
        return True
    if isinstance(value, list):
        return all(isinstance(v, str) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    return False


def _declared_params(raw: object) -> tuple[Result, ...]:
    out = []
    for item in as_list(raw):
        named = isinstance(item, Mapping) and isinstance(item.get("name"), str)
        if named and "default" in item and _is_value(item["default"]):
            out.append(Result(item["name"], item["default"]))
    return tuple(out)


def _container(raw: object, label: str, kind: str, warnings: list[Warning]) -> ContainerState:
    item = as_mapping(raw)
    name = str(item.get("name", ""))
    results = _results(item.get("results"), f"{label}: {kind} {name} result", warnings)
    return ContainerState(name, str(item.get("imageID", "")), results, _ref_source(as_mapping(item.get("provenance"))))


def _owner_references(raw: object) -> tuple[OwnerReference, ...]:
    return tuple(
        OwnerReference(
            str(o.get("kind", "")), str(o.get("name", "")), str(o.get("uid", "")), o.get("controller") is True
        )
        for o in as_list(raw)
        if isinstance(o, Mapping)
    )


def _ref_source(provenance: Mapping[str, Any]) -> RefSource | None:
    raw = provenance.get("refSource") or provenance.get("configSource")
    if not isinstance(raw, Mapping):
        return None
    digest = as_mapping(raw.get("digest"))
    return RefSource(
        str(raw.get("uri", "")),
        {str(k): str(v) for k, v in digest.items()},
        str(raw.get("entryPoint", "")),
    )


def normalise_time(raw: object, where: str) -> str | None:
    """RFC 3339 in UTC with `Z`, as protojson prints a Timestamp."""
    if raw in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(raw))
        if moment.tzinfo is None:
            raise ValueError("no time zone")
    except ValueError as exc:
        raise RunError(
            f"{where} is not an RFC 3339 time",
            expected="e.g. 2021-03-29T09:50:00Z",
            found=repr(raw)[:60],
        ) from exc
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        fraction = f"{moment.microsecond:06d}"
        text += "." + (fraction[:3] if fraction.endswith("000") else fraction)
    return text + "Z"


def as_mapping(raw: object) -> Mapping[str, Any]:
    return raw if isinstance(raw, Mapping) else {}


def as_list(raw: object) -> list[Any]:
    return raw if isinstance(raw, list) else []
