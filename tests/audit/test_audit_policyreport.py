"""`slsacheck audit --format policyreport`: PolicyReports that the wgpolicyk8s.io v1alpha2 CRDs accept.

An audit of two clusters' Pods (one image passing, one failing, one missing from the
registry) and of an image given by reference, written as PolicyReports: every item is
validated against the `openAPIV3Schema` of the v1alpha2 version of its CRD (read from the
shared upstream copy, `SLSACHECK_SHARED`), with negative controls showing the schema does
reject a bad result. One result per workload x check, summaries that add up, one
ClusterPolicyReport for the image no workload runs, names and labels kubectl accepts.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.audit import population as pop
from tests.audit.scenario import run_cli
from tests.support.env import shared_file
from tests.support.proxy import Proxy
from tests.support.registry import RunningRegistry

pytestmark = pytest.mark.integration
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def _validators() -> dict[str, Any]:
    import jsonschema

    out = {}
    for kind, name in (("PolicyReport", "wgpolicyk8s.io_policyreports.yaml"),
                       ("ClusterPolicyReport", "wgpolicyk8s.io_clusterpolicyreports.yaml")):
        crd = yaml.safe_load(shared_file("anchors", "policyreport", name).read_text())
        assert crd["spec"]["names"]["kind"] == kind
        version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha2")
        out[kind] = jsonschema.Draft7Validator(version["schema"]["openAPIV3Schema"])
    return out


def _pod(name: str, namespace: str, image: str, image_id: str) -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"containers": [{"name": "app", "image": image}]},
            "status": {"containerStatuses": [{"name": "app", "image": image, "imageID": image_id}]}}


def test_policy_reports_validate_and_hold_a_result_per_workload_and_check(
        registry_http: RunningRegistry, audit_proxy: Proxy, tmp_path: Path) -> None:
    validators = _validators()
    keys = pop.make_keys(tmp_path)
    base = f"preport-{secrets.token_hex(4)}"
    store = registry_http.store(f"{base}/web")
    front = f"{audit_proxy.host}/{base}/web"
    good = pop.push_image(store, "good", "good")
    ref = pop.ImageRef.parse(f"{registry_http.host}/{base}/web:good")
    pop.sign(store, ref, keys.release)
    pop.attest(store, ref, keys.release, pop.provenance())
    bad = pop.push_image(store, "bad", "bad")
    missing = "sha256:" + "e" * 64
    policy = pop.policy_file(tmp_path, front)
    for cluster, namespace in (("east", "shop"), ("west", "shop")):
        (tmp_path / f"{cluster}.json").write_text(json.dumps({"kind": "List", "items": [
            _pod("web", namespace, f"{front}:good", f"{front}@{good.digest}"),
            _pod("batch", "jobs", f"{front}:bad", f"{front}@{bad.digest}"),
            _pod("gone", "jobs", f"{front}:gone", f"{front}@{missing}"),
        ]}))
    out = tmp_path / "reports"
    code, _, err = run_cli("audit", "--kube-inventory", str(tmp_path / "east.json"), "--kube-inventory",
                           str(tmp_path / "west.json"), f"{front}:bad", "--policy", str(policy),
                           "--format", "json", "--format", "policyreport", "--output", f"{out}/", "--quiet")
    assert code == 3, err  # the missing image could not be audited
    doc = json.loads((out / "audit.policyreport.json").read_text())
    audit = json.loads((out / "audit.json").read_text())
    assert doc["apiVersion"] == "v1" and doc["kind"] == "List"
    items = doc["items"]
    for item in items:
        errors = list(validators[item["kind"]].iter_errors(item))
        assert not errors, [e.message for e in errors[:3]]
        assert item["apiVersion"] == "wgpolicyk8s.io/v1alpha2"
        assert _DNS_SUBDOMAIN.fullmatch(item["metadata"]["name"])
        assert item["summary"] == {r: sum(1 for x in item["results"] if x["result"] == r)
                                   for r in ("pass", "fail", "warn", "error", "skip")}
        for result in item["results"]:
            assert set(result) >= {"policy", "rule", "result", "message", "scored"} and result["scored"] is True
    keyed = [(i["kind"], i["metadata"]["labels"].get("slsacheck.dev/cluster"), i["metadata"].get("namespace"))
             for i in items]
    assert keyed == [("PolicyReport", "east", "jobs"), ("PolicyReport", "east", "shop"),
                     ("PolicyReport", "west", "jobs"), ("PolicyReport", "west", "shop"),
                     ("ClusterPolicyReport", None, None)]
    records = {r["image"]: r for r in audit["images"]}
    good_checks = records[f"{front}@{good.digest}"]["verdict"]["checks"]
    shop = items[1]["results"]
    # One result per check of the one workload in the namespace, named by the check id.
    assert [r["rule"] for r in shop] == [c["id"] for c in good_checks]
    assert {r["result"] for r in shop} == {"pass"} and all(r["policy"] == "release" for r in shop)
    assert shop[0]["resources"] == [{"apiVersion": "v1", "kind": "Pod", "namespace": "shop", "name": "web"}]
    assert shop[0]["properties"]["digest"] == str(good.digest)
    jobs = items[0]["results"]
    failed = {r["rule"] for r in jobs if r["result"] == "fail"}
    assert "signatures.threshold" in failed and "attestations.provenance.present" in failed
    errored = [r for r in jobs if r["result"] == "error"]
    assert [(r["rule"], r["resources"][0]["name"]) for r in errored] == [("verification.complete", "gone")]
    assert errored[0]["properties"]["digest"] == missing and errored[0]["message"]
    # The image given by reference is listed by no workload: the cluster-wide report has it.
    cluster = items[-1]["results"]
    assert {r["properties"]["image"] for r in cluster} == {f"{front}:bad"}
    assert "resources" not in cluster[0]
    # Negative controls: the schema does reject what kubectl would refuse.
    broken = json.loads(json.dumps(items[1]))
    broken["results"][0]["result"] = "maybe"
    assert list(validators["PolicyReport"].iter_errors(broken))
    del broken["results"][0]["policy"]
    broken["results"][0]["result"] = "pass"
    assert list(validators["PolicyReport"].iter_errors(broken))
    # Byte-identical again, timestamps aside.
    code, again, _ = run_cli("audit", "--kube-inventory", str(tmp_path / "east.json"), "--kube-inventory",
                             str(tmp_path / "west.json"), f"{front}:bad", "--policy", str(policy),
                             "--format", "policyreport", "--quiet")
    assert re.sub(r'"seconds": \d+', "", again) == re.sub(r'"seconds": \d+', "",
                                                          (out / "audit.policyreport.json").read_text())


def test_an_inventory_is_skipped_results_and_an_empty_audit_one_empty_report(tmp_path: Path) -> None:
    from slsacheck.oci import scratch
    from slsacheck.oci.layout import LayoutStore

    validators = _validators()
    layout = tmp_path / "layout"
    scratch.push(LayoutStore(layout, create=True), scratch.image({"f": b"x"}), tag="v1")
    code, out, _ = run_cli("audit", f"oci:{layout}", "--format", "policyreport", "--quiet")
    assert code == 0
    (item,) = json.loads(out)["items"]
    assert not list(validators["ClusterPolicyReport"].iter_errors(item))
    assert [(r["rule"], r["result"]) for r in item["results"]] == [("audit.inventory", "skip")]
    code, out, _ = run_cli("audit", "--allow-empty", "--format", "policyreport", "--quiet")
    assert code == 0
    (item,) = json.loads(out)["items"]
    assert item["kind"] == "ClusterPolicyReport" and item["results"] == [] and item["summary"]["pass"] == 0
