"""AdmissionReview reading and writing over upstream documents (no network).

Every upstream request in the shared anchors parses; every workload kind yields its
images with the JSON Pointer of each image field (initContainers and ephemeralContainers
included); answers keep the uid and the apiVersion; malformed reviews are refused with
one clear reason; pin patches keep the tag and are idempotent.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import yaml

from slsacheck.admission.cache import TtlCache
from slsacheck.admission.metrics import Metrics
from slsacheck.admission.review import MalformedReview, images_of, parse_review, pin_patch, pinned, response
from tests.admission.support import ANCHORS, K8S_FIXTURE, ROLE, UPDATE, WORKLOADS
from tests.support.env import shared_file

EXPECTED = {
    "Deployment": [("/spec/template/spec/containers/0/image", "securesystemsengineering/alice-image:test")],
    "CronJob": [("/spec/jobTemplate/spec/template/spec/containers/0/image", "busybox")],
    "DaemonSet": [("/spec/template/spec/containers/0/image", "quay.io/fluentd_elasticsearch/fluentd:v2.5.2")],
    "StatefulSet": [("/spec/template/spec/containers/0/image", "registry.k8s.io/nginx-slim:0.8")],
    "Job": [("/spec/template/spec/containers/0/image", "perl:5.34.0")],
    "Deployment (initContainers)": [
        ("/spec/template/spec/initContainers/0/image", "busybox:1.32"),
        ("/spec/template/spec/containers/0/image", "redis:alpine"),
        ("/spec/template/spec/containers/1/image", "mysql:8"),
    ],
}


def _load(name: str) -> bytes:
    return shared_file(ANCHORS, name).read_bytes()


@pytest.mark.parametrize("label", sorted(WORKLOADS))
def test_every_workload_kind_yields_its_images_with_pointers(label: str) -> None:
    review = parse_review(_load(WORKLOADS[label]))
    assert review.operation == "CREATE" and review.uid
    found = images_of(review.kind, review.object)
    assert found, label
    for item in found:  # each pointer names exactly the field holding the image
        node: Any = review.object
        for token in item.pointer.lstrip("/").split("/"):
            node = node[int(token)] if isinstance(node, list) else node[token]
        assert node == item.image
    if label in EXPECTED:
        assert [(i.pointer, i.image) for i in found] == EXPECTED[label]
    if label == "Pod (initContainers)":
        assert [i.pointer.split("/")[2] for i in found] == ["initContainers", "containers"]
    if label == "Pod (ephemeralContainers)":
        assert found[-1].pointer == "/spec/ephemeralContainers/0/image" and found[-1].image == "nginx"


def test_kyverno_manifests_batch_v1_cronjob_and_ephemeral_pod() -> None:
    docs = list(yaml.safe_load_all(shared_file(
        ANCHORS, "kyverno__kyverno__test__conformance__chainsaw__image-validating-policies__autogen__"
        "autogen-deployments-cronjobs__good-deployment.yaml").read_text()))
    by_kind = {d["kind"]: d for d in docs}
    cron = images_of("CronJob", by_kind["CronJob"])
    assert [(i.pointer, i.image) for i in cron] == [
        ("/spec/jobTemplate/spec/template/spec/containers/0/image", "ghcr.io/kyverno/test-verify-image:signed")]
    pod = yaml.safe_load(shared_file(
        ANCHORS, "kyverno__kyverno__test__conformance__chainsaw__validate__clusterpolicy__cornercases__"
        "ephemeral-containers__chainsaw-step-04-apply-1-1.yaml").read_text())
    assert [i.pointer for i in images_of("Pod", pod)] == ["/spec/containers/0/image",
                                                          "/spec/ephemeralContainers/0/image"]


def test_answers_keep_uid_and_the_envelope_version() -> None:
    for name in (WORKLOADS["Deployment"], WORKLOADS["Pod"]):  # v1beta1 and v1 envelopes
        doc = json.loads(_load(name))
        review = parse_review(_load(name))
        answer = response(review, allowed=False, message="no", code=403)
        assert answer["apiVersion"] == doc["apiVersion"] and answer["kind"] == "AdmissionReview"
        assert answer["response"] == {"uid": doc["request"]["uid"], "allowed": False,
                                      "status": {"code": 403, "reason": "Forbidden", "message": "no"}}


def test_dry_run_at_either_place_is_honoured() -> None:
    assert parse_review(_load(K8S_FIXTURE)).dry_run is True  # request.dryRun: true
    doc = json.loads(_load(WORKLOADS["Pod"]))
    assert parse_review(json.dumps(doc).encode()).dry_run is False
    doc["dryRun"] = True  # the capture's top-level placement
    assert parse_review(json.dumps(doc).encode()).dry_run is True


def test_update_and_role_fixtures() -> None:
    review = parse_review(_load(UPDATE))
    assert review.operation == "UPDATE" and review.kind == "ReplicaSet"
    assert [i.image for i in images_of(review.kind, review.object)] == \
        [i.image for i in images_of(review.kind, review.old_object)]
    role = parse_review(_load(ROLE))  # extra top-level keys of a log capture are ignored
    assert role.kind == "Role" and images_of(role.kind, role.object) == []


@pytest.mark.parametrize(("body", "says"), [
    (b"{not json", "not JSON"),
    (b"[]", "not a JSON object"),
    (b'{"apiVersion": "v1", "kind": "Pod"}', "wrong apiVersion/kind"),
    (b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}', "no request"),
    (b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": null}', "no request"),
    (b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"operation": "CREATE"}}',
     "request.uid missing"),
    (b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u", '
     b'"operation": "CREATE", "object": {"kind": "Pod"}}}', "request.kind missing"),
    (b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u", '
     b'"kind": {"kind": "Pod"}}}', "request.operation missing"),
])
def test_malformed_reviews_are_refused_with_the_reason(body: bytes, says: str) -> None:
    with pytest.raises(MalformedReview) as info:
        parse_review(body)
    assert says in str(info.value) and info.value.hint


@pytest.mark.parametrize("spec", [
    None,
    "nginx",
    {"containers": "nginx"},
    {"containers": [{"name": "a"}]},
    {"containers": [{"name": "a", "image": 5}]},
    {"containers": ["nginx"]},
])
def test_a_workload_whose_images_cannot_be_read_is_malformed_not_empty(spec: dict[str, Any]) -> None:
    with pytest.raises(MalformedReview):
        images_of("Pod", {"kind": "Pod", "spec": spec})
    with pytest.raises(MalformedReview):
        images_of("Deployment", {"spec": {"template": {"spec": spec}}})


def test_pin_patch_keeps_the_tag_and_is_idempotent() -> None:
    digest = "sha256:" + "12" * 32
    review = parse_review(_load(WORKLOADS["Deployment (initContainers)"]))
    found = images_of(review.kind, review.object)
    ops = pin_patch(found, {"busybox:1.32": digest, "mysql:8": digest})
    assert ops == [
        {"op": "replace", "path": "/spec/template/spec/initContainers/0/image", "value": f"busybox:1.32@{digest}"},
        {"op": "replace", "path": "/spec/template/spec/containers/1/image", "value": f"mysql:8@{digest}"},
    ]
    assert pinned(f"busybox:1.32@{digest}", "sha256:" + "34" * 32) == f"busybox:1.32@{digest}"
    answer = response(review, allowed=True, patch=ops)["response"]
    assert answer["patchType"] == "JSONPatch" and json.loads(base64.b64decode(answer["patch"])) == ops
    with pytest.raises(ValueError, match="allowed"):
        response(review, allowed=False, patch=ops)


def test_ttl_cache_expires_and_stays_bounded() -> None:
    now = [0.0]
    cache: TtlCache[str, int] = TtlCache(10, 2, clock=lambda: now[0])
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and len(cache) == 2
    cache.put("d", 4, ttl=1)  # evicts c, the least recently used
    assert cache.get("c") is None
    now[0] = 5
    assert cache.get("d") is None and cache.get("a") == 1
    now[0] = 20
    assert cache.get("a") is None


def test_ttl_cache_holds_only_the_same_unexpired_objects_and_keeps_them_recent() -> None:
    now = [0.0]
    cache: TtlCache[str, str] = TtlCache(10, 2, clock=lambda: now[0])
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    cache.put("a", a)
    cache.put("b", b)
    assert cache.holding([("a", a), ("b", b)]) and cache.holding([])
    assert not cache.holding([("a", "".join(["sha256:", "a" * 64]))])  # equal text, another object: replaced
    assert not cache.holding([("c", a)])
    cache.holding([("a", a)])  # marked recently used: the next put evicts b
    cache.put("c", "c")
    assert cache.holding([("a", a)]) and not cache.holding([("b", b)])
    now[0] = 10
    assert not cache.holding([("a", a)])  # expired


def test_metrics_text_format() -> None:
    metrics = Metrics()
    metrics.decisions.inc(endpoint="validate", decision="denied")
    metrics.latency.observe(0.02, endpoint="validate")
    text = metrics.render()
    assert 'slsacheck_admission_decisions_total{decision="denied",endpoint="validate"} 1' in text
    assert 'slsacheck_admission_request_duration_seconds_bucket{endpoint="validate",le="0.025"} 1' in text
    assert 'slsacheck_admission_request_duration_seconds_bucket{endpoint="validate",le="0.01"} 0' in text
    assert 'slsacheck_admission_request_duration_seconds_count{endpoint="validate"} 1' in text
    assert "# TYPE slsacheck_admission_request_duration_seconds histogram" in text


def test_latency_buckets_count_every_observation_at_or_under_their_bound() -> None:
    metrics = Metrics()
    # On a bound, between two, under the first, over the last; the batch path counts the same.
    for seconds in (0.005, 0.0051, 0.001, 0.3, 11.0):
        metrics.latency.observe(seconds, endpoint="validate")
    metrics.answered((metrics.requests.series(endpoint="validate"),), metrics.latency.series(endpoint="validate"),
                     0.01)
    text = metrics.render()
    expected = {"0.005": 2, "0.01": 4, "0.025": 4, "0.25": 4, "0.5": 5, "10": 5, "+Inf": 6}
    for bound, count in expected.items():
        assert f'request_duration_seconds_bucket{{endpoint="validate",le="{bound}"}} {count}\n' in text, bound
    assert 'slsacheck_admission_request_duration_seconds_count{endpoint="validate"} 6' in text
    assert 'slsacheck_admission_requests_total{endpoint="validate"} 1' in text


def test_warn_mode_warnings_stay_within_what_the_api_server_keeps() -> None:
    from slsacheck.admission.judge import ImageResult
    from slsacheck.admission.messages import MAX_WARNINGS_TOTAL, decide
    from slsacheck.models.verdict import Check, Outcome, Verdict

    long_hint = "h" * 2000
    results = [ImageResult(f"registry.test/app{i}:v1", Verdict(
        f"registry.test/app{i}:v1", "sha256:" + "ab" * 32, ("p",),
        (Check("signatures.threshold", Outcome.FAIL, policy="p", found="no signature", hint=long_hint),)), "verified")
        for i in range(30)]
    enforce = decide(results, mode="enforce", what="Pod team/app")
    assert not enforce.allowed and enforce.message is not None and enforce.message.count(long_hint) == 30
    warn = decide(results, mode="warn", what="Pod team/app")
    assert warn.allowed and warn.label == "warned"
    assert sum(len(w) for w in warn.warnings) <= MAX_WARNINGS_TOTAL
    first = warn.warnings[0]
    assert first.startswith("registry.test/app0:v1 (sha256:") and "signatures.threshold [p]" in first
    assert warn.warnings[-1].startswith("… and ") and "more" in warn.warnings[-1]


def test_messages_and_warnings_quoting_evidence_reach_kubectl_escaped() -> None:
    from starlette.responses import JSONResponse

    review = parse_review(_load(WORKLOADS["Pod"]))
    hostile = "builder \x1b[2J\x1b[32mALLOWED\x07 \u202e \ud800"
    answer = response(review, allowed=False, message=f"denied:\n- {hostile}", code=403,
                      warnings=[f"line\n{hostile}"])["response"]
    assert answer["status"]["message"] == "denied:\n- builder \\u001b[2J\\u001b[32mALLOWED\\u0007 \\u202e \\ud800"
    assert answer["warnings"] == ["line\\u000abuilder \\u001b[2J\\u001b[32mALLOWED\\u0007 \\u202e \\ud800"]
    JSONResponse(answer).render(answer)  # encodable: the answer reaches the API server


@pytest.mark.parametrize(("user_info", "requester"), [
    ({"username": "system:serviceaccount:kube-system:replicaset-controller", "groups": ["system:serviceaccounts"]},
     "system:serviceaccount:kube-system:replicaset-controller"),
    ({"groups": ["system:authenticated"]}, ""),
    ({"username": ["alice"]}, ""),
    ("alice", ""),
    (None, ""),
])
def test_the_requester_is_the_user_name_or_one_shared_empty_name(user_info: Any, requester: str) -> None:
    doc = json.loads(_load(WORKLOADS["Pod"]))
    doc["request"]["userInfo"] = user_info
    assert parse_review(json.dumps(doc).encode()).requester == requester
