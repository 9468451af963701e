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

import copy
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from slsacheck.audit import artifact
from slsacheck.cli import build_parser
from slsacheck.cli.audit_commands import _formats_and_file
from tests.support.env import ROOT, require_module, require_tool

DEPLOY = ROOT / "deploy" / "audit"
K8S_VERSION = "1.33"  # backoffLimitPerIndex is GA from 1.33
READ_ONLY = {"get", "list", "watch"}


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _json_patch(obj: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """RFC 6902 `add` and `replace` (what the overlays use), as kustomize applies a JSON patch."""
    out = copy.deepcopy(obj)
    for op in ops:
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        node: Any = out
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            if op["op"] == "add":
                node.insert(len(node) if last == "-" else int(last), op["value"])
            else:
                assert op["op"] == "replace" and int(last) < len(node), op
                node[int(last)] = op["value"]
        else:
            assert op["op"] in ("add", "replace") and (op["op"] == "add" or last in node), op
            node[last] = op["value"]
    return out


def _render(directory: Path) -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    objects = []
    for name in kustomization["resources"]:
        path = directory / name
        objects += _render(path) if path.is_dir() else _docs(path)  # a base, rendered first
    for generator in kustomization.get("configMapGenerator", []):
        data = {Path(f).name: (directory / f).read_text() for f in generator.get("files", [])}
        data.update(literal.split("=", 1) for literal in generator.get("literals", []))
        generated = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]}, "data": data}
        if generator.get("behavior") == "replace":
            (index,) = [i for i, o in enumerate(objects)
                        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == generator["name"]]
            generated["metadata"] = objects[index]["metadata"]
            objects[index] = generated
        else:
            objects.append(generated)
    for patch in kustomization.get("patches", []):
        ops = yaml.safe_load((directory / patch["path"]).read_text())
        target = patch["target"]
        (index,) = [i for i, o in enumerate(objects)
                    if o["kind"] == target["kind"] and o["metadata"]["name"] == target["name"]]
        objects[index] = _json_patch(objects[index], ops)
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
    job: dict[str, Any] = yaml.safe_load(text.replace("run-placeholder", RUN))
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
    subprocess.run([require_tool("sh"), "-n", "-c", script], check=True, timeout=30)  # syntax only
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
    _least_privilege(rendered)


def _least_privilege(rendered: dict[str, dict[str, Any]]) -> None:
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


# -- the variant whose shards push their reports to an OCI registry -----------------------

OCI = DEPLOY / "oci-reports"
RUN = "20261205-021700"


@pytest.fixture(scope="module")
def rendered_oci() -> dict[str, dict[str, Any]]:
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in _render(OCI)}


def test_the_oci_variant_validates_and_keeps_least_privilege(
        rendered: dict[str, dict[str, Any]], rendered_oci: dict[str, dict[str, Any]]) -> None:
    kubernetes_validate = require_module("kubernetes_validate")
    assert set(rendered_oci) == {*rendered, "ConfigMap/slsacheck-audit-oci"}
    for obj in [*rendered_oci.values(), _shard_job(rendered_oci)]:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    _least_privilege(rendered_oci)  # credentials come from a mounted Secret, not from API rights
    base, oci = _shard_job(rendered)["spec"], _shard_job(rendered_oci)["spec"]
    for key in ("completionMode", "completions", "parallelism", "backoffLimitPerIndex"):
        assert base[key] == oci[key], key


def _stub(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def test_the_oci_variant_merges_exactly_what_the_shards_push(
        rendered_oci: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    """Each shard pod's `--output-oci` tag, and the references the coordinator's script (run
    with kubectl, date and slsacheck stubbed) hands `audit merge`: the same N, in order."""
    repository = rendered_oci["ConfigMap/slsacheck-audit-oci"]["data"]["repository"]
    job = _shard_job(rendered_oci)
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    (from_map,) = [e for e in container["env"] if "valueFrom" in e]
    assert from_map["valueFrom"]["configMapKeyRef"] == {"name": "slsacheck-audit-oci", "key": "repository"}
    env["REPORTS_REPOSITORY"] = repository
    pushed = []
    for index in range(job["spec"]["completions"]):
        args = _args_parse(container["args"], {**env, "JOB_COMPLETION_INDEX": str(index)})
        assert args.shard == f"{index}/{job['spec']['completions']}"
        assert artifact.destination(args.output_oci).tag == f"{RUN}-shard-{index}"
        assert args.output_file is None and not args.outputs  # the artifact is the report
        pushed.append(args.output_oci)
    docker = next(v for v in pod["volumes"] if v["name"] == "docker")
    assert docker["secret"]["optional"] is False  # pushing needs the credentials: fail fast without
    assert args.docker_config == next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == "docker")

    cron = rendered_oci["CronJob/slsacheck-audit"]
    coordinator = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (main,) = coordinator["containers"]
    assert {"name": "docker", "mountPath": "/etc/slsacheck/docker", "readOnly": True} in main["volumeMounts"]
    assert any(v["name"] == "docker" and v["secret"]["secretName"] == "slsacheck-audit-registry"
               for v in coordinator["volumes"])
    bin_dir, reports, job_dir = tmp_path / "bin", tmp_path / "reports", tmp_path / "job"
    for d in (bin_dir, reports, job_dir):
        d.mkdir()
    (job_dir / "shards-job.yaml").write_text(
        rendered_oci["ConfigMap/slsacheck-audit-shards"]["data"]["shards-job.yaml"])
    _stub(bin_dir, "date", f"echo {RUN}")
    _stub(bin_dir, "kubectl", 'case "$1" in get) echo \'{"kind": "List", "items": []}\';; '
                              f'create) cat > {tmp_path}/created.yaml;; esac')
    _stub(bin_dir, "slsacheck", f"printf '%s\\n' \"$@\" > {tmp_path}/merge-args")
    script = main["args"][0].replace("/etc/slsacheck-audit/job", str(job_dir)).replace("/reports", str(reports))
    subprocess.run([require_tool("sh"), "-c", script], check=True, timeout=60,
                   env={"PATH": f"{bin_dir}:/usr/bin:/bin", "REPORTS_REPOSITORY": repository})
    argv = (tmp_path / "merge-args").read_text().splitlines()
    args = build_parser().parse_args(argv)
    assert args.images[0] == "merge" and args.images[1:] == pushed
    assert {"json", "policyreport"} <= set(_formats_and_file(args)[0]) and args.fail_on == "never"
    assert args.docker_config == "/etc/slsacheck/docker"
    created = yaml.safe_load((tmp_path / "created.yaml").read_text())
    assert created["metadata"]["name"] == f"slsacheck-audit-shards-{RUN}"
    assert (reports / RUN / "inventory.json").exists()
