"""A `pipelineRef` PipelineRun and its child TaskRuns, as `kubectl get -o json` prints them.

The guide's pipeline, the common case: the PipelineRun names its Pipeline (`pipelineRef`),
so the resolved spec is in `status.pipelineSpec`, and three child TaskRuns (clone, scan,
build) carry the labels, namespace and ownerReferences the controller writes, their
`status.provenance.refSource` (the Tasks come from a bundle and a git repository, pinned)
and the pods' step imageIDs. The build's `IMAGE_URL`/`IMAGE_DIGEST` name the image a test
pushed; the clone's `url`/`commit` reach the PipelineRun's `CHAINS-GIT_*` results.

`RunFacts` holds what a test may break, one fact at a time: which tasks run, how a task is
referenced, a step image, the source repository, when the run finished.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

RUN_NAME = "app-build-7x2k9"
RUN_UID = "0c4a6d1e-3b7f-4d6a-9e51-2f8c0d9a7b11"
NAMESPACE = "ci"
CATALOG = "registry.example.com/tekton/catalog"
TASKS_REPO = "https://git.example.com/tekton/tasks.git"
BUNDLE_DIGEST = "sha256:" + "1a" * 32
TASKS_COMMIT = "2b" * 20
SOURCE_URL = "https://git.example.com/team/app"
SOURCE_COMMIT = "3c" * 20
STEP_IMAGES = {
    "clone": "registry.example.com/tools/git-init@sha256:" + "4d" * 32,
    "scan": "registry.example.com/tools/trivy@sha256:" + "5e" * 32,
    "build": "registry.example.com/tools/buildah@sha256:" + "6f" * 32,
}


def _bundle_ref(task: str) -> dict[str, Any]:
    return {"resolver": "bundles", "params": [
        {"name": "bundle", "value": f"{CATALOG}/{task}@{BUNDLE_DIGEST}"},
        {"name": "name", "value": task}, {"name": "kind", "value": "task"}]}


PIPELINE_TASKS: tuple[dict[str, Any], ...] = (
    {"name": "clone", "taskRef": _bundle_ref("git-clone"),
     "params": [{"name": "url", "value": "$(params.git-url)"}, {"name": "revision", "value": "$(params.revision)"}]},
    {"name": "scan", "runAfter": ["clone"], "taskRef": {"resolver": "git", "params": [
        {"name": "url", "value": TASKS_REPO}, {"name": "revision", "value": TASKS_COMMIT},
        {"name": "pathInRepo", "value": "trivy-scan/trivy-scan.yaml"}]}},
    {"name": "build", "runAfter": ["scan"], "taskRef": _bundle_ref("build-push"),
     "params": [{"name": "IMAGE", "value": "$(params.image)"}]},
)
REF_SOURCES: Mapping[str, Mapping[str, Any]] = {
    "clone": {"uri": f"{CATALOG}/git-clone", "digest": {"sha256": BUNDLE_DIGEST[7:]}, "entryPoint": "git-clone"},
    "scan": {"uri": f"git+{TASKS_REPO}", "digest": {"sha1": TASKS_COMMIT}, "entryPoint": "trivy-scan/trivy-scan.yaml"},
    "build": {"uri": f"{CATALOG}/build-push", "digest": {"sha256": BUNDLE_DIGEST[7:]}, "entryPoint": "build-push"},
}


@dataclass(frozen=True)
class RunFacts:
    """The run, with what a test may change."""

    image: str  # repository the build pushed (IMAGE_URL)
    digest: str  # sha256:<hex> (IMAGE_DIGEST)
    finished: datetime
    tasks: tuple[dict[str, Any], ...] = PIPELINE_TASKS
    step_images: Mapping[str, str] = field(default_factory=lambda: dict(STEP_IMAGES))
    source_url: str = SOURCE_URL

    def _time(self, minutes_before_end: int) -> str:
        return (self.finished - timedelta(minutes=minutes_before_end)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def pipeline_run(self) -> dict[str, Any]:
        tasks = copy.deepcopy(list(self.tasks))
        return {
            "apiVersion": "tekton.dev/v1",
            "kind": "PipelineRun",
            "metadata": {"name": RUN_NAME, "namespace": NAMESPACE, "uid": RUN_UID,
                         "labels": {"tekton.dev/pipeline": "clone-scan-build"}},
            "spec": {
                "pipelineRef": {"name": "clone-scan-build"},
                "params": [{"name": "git-url", "value": self.source_url},
                           {"name": "revision", "value": "refs/heads/main"},
                           {"name": "image", "value": self.image}],
                "taskRunTemplate": {"serviceAccountName": "pipeline"},
            },
            "status": {
                "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}],
                "startTime": self._time(10),
                "completionTime": self._time(0),
                "pipelineSpec": {"params": [{"name": "git-url"}, {"name": "revision"}, {"name": "image"}],
                                 "tasks": tasks},
                "childReferences": [
                    {"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": f"{RUN_NAME}-{t['name']}",
                     "pipelineTaskName": t["name"]} for t in tasks
                ],
                "results": [{"name": "CHAINS-GIT_URL", "value": self.source_url},
                            {"name": "CHAINS-GIT_COMMIT", "value": SOURCE_COMMIT}],
            },
        }

    def task_run(self, task: Mapping[str, Any]) -> dict[str, Any]:
        name = task["name"]
        results = {
            "clone": [{"name": "url", "value": self.source_url}, {"name": "commit", "value": SOURCE_COMMIT}],
            "build": [{"name": "IMAGE_URL", "value": self.image}, {"name": "IMAGE_DIGEST", "value": self.digest}],
        }.get(name, [])
        status: dict[str, Any] = {
            "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}],
            "podName": f"{RUN_NAME}-{name}-pod",
            "startTime": self._time(9),
            "completionTime": self._time(1),
            "steps": [{"name": name, "container": f"step-{name}", "imageID": self.step_images[name]}],
            "results": results,
        }
        if "taskSpec" in task:
            status["taskSpec"] = task["taskSpec"]
        elif task.get("taskRef", {}).get("resolver") and name in REF_SOURCES:
            status["provenance"] = {"refSource": dict(REF_SOURCES[name])}
        labels = {"tekton.dev/pipeline": "clone-scan-build", "tekton.dev/pipelineRun": RUN_NAME,
                  "tekton.dev/pipelineTask": name, "tekton.dev/taskRun": f"{RUN_NAME}-{name}"}
        spec = {"taskSpec": task["taskSpec"]} if "taskSpec" in task else {"taskRef": task["taskRef"]}
        return {
            "apiVersion": "tekton.dev/v1",
            "kind": "TaskRun",
            "metadata": {
                "name": f"{RUN_NAME}-{name}", "namespace": NAMESPACE, "uid": f"{RUN_UID[:-4]}{name[:4]:0>4}",
                "labels": labels,
                "ownerReferences": [{"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "name": RUN_NAME,
                                     "uid": RUN_UID, "controller": True, "blockOwnerDeletion": True}],
            },
            "spec": {**spec, "serviceAccountName": "pipeline"},
            "status": status,
        }

    def write(self, folder: Path) -> list[str]:
        """The objects as files; returns the `--run FILE --child FILE...` flags."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "pipelinerun.json").write_text(json.dumps(self.pipeline_run(), indent=2))
        flags = ["--run", str(folder / "pipelinerun.json")]
        for task in self.tasks:
            path = folder / f"taskrun-{task['name']}.json"
            path.write_text(json.dumps(self.task_run(task), indent=2))
            flags += ["--child", str(path)]
        return flags


def with_task(tasks: Sequence[Mapping[str, Any]], name: str, **definition: Any) -> tuple[dict[str, Any], ...]:
    """`tasks` with task `name`'s reference replaced (taskRef=... or taskSpec=...)."""
    out = []
    for task in tasks:
        task = copy.deepcopy(dict(task))
        if task["name"] == name:
            task.pop("taskRef", None)
            task.pop("taskSpec", None)
            task.update(definition)
        out.append(task)
    return tuple(out)


def without_task(tasks: Sequence[Mapping[str, Any]], name: str) -> tuple[dict[str, Any], ...]:
    """`tasks` without task `name` (runAfter pruned)."""
    out = []
    for task in tasks:
        if task["name"] == name:
            continue
        task = copy.deepcopy(dict(task))
        after = [t for t in task.pop("runAfter", []) if t != name]
        if after:
            task["runAfter"] = after
        out.append(task)
    return tuple(out)
