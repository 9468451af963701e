"""`slsacheck audit --kube-inventory`: the digests that run, once each, with the workloads that run them.

Two clusters' inventories as kubectl writes them (a typed `PodList` whose items carry no
kind, and a `List` mixing a Deployment, a CronJob, a Service and a Pod) over images in
the loopback registry: every runtime spelling of imageID, init containers, a Pending
Pod, a tag that moved after the Pods started. Then bad inventories, each refused with a
one-line error that names the object (exit 2), never a traceback.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from slsacheck.audit import kube
from tests.audit import population as pop
from tests.audit.scenario import run_cli
from tests.support.env import ROOT
from tests.support.proxy import Proxy
from tests.support.registry import RunningRegistry


def _pod(name: str, namespace: str, containers: list[tuple[str, str, str | None]],
         init: list[tuple[str, str, str | None]] = (), kind: bool = True) -> dict[str, Any]:  # type: ignore[assignment]
    """A Pod; each container (name, spec image, status imageID or None for no status)."""
    pod: dict[str, Any] = {
        "apiVersion": "v1", "metadata": {"name": name, "namespace": namespace, "uid": secrets.token_hex(8)},
        "spec": {"containers": [{"name": n, "image": i} for n, i, _ in containers],
                 "initContainers": [{"name": n, "image": i} for n, i, _ in init]},
        "status": {"phase": "Running",
                   "containerStatuses": [{"name": n, "image": i, "imageID": s, "ready": True}
                                         for n, i, s in containers if s is not None],
                   "initContainerStatuses": [{"name": n, "image": i, "imageID": s}
                                             for n, i, s in init if s is not None]},
    }
    if kind:
        pod["kind"] = "Pod"
    return pod


def _deployment(kind: str, name: str, namespace: str, image: str) -> dict[str, Any]:
    template = {"spec": {"containers": [{"name": "main", "image": image}]}}
    spec: dict[str, Any] = {"template": template}
    if kind == "CronJob":
        spec = {"schedule": "@daily", "jobTemplate": {"spec": {"template": template}}}
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": namespace},
            "spec": spec, "status": {"replicas": 1}}


@pytest.mark.integration
def test_running_digests_are_judged_once_with_their_workloads(
        registry_http: RunningRegistry, audit_proxy: Proxy, tmp_path: Path) -> None:
    keys = pop.make_keys(tmp_path)
    base = f"kube-{secrets.token_hex(4)}"
    store = registry_http.store(f"{base}/web")
    front = f"{audit_proxy.host}/{base}/web"

    def signed(tag: str, seed: str) -> str:
        built = pop.push_image(store, tag, seed)
        ref = pop.ImageRef.parse(f"{registry_http.host}/{base}/web:{tag}")
        pop.sign(store, ref, keys.release)
        pop.attest(store, ref, keys.release, pop.provenance())
        return str(built.digest)

    running = signed("v1", "first-build")
    moved_to = signed("v1", "second-build")  # v1 moved after the Pods started
    unsigned = str(pop.push_image(store, "v2", "unsigned").digest)
    policy = pop.policy_file(tmp_path, front)

    prod = tmp_path / "prod.json"
    prod.write_text(json.dumps({"apiVersion": "v1", "kind": "PodList", "items": [
        _pod("web-1", "shop", [("app", f"{front}:v1", f"docker-pullable://{front}@{running}")],
             init=[("migrate", f"{front}:v2", f"{front}@{unsigned}")], kind=False),
        _pod("web-2", "shop", [("app", f"{front}:v1", running)], kind=False),  # bare sha256: no repository
        _pod("web-3", "shop", [("app", f"{front}:v2", None)], kind=False),  # Pending: no status
    ]}))
    staging = tmp_path / "staging.json"
    staging.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        _pod("web-1", "shop", [("app", f"{front}:v1", f"{front}@{running}")]),  # same names, other cluster
        _deployment("Deployment", "web", "shop", f"{front}:v1"),
        _deployment("CronJob", "report", "batch", f"{front}@{unsigned}"),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"}, "spec": {}},
    ]}))
    code, out, err = run_cli("audit", "--kube-inventory", f"prod={prod}", "--kube-inventory", str(staging),
                             "--kube-inventory", f"prod={prod}",  # the same file twice: listed once
                             "--policy", str(policy), "--format", "json", "--quiet")
    assert code == 1, err
    doc = json.loads(out)
    records = {r["image"]: r for r in doc["images"]}
    assert list(records) == sorted(records)
    assert set(records) == {f"{front}@{running}", f"{front}@{unsigned}", f"{front}:v1", f"{front}:v2"}

    live = records[f"{front}@{running}"]
    assert live["outcome"] == "pass" and live["running"] is True and live["sameAs"] is None
    assert [(w["cluster"], w["namespace"], w["kind"], w["name"], w["container"]) for w in live["workloads"]] == [
        ("prod", "shop", "Pod", "web-1", "app"), ("prod", "shop", "Pod", "web-2", "app"),
        ("staging", "shop", "Pod", "web-1", "app")]
    bare = live["workloads"][1]
    assert "without a repository" in bare["note"] and running in bare["note"]
    assert live["tags"] == [{"tag": f"{front}:v1", "digest": moved_to, "moved": True}]

    init = records[f"{front}@{unsigned}"]
    assert init["outcome"] == "fail" and init["running"] is True
    assert {(w["cluster"], w["kind"], w["name"], w["container"], w["running"]) for w in init["workloads"]} == {
        ("prod", "Pod", "web-1", "migrate", True), ("staging", "CronJob", "report", "main", False)}
    assert init["tags"] == [{"tag": f"{front}:v2", "digest": unsigned, "moved": False}]

    # Named by a spec alone: judged by what the tag points at now, and flagged.
    deployment = records[f"{front}:v1"]
    assert deployment["digest"] == moved_to and deployment["outcome"] == "pass" and deployment["running"] is False
    assert deployment["workloads"] == [{"cluster": "staging", "namespace": "shop", "kind": "Deployment",
                                        "name": "web", "container": "main", "running": False,
                                        "note": kube.NOT_RUNNING_TAG}]
    pending = records[f"{front}:v2"]
    assert pending["digest"] == unsigned and pending["running"] is False
    assert pending["workloads"][0]["note"] == kube.NOT_RUNNING_TAG
    # One verification per digest: the two entries of the unsigned digest share one.
    assert {pending["sameAs"], init["sameAs"]} == {None, f"{front}:v2"}
    assert doc["summary"]["uniqueDigests"] == 3
    assert f"kube:prod={prod}" in doc["sources"]
    _assert_schema_valid(doc)


def _assert_schema_valid(doc: dict[str, Any]) -> None:
    import jsonschema
    from referencing import Registry, Resource

    schemas = ROOT / "schemas"
    resources = [Resource.from_contents(json.loads((schemas / n).read_text()))
                 for n in ("audit-report.schema.json", "verdict.schema.json")]
    registry: Registry[Any] = Registry().with_resources((str(r.contents["$id"]), r) for r in resources)
    validator = jsonschema.Draft202012Validator(resources[0].contents, registry=registry)
    errors = list(validator.iter_errors(doc))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    # A negative control: a workload without its cluster is not a report the schema accepts.
    entry = next(r for r in doc["images"] if r.get("workloads"))
    del entry["workloads"][0]["cluster"]
    assert list(validator.iter_errors(doc))


def _write(tmp_path: Path, doc: Any) -> str:
    path = tmp_path / "inventory.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def _one(*items: Any) -> dict[str, Any]:
    return {"kind": "List", "items": list(items)}


BAD = {
    "not json": ("{kind: List", "not JSON"),
    "an array": ([{"kind": "Pod"}], "not a Kubernetes list"),
    "a Service": ({"kind": "Service", "metadata": {"name": "x"}}, "not a Kubernetes list"),
    "no items": ({"kind": "List"}, "not a Kubernetes list"),
    "item not an object": ({"kind": "List", "items": ["pod"]}, "items[0] is not an object"),
    "item without kind": ({"kind": "List", "items": [{"metadata": {"name": "p"}}]}, "items[0] has no kind"),
    "pod without name": ({"kind": "PodList", "items": [{"spec": {"containers": []}}]}, "Pod without metadata.name"),
    "pod without spec": ({"kind": "List", "items": [{"kind": "Pod", "metadata": {"name": "p", "namespace": "n"}}]},
                         "Pod n/p: no Pod spec"),
    "container without image": (_one({"kind": "Deployment", "metadata": {"name": "d", "namespace": "n"},
                                      "spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}),
                                "Deployment n/d: containers[0] (c): no image"),
    "bad image": (_one(_pod("p", "n", [("c", "Not A Ref!", None)])), "Pod n/p: containers[0] (c)"),
    "imageID without digest": (_one(_pod("p", "n", [("c", "r.example/a:1", "docker://r.example/a:1")])),
                               "imageID 'docker://r.example/a:1' names no digest"),
    "imageID short digest": (_one(_pod("p", "n", [("c", "r.example/a:1", "sha256:xyz")])),
                             "imageID 'sha256:xyz' names no digest"),
    "imageID garbage": (_one(_pod("p", "n", [("c", "r.example/a:1", "docker-pullable://A B@x")])),
                        "imageID 'docker-pullable://A B@x' is not a reference"),
    "statuses not a list": ({"kind": "List", "items": [
        {"kind": "Pod", "metadata": {"name": "p", "namespace": "n"}, "spec": {"containers": []},
         "status": {"containerStatuses": {}}}]}, "Pod n/p: status.containerStatuses is not a list"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_inventories_are_input_errors_naming_the_object(case: str, tmp_path: Path) -> None:
    doc, words = BAD[case]
    path = _write(tmp_path, doc)
    code, out, err = run_cli("audit", "--kube-inventory", path, "--format", "json")
    assert code == 2, err
    assert words in err and path in err
    assert "Traceback" not in err and out == ""
    lines = err.strip().splitlines()
    assert lines[0].startswith("error: ") and len(lines) <= 4  # the error; expected, found, hint


def test_a_missing_file_and_stdin_twice_are_usage_errors(tmp_path: Path) -> None:
    code, _, err = run_cli("audit", "--kube-inventory", str(tmp_path / "absent.json"))
    assert code == 2 and "cannot read it" in err
    code, _, err = run_cli("audit", "--kube-inventory", "-", "--images-file", "-")
    assert code == 2 and "stdin" in err


def test_stdin_and_an_empty_cluster() -> None:
    code, out, err = run_cli("audit", "--kube-inventory", "-", "--format", "json", "--quiet",
                             stdin=json.dumps({"apiVersion": "v1", "kind": "PodList", "items": []}))
    assert code == 2 and "listed no image" in err
    code, out, err = run_cli("audit", "--kube-inventory", "-", "--format", "json", "--quiet", "--allow-empty",
                             stdin=json.dumps({"apiVersion": "v1", "kind": "PodList", "items": []}))
    assert code == 0 and json.loads(out)["sources"] == ["kube:stdin=-"]


def test_runtime_spellings_of_one_digest_are_one_entry() -> None:
    digest = "sha256:" + "ab" * 32
    forms = [f"docker-pullable://r.example/team/app@{digest}", f"r.example/team/app@{digest}",
             digest, f"docker://{digest}"]
    items = [_pod(f"p{n}", "ns", [("c", "r.example/team/app:1.0", form)]) for n, form in enumerate(forms)]
    containers = kube._containers({"kind": "List", "items": items}, "c1", "inv")
    targets = kube.group(containers)
    assert [t.text for t in targets] == [f"r.example/team/app@{digest}"]
    deployed = targets[0].deployed
    assert deployed is not None and deployed.running and len(deployed.workloads) == 4
    assert deployed.tags == ("r.example/team/app:1.0",)
