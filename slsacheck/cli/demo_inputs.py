"""What `slsacheck demo` invents: the Tekton run objects that built its image, and its policies.

The run is what `kubectl get pipelinerun,taskrun -o json` would show for a two-task
pipeline: `git-clone` (results `url`, `commit`) then `build-push` (results `IMAGE_URL`,
`IMAGE_DIGEST`, the Chains type hints), with the PipelineRun passing the clone's results on
as `CHAINS-GIT_URL`/`CHAINS-GIT_COMMIT` and its `revision` param naming the branch. Times
are relative to `now`, so the policy's `maxAge` holds on the day the demo runs. Everything
is pure data; the demo writes it out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from slsacheck.provenance.builders import exported_builder_id

PIPELINE_RUN = "hello-build-1"
# The provenance is made from the exported runs, so it names that builder, not Chains.
BUILDER_ID = exported_builder_id()
OTHER_BUILDER_ID = "https://builder.example.com/release"
GIT_URL = "https://git.example.com/demo/hello"
GIT_REVISION = "refs/heads/main"
# The commit the clone checked out: a full SHA (a branch name is never recorded as a digest).
GIT_COMMIT = "5f0c9f1d2a3b4c5d6e7f8091a2b3c4d5e6f70819"
IMAGE_NAME = "registry.example.com/demo/hello"  # where the pipeline pushed; the demo keeps a layout
STEP_IMAGES = {
    "git-clone": "gcr.io/tekton-releases/github.com/tektoncd/pipeline/cmd/git-init@sha256:" + "1" * 64,
    "build-push": "quay.io/buildah/stable@sha256:" + "2" * 64,
}
TASKS = ("git-clone", "build-push")


def _time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _taskrun(task: str, results: list[dict[str, str]], start: datetime, end: datetime) -> dict[str, Any]:
    image = STEP_IMAGES[task]
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "metadata": {
            "name": f"{PIPELINE_RUN}-{task}",
            "namespace": "demo",
            "uid": f"5b1c0d2e-0000-4000-8000-{TASKS.index(task) + 1:012d}",
            "labels": {"tekton.dev/pipelineRun": PIPELINE_RUN, "tekton.dev/pipelineTask": task},
        },
        "spec": {"taskRef": {"name": task, "kind": "Task"}},
        "status": {
            "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}],
            "startTime": _time(start),
            "completionTime": _time(end),
            "steps": [{"name": task, "container": f"step-{task}", "imageID": "docker-pullable://" + image}],
            "results": results,
            "taskSpec": {"steps": [{"name": task, "image": image.split("@", 1)[0]}]},
        },
    }


def pipeline_run(image_digest: str, now: datetime) -> dict[str, dict[str, Any]]:
    """File name -> object: the PipelineRun and its two TaskRuns that built `image_digest`."""
    start = now - timedelta(minutes=3)
    tasks: list[dict[str, Any]] = [
        {"name": "git-clone", "taskRef": {"name": "git-clone"},
         "params": [{"name": "url", "value": "$(params.git-url)"},
                    {"name": "revision", "value": "$(params.revision)"}]},
        {"name": "build-push", "taskRef": {"name": "build-push"}, "runAfter": ["git-clone"],
         "params": [{"name": "IMAGE", "value": IMAGE_NAME}]},
    ]
    spec_tasks = [{k: v for k, v in t.items() if k != "params"} for t in tasks]
    pipeline = {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"name": PIPELINE_RUN, "namespace": "demo", "uid": "5b1c0d2e-0000-4000-8000-000000000000"},
        "spec": {
            "params": [{"name": "git-url", "value": GIT_URL}, {"name": "revision", "value": GIT_REVISION}],
            "pipelineSpec": {"params": [{"name": "git-url"}, {"name": "revision"}], "tasks": tasks},
        },
        "status": {
            "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}],
            "startTime": _time(start),
            "completionTime": _time(now),
            "pipelineSpec": {"tasks": spec_tasks},
            "results": [
                {"name": "CHAINS-GIT_URL", "value": GIT_URL},
                {"name": "CHAINS-GIT_COMMIT", "value": GIT_COMMIT},
            ],
            "childReferences": [
                {"kind": "TaskRun", "name": f"{PIPELINE_RUN}-{task}", "pipelineTaskName": task} for task in TASKS
            ],
        },
    }
    clone = _taskrun(
        "git-clone",
        [{"name": "url", "value": GIT_URL}, {"name": "commit", "value": GIT_COMMIT}],
        start,
        start + timedelta(minutes=1),
    )
    build = _taskrun(
        "build-push",
        [{"name": "IMAGE_URL", "value": f"{IMAGE_NAME}:latest"}, {"name": "IMAGE_DIGEST", "value": image_digest}],
        start + timedelta(minutes=1),
        now,
    )
    return {"pipelinerun.json": pipeline, "taskrun-git-clone.json": clone, "taskrun-build-push.json": build}


def policy(name: str, key_file: str, builder_id: str) -> str:
    """An ImagePolicy for every layout image: signed by the demo key, with provenance from `builder_id`."""
    tasks = ", ".join(TASKS)
    return f"""# Written by `slsacheck demo`. Check it with: slsacheck policy lint {name}.yaml
apiVersion: slsacheck.dev/v1alpha1
kind: ImagePolicy
metadata:
  name: {name}
  description: Layout images signed with the demo key, built by {builder_id} from the demo repository
spec:
  mode: enforce
  images:
    include: ["oci:**"]
  authorities:
    - name: demo-key
      key:
        file: {key_file}
  signatures:
    authorities: [demo-key]
  attestations:
    - name: provenance
      predicateType: slsaprovenance1
      authorities: [demo-key]
      provenance:
        builderIds: ["{builder_id}"]
        buildTypes: ["https://tekton.dev/chains/v2/slsa"]
        source:
          repositories: ["{GIT_URL.rsplit('/', 1)[0]}/*"]
          refs: ["{GIT_REVISION}"]
          requireCommit: true
        tasks:
          required: [{tasks}]
        stepImages:
          requireDigest: true
        maxAge: 24h
"""
