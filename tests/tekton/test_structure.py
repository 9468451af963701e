"""What Tekton would reject, and what our conventions forbid, checked over every file in tekton/.

Each check is a function returning problems (strings); the tests assert there are none in
the shipped files, and that a broken copy does produce them, so no check passes vacuously.
Some checks stand in for tekton-lint rules that `.tektonlintrc.yaml` turns off because
tekton-lint 0.6 cannot apply them to Tekton v1 (named taskRefs resolving, kebab-case
names where the name is ours to choose). The step image's Containerfile is checked here
too: hadolint is not available from the package registries, so the documented check is
that every FROM pins its base by digest and the image runs as a non-root USER.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.env import ROOT, require_tool

TEKTON = ROOT / "tekton"
PINNED = re.compile(r"^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+(:[\w.-]+)?@sha256:[0-9a-f]{64}$")
VARIABLE = re.compile(r"\$\(([a-zA-Z]+\.[^()\s]*)\)")
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
CONTEXT = {"context.taskRun.name", "context.taskRun.uid", "context.taskRun.namespace", "context.task.name"}
PIPELINE_CONTEXT = {"context.pipelineRun.name", "context.pipelineRun.uid", "context.pipelineRun.namespace",
                    "context.pipeline.name"}
# Results of the catalog Tasks the pipeline resolves remotely (hub): git-clone 0.9, kaniko 0.7.
REMOTE_RESULTS = {"git-clone": {"commit", "url", "committer-date"}, "kaniko": {"IMAGE_DIGEST", "IMAGE_URL"}}
CATALOG_ANNOTATIONS = ("tekton.dev/pipelines.minVersion", "tekton.dev/categories", "tekton.dev/tags",
                       "tekton.dev/displayName", "tekton.dev/platforms")
SECURITY = {"runAsNonRoot": True, "runAsUser": 65532, "allowPrivilegeEscalation": False}


def documents() -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for path in sorted(TEKTON.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out.append((path, doc))
    return out


def kind(k: str) -> list[dict[str, Any]]:
    return [d for _, d in documents() if d.get("kind") == k]


def _strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string in `node` with its dotted path, skipping descriptions (not substituted)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k != "description":
                yield from _strings(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _strings(v, f"{path}[{i}]")
    elif isinstance(node, str):
        yield path, node


def _param_names(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {p["name"]: p for p in spec.get("params", [])}


def _param_ref_ok(ref: str, params: Mapping[str, Any]) -> bool:
    name = re.sub(r"\[(\*|\d+)\]$", "", ref)
    if name in params:
        return True
    head = name.rsplit(".", 1)[0]
    return "." in name and params.get(head, {}).get("type") == "object"


# -- Tasks and StepActions --------------------------------------------------------------


def task_problems(doc: Mapping[str, Any]) -> list[str]:
    """References that resolve, scripts that interpolate nothing but result paths,
    pinned images, a hardened securityContext, catalog metadata, kebab-case names."""
    name = doc["metadata"]["name"]
    spec = doc["spec"]
    problems: list[str] = []
    is_action = doc["kind"] == "StepAction"
    params = _param_names(spec)
    results = {r["name"] for r in spec.get("results", [])}
    workspaces = {w["name"] for w in spec.get("workspaces", [])}
    steps = [spec] if is_action else spec.get("steps", [])
    step_names = {s.get("name") for s in steps}
    result_prefix = "step.results." if is_action else "results."
    for where, text in _strings(spec):
        for ref in VARIABLE.findall(text):
            group, _, rest = ref.partition(".")
            ok = True
            if group == "params":
                ok = _param_ref_ok(rest, params)
            elif ref.startswith(result_prefix):
                ok = rest.removeprefix("results.").removesuffix(".path") in results and ref.endswith(".path")
            elif group == "workspaces":
                ws, _, attr = rest.rpartition(".")
                ok = not is_action and ws in workspaces and attr in ("path", "bound", "claim", "volume")
            elif group == "context":
                ok = not is_action and ref in CONTEXT
            elif group == "steps":
                ok = not is_action and rest.split(".")[0].removeprefix("step-") in step_names
            else:
                ok = False
            if not ok:
                problems.append(f"{name}{where}: $({ref}) resolves to nothing declared")
    for step in steps:
        step_where = f"{name} step {step.get('name', '(action)')}"
        image = step.get("image", "")
        if not PINNED.match(image):
            problems.append(f"{step_where}: image {image!r} is not pinned by digest")
        script = step.get("script", "")
        for ref in VARIABLE.findall(script):
            if not (ref.startswith(result_prefix) and ref.endswith(".path")):
                problems.append(f"{step_where}: the script interpolates $({ref}); pass it through env")
        for line in script.splitlines():
            if re.search(r'>\s*"\$\((step\.)?results\.', line) and not line.strip().startswith('printf "%s"'):
                problems.append(f"{step_where}: a result written without printf \"%s\": {line.strip()}")
        context = step.get("securityContext", {})
        for key, value in SECURITY.items():
            if context.get(key) != value:
                problems.append(f"{step_where}: securityContext.{key} is {context.get(key)!r}, not {value!r}")
        if context.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append(f"{step_where}: securityContext.capabilities.drop is not [ALL]")
        if context.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{step_where}: securityContext.readOnlyRootFilesystem is not true")
    problems += _metadata_problems(doc)
    for ws in workspaces:
        if not KEBAB.match(ws):
            problems.append(f"{name}: workspace {ws!r} is not kebab-case")
    if name.startswith("slsacheck-") and not {"IMAGE_URL", "IMAGE_DIGEST"} <= results:
        problems.append(f"{name}: IMAGE_URL/IMAGE_DIGEST are not passed through as results")
    return problems


def _metadata_problems(doc: Mapping[str, Any]) -> list[str]:
    name = doc["metadata"]["name"]
    problems = [] if KEBAB.match(name) else [f"{name}: the name is not kebab-case"]
    if "app.kubernetes.io/version" not in doc["metadata"].get("labels", {}):
        problems.append(f"{name}: no app.kubernetes.io/version label")
    annotations = doc["metadata"].get("annotations", {})
    problems += [f"{name}: no {a} annotation" for a in CATALOG_ANNOTATIONS if a not in annotations]
    return problems


# -- the Pipeline -----------------------------------------------------------------------


def pipeline_problems(doc: Mapping[str, Any], tasks: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Param, result, workspace and runAfter references resolve; named Tasks get the params
    and workspaces they declare; images passed as params are pinned."""
    name = doc["metadata"]["name"]
    spec = doc["spec"]
    problems = _metadata_problems(doc)
    params = _param_names(spec)
    workspaces = {w["name"] for w in spec.get("workspaces", [])}
    pipeline_tasks = {t["name"]: t for t in [*spec.get("tasks", []), *spec.get("finally", [])]}
    for p in params:
        if not KEBAB.match(p):
            problems.append(f"{name}: pipeline param {p!r} is not kebab-case")

    def results_of(task_name: str) -> set[str] | None:
        ref = pipeline_tasks[task_name].get("taskRef", {})
        if "name" in ref:
            return {r["name"] for r in tasks[ref["name"]]["spec"].get("results", [])} if ref["name"] in tasks else None
        remote = {p["name"]: p["value"] for p in ref.get("params", [])}.get("name")
        return REMOTE_RESULTS.get(str(remote))

    for where, text in _strings(spec):
        for ref in VARIABLE.findall(text):
            group, _, rest = ref.partition(".")
            if group == "params":
                ok = _param_ref_ok(rest, params)
            elif group == "context":
                ok = ref in PIPELINE_CONTEXT
            elif group == "tasks":
                m = re.fullmatch(r"([^.]+)\.results\.([^.]+)", rest)
                known = results_of(m.group(1)) if m and m.group(1) in pipeline_tasks else None
                ok = m is not None and known is not None and m.group(2) in known
            else:
                ok = False
            if not ok:
                problems.append(f"{name}{where}: $({ref}) resolves to nothing declared")
    for pt in pipeline_tasks.values():
        where = f"{name} task {pt['name']}"
        if not KEBAB.match(pt["name"]):
            problems.append(f"{where}: the task name is not kebab-case")
        for after in pt.get("runAfter", []):
            if after not in pipeline_tasks:
                problems.append(f"{where}: runAfter {after!r} names no task")
        for ws in pt.get("workspaces", []):
            if ws["workspace"] not in workspaces:
                problems.append(f"{where}: workspace {ws['workspace']!r} is not the Pipeline's")
        for p in pt.get("params", []):
            values = p["value"] if isinstance(p["value"], list) else [p["value"]]
            for value in values:
                if re.search(r"image", p["name"], re.I) and "$(" not in value and not PINNED.match(value):
                    problems.append(f"{where}: param {p['name']} = {value!r} is an image not pinned by digest")
        ref = pt.get("taskRef", {})
        if ref.get("kind") == "ClusterTask":
            problems.append(f"{where}: ClusterTask is removed in current Tekton")
        if "name" not in ref:
            if ref.get("resolver") not in ("hub", "cluster", "bundles", "git"):
                problems.append(f"{where}: taskRef has neither a name nor a known resolver")
            continue
        task = tasks.get(ref["name"])
        if task is None:
            problems.append(f"{where}: taskRef {ref['name']!r} is not a Task in tekton/tasks")
            continue
        declared = _param_names(task["spec"])
        given = {p["name"] for p in pt.get("params", [])}
        problems += [f"{where}: param {p!r} is not declared by {ref['name']}" for p in given - set(declared)]
        problems += [f"{where}: required param {p!r} of {ref['name']} is not given"
                     for p, d in declared.items() if "default" not in d and p not in given]
        task_ws = {w["name"]: w for w in task["spec"].get("workspaces", [])}
        bound = {w["name"] for w in pt.get("workspaces", [])}
        problems += [f"{where}: workspace {w!r} is not declared by {ref['name']}" for w in bound - set(task_ws)]
        problems += [f"{where}: required workspace {w!r} of {ref['name']} is not bound"
                     for w, d in task_ws.items() if not d.get("optional") and w not in bound]
    return problems


# -- the tests --------------------------------------------------------------------------


def _tasks() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in kind("Task")}


def test_every_file_is_tekton_v1_or_a_known_kubernetes_kind() -> None:
    allowed = {("tekton.dev/v1", "Task"), ("tekton.dev/v1", "Pipeline"), ("tekton.dev/v1", "PipelineRun"),
               ("tekton.dev/v1beta1", "StepAction"), ("v1", "Secret"), ("v1", "ConfigMap"), ("v1", "ServiceAccount")}
    found = {(d.get("apiVersion"), d.get("kind")) for _, d in documents()}
    assert found <= allowed, found - allowed
    assert {k for _, k in found} >= {"Task", "Pipeline", "PipelineRun", "StepAction"}


@pytest.mark.parametrize("name", sorted(_tasks()))
def test_task(name: str) -> None:
    assert task_problems(_tasks()[name]) == []


@pytest.mark.parametrize("name", sorted(d["metadata"]["name"] for d in kind("StepAction")))
def test_step_action_is_its_task_as_a_step(name: str) -> None:
    action = next(d for d in kind("StepAction") if d["metadata"]["name"] == name)
    assert task_problems(action) == []
    task = _tasks()[name]
    step = task["spec"]["steps"][0]
    assert action["spec"]["script"] == step["script"].replace("$(results.", "$(step.results.")
    assert action["spec"].get("args") == step.get("args")
    assert {p["name"] for p in task["spec"]["params"]} <= {p["name"] for p in action["spec"]["params"]}
    assert action["spec"]["results"] == task["spec"]["results"]
    assert [e["name"] for e in action["spec"]["env"]] == [e["name"] for e in step["env"]]


def test_pipeline() -> None:
    (pipeline,) = kind("Pipeline")
    assert pipeline_problems(pipeline, _tasks()) == []


def test_the_originals_mistakes_are_gone() -> None:
    for path, doc in documents():
        # The example ConfigMap's policies name these flags to refuse builds that use them.
        text = json.dumps({**doc, "data": {}} if doc.get("kind") == "ConfigMap" else doc)
        for bad in ("--skip-tls-verify", "ClusterTask", "cosign-experimental", "COSIGN_EXPERIMENTAL", ":latest"):
            assert bad not in text, f"{path}: {bad}"
    (pipeline,) = kind("Pipeline")
    by_name = {t["name"]: t for t in pipeline["spec"]["tasks"]}
    # Signing and attesting name the digest the build pushed, never the tag given to it.
    for task in ("sign-image", "attest-provenance", "attest-vulnerabilities", "verify-image"):
        params = {p["name"]: p["value"] for p in by_name[task]["params"]}
        assert params["IMAGE_DIGEST"] == "$(tasks.build-push.results.IMAGE_DIGEST)"
    # The provenance's commit is what git-clone checked out, not the revision asked for.
    params = {p["name"]: p["value"] for p in by_name["attest-provenance"]["params"]}
    assert params["SOURCE_COMMIT"] == "$(tasks.fetch-source.results.commit)"
    # Secrets reach only the tasks that use them, read-only.
    for name, task in by_name.items():
        bound = {w["workspace"] for w in task.get("workspaces", [])}
        if "signing-secrets" in bound:
            assert name in ("sign-image", "attest-provenance", "attest-vulnerabilities"), name
        if "shared-data" in bound:
            assert name not in ("sign-image", "attest-provenance"), name
    for doc in _tasks().values():
        for ws in doc["spec"].get("workspaces", []):
            if ws["name"] in ("signing-secrets", "dockerconfig", "policies", "registry-ca", "sigstore", "source"):
                assert ws.get("readOnly") is True, (doc["metadata"]["name"], ws["name"])


def test_checks_find_what_they_look_for() -> None:
    """Break copies of the shipped files one way each: every check must notice."""
    sign = copy.deepcopy(_tasks()["slsacheck-sign"])
    step = sign["spec"]["steps"][0]
    step["script"] += 'echo "$(params.IMAGE_URL)"\necho x > "$(results.IMAGE_URL.path)"\n'
    step["env"].append({"name": "TYPO", "value": "$(params.IMAGE_URLL)"})
    step["image"] = "ghcr.io/slsacheck/slsacheck:latest"
    del step["securityContext"]["runAsNonRoot"]
    del sign["metadata"]["annotations"]["tekton.dev/platforms"]
    found = "\n".join(task_problems(sign))
    for expected in ("interpolates $(params.IMAGE_URL)", "without printf", "$(params.IMAGE_URLL) resolves",
                     "not pinned by digest", "runAsNonRoot", "tekton.dev/platforms"):
        assert expected in found, expected
    (pipeline,) = kind("Pipeline")
    broken = copy.deepcopy(pipeline)
    tasks = {t["name"]: t for t in broken["spec"]["tasks"]}
    tasks["sign-image"]["params"].append({"name": "NOPE", "value": "$(tasks.build-push.results.IMAGE_TAG)"})
    tasks["verify-image"]["workspaces"] = [w for w in tasks["verify-image"]["workspaces"] if w["name"] != "policies"]
    tasks["build-push"]["params"].append({"name": "BUILDER_IMAGE", "value": "gcr.io/kaniko-project/executor:v1"})
    tasks["scan-source"]["runAfter"] = ["fetch-sauce"]
    found = "\n".join(pipeline_problems(broken, _tasks()))
    for expected in ("IMAGE_TAG) resolves", "'NOPE' is not declared", "required workspace 'policies'",
                     "not pinned by digest", "runAfter 'fetch-sauce'"):
        assert expected in found, expected


# -- the step image ------------------------------------------------------------------------


def containerfile_problems(text: str) -> list[str]:
    """Every FROM pinned by digest (through ARG defaults), a non-root USER last, slsacheck the entrypoint."""
    args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, re.M))
    problems = []
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    if not froms:
        problems.append("no FROM")
    for image in froms:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), image)
        if not PINNED.match(image):
            problems.append(f"FROM {image} is not pinned by digest")
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    if not users or users[-1].split(":")[0] in ("0", "root"):
        problems.append(f"the image does not end as a non-root USER (USER lines: {users})")
    if '["slsacheck"]' not in "".join(re.findall(r"^ENTRYPOINT\s+(.*)$", text, re.M)):
        problems.append('ENTRYPOINT is not ["slsacheck"]')
    return problems


def test_containerfile() -> None:
    text = (TEKTON / "image" / "Containerfile").read_text()
    assert containerfile_problems(text) == []
    assert "USER 65532" in text
    broken = text.replace("@sha256:", ":latest#").replace("USER 65532:65532", "USER root")
    assert len(containerfile_problems(broken)) == 3


def test_pin_script_rewrites_only_the_slsacheck_image(tmp_path: Path) -> None:
    require_tool("sed")
    copy_root = tmp_path / "tekton"
    shutil.copytree(TEKTON, copy_root)
    digest = "sha256:" + "ab" * 32
    proc = subprocess.run(["/bin/sh", str(copy_root / "image" / "pin.sh"), digest, "registry.example.com/t/slsacheck"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    images = [re.search(r"image:\s*(\S+)", line).group(1)  # type: ignore[union-attr]
              for path in copy_root.rglob("*.yaml") for line in path.read_text().splitlines()
              if re.match(r"\s*image:", line)]
    ours = [i for i in images if "slsacheck" in i]
    assert ours and all(i == f"registry.example.com/t/slsacheck:0.1.0@{digest}" for i in ours), ours
    assert any("aquasec/trivy" in i for i in images)  # other images untouched
    bad = subprocess.run(["/bin/sh", str(copy_root / "image" / "pin.sh"), "sha256:1234"],
                         capture_output=True, text=True, timeout=30, check=False)
    assert bad.returncode == 2


def test_pipeline_run_matches_the_pipeline() -> None:
    (pipeline,) = kind("Pipeline")
    (run,) = kind("PipelineRun")
    spec = run["spec"]
    assert spec["pipelineRef"]["name"] == pipeline["metadata"]["name"]
    declared = _param_names(pipeline["spec"])
    given = {p["name"] for p in spec["params"]}
    assert given <= set(declared)
    assert {p for p, d in declared.items() if "default" not in d} <= given
    bound = {w["name"] for w in spec["workspaces"]}
    pipeline_ws = {w["name"]: w for w in pipeline["spec"]["workspaces"]}
    assert bound <= set(pipeline_ws)
    assert {w for w, d in pipeline_ws.items() if not d.get("optional")} <= bound
    pod = spec["taskRunTemplate"]["podTemplate"]["securityContext"]
    assert pod == {"fsGroup": 65532, "runAsNonRoot": True, "runAsUser": 65532,
                   "seccompProfile": {"type": "RuntimeDefault"}}
    secrets = {d["metadata"]["name"] for d in kind("Secret")} | {d["metadata"]["name"] for d in kind("ConfigMap")}
    for ws in spec["workspaces"]:
        source = ws.get("secret", {}).get("secretName") or ws.get("configMap", {}).get("name")
        if source:
            assert source in secrets, f"{source} is not in secrets-example.yaml"
