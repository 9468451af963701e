"""The audit as PolicyReports (`wgpolicyk8s.io/v1alpha2`), for `kubectl apply` and the tools that show them.

One JSON `v1/List` whose items are a `PolicyReport` per (cluster, namespace) that runs an
audited image (`--kube-inventory`) and one `ClusterPolicyReport` for images no workload
was found for (registry, file and layout sources). A result is one check of one image for
one workload: `policy` the policy that made the check, `rule` the check id,
`result` pass/fail/warn/skip (an image that could not be audited: one `error` result,
rule `verification.complete`; an inventory without policy: one `skip`, rule
`audit.inventory`), `message`, `resources` (the workload), `scored` true, `source`
slsacheck, and `properties` naming the image, its digest and the container.

Every report is named `slsacheck-audit` so that the next night's `kubectl apply` replaces
it; each carries the label `slsacheck.dev/cluster` of the cluster its workloads were
listed in: with several clusters, apply to each with `-l slsacheck.dev/cluster=NAME`.
Reports are sorted by cluster and namespace, results in the report's image order. The
results are grouped in memory (a few hundred bytes each); the images are not.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, TextIO

from slsacheck._json import dumps_report
from slsacheck.audit.report import Report

API_VERSION = "wgpolicyk8s.io/v1alpha2"
NAME = "slsacheck-audit"
SOURCE = "slsacheck"
CLUSTER_LABEL = "slsacheck.dev/cluster"
RESULTS = ("pass", "fail", "warn", "error", "skip")
_API_VERSIONS = {"Pod": "v1", "ReplicationController": "v1", "Job": "batch/v1", "CronJob": "batch/v1"}


def _seconds(stamp: Any) -> int:
    try:
        return int(datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def _message(check: Mapping[str, Any]) -> str:
    parts = [str(check[k]) if k == "message" else f"{k}: {check[k]}"
             for k in ("message", "expected", "found", "hint") if check.get(k)]
    return "; ".join(parts) or f"{check['id']}: {check['outcome']}"


def _checks(record: Mapping[str, Any], policies: list[str]) -> Iterator[tuple[str, str, str, str]]:
    """(policy, rule, result, message) per check of one image."""
    verdict = record.get("verdict") or {}
    checks = verdict.get("checks") or []
    if record.get("outcome") == "error" and not any(c.get("id") == "verification.complete" for c in checks):
        yield ",".join(policies) or SOURCE, "verification.complete", "error", str(record.get("error") or "not audited")
    if record.get("outcome") == "inventory":
        level = record.get("slsaLevel")
        yield SOURCE, "audit.inventory", "skip", f"no policy judged this image (inventory; SLSA build level {level})"
    for check in checks:
        result = check.get("outcome")
        yield (str(check.get("policy") or ",".join(verdict.get("policies") or []) or SOURCE), str(check["id"]),
               result if result in RESULTS else "error", _message(check))


def _resource(workload: Mapping[str, Any]) -> dict[str, str]:
    kind = str(workload["kind"])
    return {"apiVersion": _API_VERSIONS.get(kind, "apps/v1"), "kind": kind, "namespace": str(workload["namespace"]),
            "name": str(workload["name"])}


def _result(check: tuple[str, str, str, str], record: Mapping[str, Any], seconds: int,
            workload: Mapping[str, Any] | None) -> dict[str, Any]:
    policy, rule, result, message = check
    properties = {"image": str(record.get("image")), "digest": str(record.get("digest") or "")}
    out: dict[str, Any] = {"policy": policy, "rule": rule, "result": result, "message": message, "scored": True,
                           "source": SOURCE, "timestamp": {"seconds": seconds, "nanos": 0}}
    if workload is not None:
        out["resources"] = [_resource(workload)]
        properties["container"] = str(workload["container"])
        properties["running"] = "true" if workload.get("running") else "false"
    out["properties"] = properties
    return out


def _report(kind: str, cluster: str | None, namespace: str | None, results: list[dict[str, Any]]
            ) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": NAME}
    if namespace is not None:
        metadata["namespace"] = namespace
    labels = {"app.kubernetes.io/managed-by": SOURCE}
    if cluster is not None:
        labels[CLUSTER_LABEL] = cluster
    metadata["labels"] = labels
    summary = dict.fromkeys(RESULTS, 0)
    for result in results:
        summary[result["result"]] += 1
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "summary": summary, "results": results}


def policy_reports(report: Report) -> list[dict[str, Any]]:
    seconds = _seconds(report.meta.get("finishedAt"))
    policies = [str(p) for p in report.meta.get("policies") or []]
    namespaced: dict[tuple[str, str], list[dict[str, Any]]] = {}
    cluster_wide: list[dict[str, Any]] = []
    for record in report.records():
        checks = list(_checks(record, policies))
        workloads = record.get("workloads")
        if not workloads:
            cluster_wide += [_result(c, record, seconds, None) for c in checks]
            continue
        for workload in workloads:
            key = (str(workload["cluster"]), str(workload["namespace"]))
            namespaced.setdefault(key, []).extend(_result(c, record, seconds, workload) for c in checks)
    items = [_report("PolicyReport", cluster, namespace, results)
             for (cluster, namespace), results in sorted(namespaced.items())]
    if cluster_wide or not items:
        items.append(_report("ClusterPolicyReport", None, None, cluster_wide))
    return items


def write_policyreport(report: Report, out: TextIO) -> None:
    doc = {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": policy_reports(report)}
    out.write(dumps_report(doc, indent=2, ensure_ascii=False))
    out.write("\n")
