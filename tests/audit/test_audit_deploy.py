"""deploy/audit/: the fleet audit's manifests are valid Kubernetes objects with least privilege.

`kubectl kustomize` is not on these machines: the kustomization is rendered here the way
kustomize would for what it uses (resources, namespace, labels, configMapGenerator without
hash, image tags), and every object, including the Indexed Job the coordinator starts from
its ConfigMap, is validated offline against the Kubernetes OpenAPI schema of its kind
(`kubernetes-validate`, strict: unknown fields are errors). Then the behaviour they must
have: the Job is Indexed with N shards and passes `--shard $(JOB_COMPLETION_INDEX)/N`;
the argument lists are command lines slsacheck accepts; the shard pods hold no API token;
RBAC reads workloads, writes PolicyReports and nothing else. The Tekton variant (CRDs
kubernetes-validate has no schema for) is checked structurally: the matrix fans out over
the shard indexes, the merge runs after it, every Task and parameter named exists.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from slsacheck.cli import build_parser
from slsacheck.cli.audit_commands import _formats_and_file
from tests.support.env import ROOT, require_module

DEPLOY = ROOT / "deploy" / "audit"
K8S_VERSION = "1.33"  # backoffLimitPerIndex is GA from 1.33
READ_ONLY = {"get", "list", "watch"}


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _render(directory: Path) -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    objects = [obj for name in kustomization["resources"] for obj in _docs(directory / name)]
    for generator in kustomization.get("configMapGenerator", []):
        data = {Path(f).name: (directory / f).read_text() for f in generator["files"]}
        objects.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]},
                        "data": data})
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
    for obj in objects:
        if obj["kind"] not in cluster_scoped and "namespace" in kustomization:
            obj["metadata"]["namespace"] = kustomization["namespace"]
        for label in kustomization.get("labels", []):
            obj["metadata"].setdefault("labels", {}).update(label["pairs"])
    return objects


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict[str, Any]]:
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in _render(DEPLOY)}


def _shard_job(rendered: dict[str, dict[str, Any]]) -> dict[str, Any]:
    text = rendered["ConfigMap/slsacheck-audit-shards"]["data"]["shards-job.yaml"]
    job: dict[str, Any] = yaml.safe_load(text.replace("run-placeholder", "20261205-021700"))
    return job


def test_every_object_validates_against_the_kubernetes_schema(rendered: dict[str, dict[str, Any]]) -> None:
    kubernetes_validate = require_module("kubernetes_validate")
    assert set(rendered) == {
        "Namespace/slsacheck-audit", "ServiceAccount/slsacheck-audit-coordinator",
        "ServiceAccount/slsacheck-audit-shard", "ClusterRole/slsacheck-audit-read-workloads",
        "ClusterRole/slsacheck-audit-write-reports", "ClusterRoleBinding/slsacheck-audit-read-workloads",
        "ClusterRoleBinding/slsacheck-audit-write-reports", "Role/slsacheck-audit-run-shards",
        "RoleBinding/slsacheck-audit-run-shards", "PersistentVolumeClaim/slsacheck-audit-reports",
        "CronJob/slsacheck-audit", "ConfigMap/slsacheck-audit-policies", "ConfigMap/slsacheck-audit-shards"}
    for obj in [*rendered.values(), _shard_job(rendered)]:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)  # raises on an invalid object
    # A negative control: the validator does reject a field Kubernetes does not know.
    broken = _shard_job(rendered)
    broken["spec"]["completionModes"] = "Indexed"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def _args_parse(args: list[str], env: dict[str, str]) -> Any:
    expanded = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a) for a in args]
    return build_parser().parse_args(expanded)


def test_the_shard_job_is_indexed_and_each_pod_audits_its_shard(rendered: dict[str, dict[str, Any]]) -> None:
    job = _shard_job(rendered)
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"] == 4
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    for index in range(spec["completions"]):
        args = _args_parse(container["args"], {**env, "JOB_COMPLETION_INDEX": str(index)})
        assert args.shard == f"{index}/{spec['completions']}"
        formats, output = _formats_and_file(args)
        assert output is not None and output.endswith(f"/shard-{index}.json") and formats == ["json"]
        assert args.kube_inventory == ["in-cluster=/reports/20261205-021700/inventory.json"]
        assert args.fail_on == "never"  # failing images are the report, not a pod to retry
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "slsacheck-audit-shard"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert args.policy[0].startswith(next(p for p in mounts if p.endswith("policies")))
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_the_coordinator_lists_once_starts_the_job_and_merges(rendered: dict[str, dict[str, Any]]) -> None:
    cron = rendered["CronJob/slsacheck-audit"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    script = container["args"][0]
    assert container["command"] == ["/bin/sh", "-c"]
    sh = shutil.which("sh")
    if sh is not None:
        subprocess.run([sh, "-n", "-c", script], check=True, timeout=30)  # syntax only
    job = _shard_job(rendered)
    assert "slsacheck-audit-shards-$run" in script and job["metadata"]["name"].startswith("slsacheck-audit-shards-")
    assert "/etc/slsacheck-audit/job/shards-job.yaml" in script
    merge = re.search(r"slsacheck audit merge (.+?)\n", script.replace("\\\n", " "))
    assert merge is not None
    argv = ["audit", "merge", *merge.group(1).replace('"', "").split()]
    args = build_parser().parse_args(argv)
    assert {"json", "policyreport"} <= set(_formats_and_file(args)[0]) and args.fail_on == "never"
    assert "kubectl apply" in script and "audit.policyreport.json" in script
    assert script.index("kubectl get pods") < script.index("kubectl create") < script.index("audit merge")


def test_rbac_is_least_privilege(rendered: dict[str, dict[str, Any]]) -> None:
    rules = {name: obj["rules"] for name, obj in rendered.items() if obj["kind"] in ("ClusterRole", "Role")}
    for name, role_rules in rules.items():
        for rule in role_rules:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"], name
            assert "secrets" not in rule["resources"], name
            assert not {"delete", "deletecollection", "escalate", "bind", "impersonate"} & set(rule["verbs"]), name
    read = rules["ClusterRole/slsacheck-audit-read-workloads"]
    assert all(set(r["verbs"]) <= READ_ONLY for r in read)
    assert {res for r in read for res in r["resources"]} == {
        "pods", "replicationcontrollers", "deployments", "statefulsets", "daemonsets", "replicasets", "jobs",
        "cronjobs"}
    (write,) = rules["ClusterRole/slsacheck-audit-write-reports"]
    assert write["apiGroups"] == ["wgpolicyk8s.io"]
    assert set(write["resources"]) == {"policyreports", "clusterpolicyreports"}
    (jobs,) = rules["Role/slsacheck-audit-run-shards"]
    assert jobs["resources"] == ["jobs"] and rendered["Role/slsacheck-audit-run-shards"]["metadata"]["namespace"]
    bindings = [o for o in rendered.values() if o["kind"] in ("ClusterRoleBinding", "RoleBinding")]
    # Only the coordinator is bound to anything; the shard account has no rights at all.
    assert {s["name"] for b in bindings for s in b["subjects"]} == {"slsacheck-audit-coordinator"}
    assert rendered["ServiceAccount/slsacheck-audit-shard"]["automountServiceAccountToken"] is False


def test_the_shipped_policy_loads_once_given_a_key(tmp_path: Path) -> None:
    from slsacheck.policy.load import load_policies
    from slsacheck.policy.problems import PolicyLoadError
    from slsacheck.signing.keys import generate_key_pair

    shipped = DEPLOY / "policies" / "policy.yaml"
    with pytest.raises(PolicyLoadError, match="REPLACE THIS FILE"):  # the placeholder never verifies anything
        load_policies([shipped])
    shutil.copy(shipped, tmp_path / "policy.yaml")
    (tmp_path / "release.pub").write_bytes(generate_key_pair(b"", scrypt_n=2**15)[1])
    assert [p.name for p in load_policies([tmp_path / "policy.yaml"]).policies] == ["release-signed"]


def test_the_tekton_variant_fans_out_with_a_matrix() -> None:
    objects = _render(DEPLOY / "tekton")
    tasks = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Task"}
    (pipeline,) = [o for o in objects if o["kind"] == "Pipeline"]
    for obj in objects:
        assert obj["apiVersion"] == "tekton.dev/v1"
    steps = {t["name"]: t for t in pipeline["spec"]["tasks"]}
    assert steps["audit"]["runAfter"] == ["inventory"] and steps["merge"]["runAfter"] == ["audit"]
    (matrix,) = steps["audit"]["matrix"]["params"]
    assert matrix["name"] == "shard-index" and matrix["value"] == "$(params.shard-indexes[*])"
    declared = {p["name"]: p for p in pipeline["spec"]["params"]}
    indexes = declared["shard-indexes"]["default"]
    assert indexes == [str(i) for i in range(int(declared["shard-count"]["default"]))]
    for step in steps.values():
        task = tasks[step["taskRef"]["name"]]
        params = {p["name"] for p in task["spec"].get("params", [])}
        given = {p["name"] for p in [*step.get("params", []), *step.get("matrix", {}).get("params", [])]}
        required = {p["name"] for p in task["spec"].get("params", []) if "default" not in p}
        assert required <= given <= params, step["name"]
        assert {w["name"] for w in step["workspaces"]} == {w["name"] for w in task["spec"]["workspaces"]}
    shard = tasks["slsacheck-audit-shard"]["spec"]["steps"][0]["args"]
    values = {"params.cluster": "c", "workspaces.reports.path": "/ws/r", "workspaces.policies.path": "/ws/p",
              "params.policy": "policy.yaml", "params.shard-index": "2", "params.shard-count": "4"}
    args = build_parser().parse_args([re.sub(r"\$\(([\w.-]+)\)", lambda m: values[m.group(1)], a) for a in shard])
    assert args.shard == "2/4" and _formats_and_file(args)[1] == "/ws/r/shard-2.json"
    run = _docs(DEPLOY / "tekton" / "pipelinerun.yaml")[0]
    assert {s["pipelineTaskName"]: s["serviceAccountName"] for s in run["spec"]["taskRunSpecs"]} == {
        "audit": "slsacheck-audit-shard"}
