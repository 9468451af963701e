"""Shared pieces of the gate tests (tests/integration/test_gate*.py): the verdict schema
check, in-memory keys, and the Tekton builds whose provenance the matrix signs (the CLI
runner is `tests.support.cli`, `push_scratch` is in `tests.support.registry`).

A `Build` is the set of facts a policy judges about one Tekton build (builder, source
repository, ref, commit, pipeline tasks, step images, finish time). `tekton_runs` turns
it into the PipelineRun and TaskRuns `kubectl get -o json` would show, and `provenance`
runs slsacheck's own generator over them, so the statements the gate judges are the
ones the Tekton task would attest. Scenarios change one fact of the default `Build`
with `dataclasses.replace`. Times are relative to the `now` given, so `maxAge` rules
hold on whatever day the tests run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from slsacheck.attach import cosign_tags as ct
from slsacheck.errors import Error
from slsacheck.models import mediatypes as mt
from slsacheck.models.digest import Digest
from slsacheck.oci.store import Store
from slsacheck.provenance.generate import Generated, Options, generate
from slsacheck.provenance.runs import parse_run
from slsacheck.signing.keysigner import KeySigner
from tests.support.env import ROOT

COMMIT = "9d4e5f60718293a4b5c6d7e8f9012a3b4c5d6e7f"
BUILDER_ID = "https://tekton.dev/chains/v2"
GIT_URL = "https://git.example.com/acme/app"
TASKS = ("git-clone", "trivy-scan", "build-push")
STEP_IMAGES: Mapping[str, str] = {
    "git-clone": "gcr.io/tekton-releases/github.com/tektoncd/pipeline/cmd/git-init@sha256:" + "1" * 64,
    "trivy-scan": "registry.example.com/tools/trivy@sha256:" + "2" * 64,
    "build-push": "registry.example.com/tools/buildah@sha256:" + "3" * 64,
}


# -- verdicts ---------------------------------------------------------------------------------


def validate_verdict(doc: Any) -> None:
    """`doc` against schemas/verdict.schema.json (raises on a mismatch)."""
    import jsonschema

    schema = json.loads((ROOT / "schemas" / "verdict.schema.json").read_text())
    jsonschema.validate(doc, schema)


# -- keys --------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyPair:
    signer: KeySigner
    public_pem: bytes


def key_pair() -> KeyPair:
    """A fresh ECDSA P-256 key (cosign's default kind), held in memory: the key file's
    encryption is tested elsewhere and its scrypt would only slow the matrix down."""
    signer = KeySigner(ec.generate_private_key(ec.SECP256R1()))
    return KeyPair(signer, signer.public_key_pem)


# -- Tekton builds -----------------------------------------------------------------------


@dataclass(frozen=True)
class Build:
    """The facts of one Tekton build that a policy judges; each scenario replaces one."""

    builder_id: str = BUILDER_ID
    git_url: str = GIT_URL
    revision: str = "refs/heads/main"
    commit: str = COMMIT
    tasks: tuple[str, ...] = TASKS
    step_images: Mapping[str, str] = field(default_factory=lambda: dict(STEP_IMAGES))
    age: timedelta = timedelta(hours=1)  # how long before `now` the run finished


def _time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


_SUCCEEDED = [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}]


def tekton_runs(build: Build, image: str, digest: Digest, now: datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The PipelineRun and its TaskRuns (tekton.dev/v1) that pushed `image@digest` per `build`."""
    run = "app-build-1"
    end = now - build.age
    start = end - timedelta(minutes=len(build.tasks))
    results: dict[str, list[dict[str, str]]] = {
        "git-clone": [{"name": "url", "value": build.git_url}, {"name": "commit", "value": build.commit}],
        "trivy-scan": [{"name": "REPORT", "value": "trivy-report.json"}],
        "build-push": [{"name": "IMAGE_URL", "value": f"{image}:latest"},
                       {"name": "IMAGE_DIGEST", "value": str(digest)}],
    }
    children = []
    for i, task in enumerate(build.tasks):
        image_id = build.step_images[task]
        children.append({
            "apiVersion": "tekton.dev/v1",
            "kind": "TaskRun",
            "metadata": {
                "name": f"{run}-{task}",
                "namespace": "ci",
                "uid": f"7c2d4e6f-0000-4000-8000-{i + 1:012d}",
                "labels": {"tekton.dev/pipelineRun": run, "tekton.dev/pipelineTask": task},
            },
            "spec": {"taskRef": {"name": task, "kind": "Task"}},
            "status": {
                "conditions": _SUCCEEDED,
                "startTime": _time(start + timedelta(minutes=i)),
                "completionTime": _time(start + timedelta(minutes=i + 1)),
                "steps": [{"name": task, "container": f"step-{task}", "imageID": "docker-pullable://" + image_id}],
                "results": results[task],
                "taskSpec": {"steps": [{"name": task, "image": image_id.split("@", 1)[0]}]},
            },
        })
    tasks = [{"name": t, "taskRef": {"name": t}, **({"runAfter": [build.tasks[i - 1]]} if i else {})}
             for i, t in enumerate(build.tasks)]
    pipeline = {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"name": run, "namespace": "ci", "uid": "7c2d4e6f-0000-4000-8000-000000000000"},
        "spec": {
            "params": [{"name": "git-url", "value": build.git_url}, {"name": "revision", "value": build.revision}],
            "pipelineSpec": {"params": [{"name": "git-url"}, {"name": "revision"}], "tasks": tasks},
        },
        "status": {
            "conditions": _SUCCEEDED,
            "startTime": _time(start),
            "completionTime": _time(end),
            "pipelineSpec": {"tasks": tasks},
            "results": [
                {"name": "CHAINS-GIT_URL", "value": build.git_url},
                {"name": "CHAINS-GIT_COMMIT", "value": build.commit},
            ],
            "childReferences": [
                {"kind": "TaskRun", "name": f"{run}-{t}", "pipelineTaskName": t} for t in build.tasks
            ],
        },
    }
    return pipeline, children


def provenance(build: Build, image: str, digest: Digest, now: datetime) -> Generated:
    """slsacheck's SLSA v1 provenance for the runs of `build` (not strict: warnings are returned)."""
    pipeline, children = tekton_runs(build, image, digest, now)
    return generate(
        parse_run(pipeline, "pipelinerun"),
        [parse_run(c, c["metadata"]["name"]) for c in children],
        Options(builder_id=build.builder_id),
    )


# -- evidence moved between images --------------------------------------------------------


def copy_attestation(source: Store, of: Digest, target: Store, onto: Digest, predicate_type: str) -> None:
    """Append `of`'s `.att` layer of `predicate_type` (from `source`) to `onto`'s `.att` in
    `target`, byte for byte: what someone replaying another image's attestation does."""
    manifest = source.fetch_manifest(ct.attestation_tag(of))
    for desc in manifest.layers:
        if desc.annotations.get(mt.ANN_PREDICATE_TYPE) == predicate_type:
            data = source.fetch_blob(desc)
            ct.append_layers(target, ct.attestation_tag(onto), [ct.Layer(data, desc.media_type, desc.annotations)])
            return
    raise Error(f"{ct.attestation_tag(of)} has no {predicate_type} layer to copy")
