"""The webhook over real HTTPS against the real loopback registry with signed and unsigned images.

Upstream AdmissionReviews for every workload kind (images rewritten in memory to test
images) are allowed when every image is signed and attested as the policy demands and
denied, naming the failed check ids, when one is not; warn mode allows with the same
text as warnings; dry runs answer the same and leave no cache behind; an UPDATE that
adds no image makes no lookup; images no policy matches make no registry call; a
malformed review is HTTP 400; an unreachable or stuck registry denies (fail closed).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import replace

import pytest

from slsacheck.signing.keys import fingerprint, load_public_key
from tests.admission.conftest import ServerFactory, Stock
from tests.admission.support import (
    ANCHORS,
    K8S_FIXTURE,
    ROLE,
    UPDATE,
    WORKLOADS,
    Images,
    RunningWebhook,
    images_in,
    pod_review,
    review_from,
    rewrite_images,
)
from tests.support.env import shared_file
from tests.support.registry import RunningRegistry, free_port
from tests.support.servers import black_hole

pytestmark = pytest.mark.integration

FAILED_IDS = ("signatures.threshold", "attestations.provenance.present")


def _status(answer: dict[str, object]) -> dict[str, object]:
    response = answer["response"]
    assert isinstance(response, dict)
    return response


@pytest.mark.parametrize("label", sorted(WORKLOADS))
def test_each_workload_kind_allowed_when_signed_denied_when_not(
    label: str, webhook: RunningWebhook, stock: Stock
) -> None:
    path = shared_file(ANCHORS, WORKLOADS[label])
    good = [img.text for img in stock.good]
    doc = review_from(path, good)
    answer = webhook.answer("/validate", doc)
    response = _status(answer)
    assert answer["apiVersion"] == json.loads(path.read_text())["apiVersion"]
    assert response["uid"] == doc["request"]["uid"] and response["allowed"] is True, response

    bad = review_from(path, [stock.bad.text, *good])
    response = _status(webhook.answer("/validate", bad))
    assert response["allowed"] is False
    status = response["status"]
    assert isinstance(status, dict) and status["code"] == 403
    message = status["message"]
    assert f"{stock.bad.text} ({stock.bad.digest}): fail" in message
    for check in FAILED_IDS:
        assert check in message
    assert "hint:" in message
    assert not any(img in message for img in good)  # only the failing image is named


def test_pod_with_five_containers_one_bad(webhook: RunningWebhook, stock: Stock, images: Images) -> None:
    wrong_key = images.sign(images.push("wrongkey"), by=images.other)
    texts = [stock.good[0].text, stock.good[1].text, wrong_key.text, stock.good[2].text, stock.good[3].text]
    doc = pod_review(texts)
    doc["request"]["object"]["spec"]["initContainers"] = [{"name": "init", "image": stock.good[0].text}]
    response = _status(webhook.answer("/validate", doc))
    assert response["allowed"] is False
    message = response["status"]["message"]  # type: ignore[index]
    assert message.startswith("slsacheck: 1 of 5 images of Pod team/app failed verification")
    line = next(line for line in message.splitlines() if wrong_key.text in line)
    assert wrong_key.digest in line and "signatures.threshold [release]" in line
    release = fingerprint(load_public_key(images.signer.public_key_pem))[:16]
    assert (f"signed by a key that is not one of authority release-key's keys (sha256:{release}), or changed "
            "after signing") in line
    assert "the evidence does not name the key" in line and "does not verify" not in line
    assert "attestations.provenance.present" in line


def test_warn_mode_allows_with_the_same_text_as_warnings(
    start_webhook: ServerFactory, webhook: RunningWebhook, stock: Stock
) -> None:
    warn = start_webhook(mode="warn")
    doc = pod_review([stock.good[0].text, stock.bad.text])
    denied = _status(webhook.answer("/validate", doc))
    allowed = _status(warn.answer("/validate", doc))
    assert denied["allowed"] is False and allowed["allowed"] is True
    lines = [line.removeprefix("- ") for line in denied["status"]["message"].splitlines()[1:]]  # type: ignore[index]
    assert allowed["warnings"] == lines
    assert all(check in allowed["warnings"][0] for check in FAILED_IDS)  # type: ignore[index]
    assert warn.metric("decisions", endpoint="validate", decision="warned") == 1


def test_dry_run_answers_the_same_and_writes_no_cache(webhook: RunningWebhook, images: Images) -> None:
    fresh = images.signed("dryrun")
    dry = _status(webhook.answer("/validate", pod_review([fresh.text], dry_run=True)))
    assert dry["allowed"] is True
    assert webhook.metric("verifications") == 1
    assert len(webhook.webhook.judge.verdicts) == 0 and len(webhook.webhook.judge.tags) == 0
    real = _status(webhook.answer("/validate", pod_review([fresh.text])))
    assert real["allowed"] is True and webhook.metric("verifications") == 2  # not served from a dry run
    again = _status(webhook.answer("/validate", pod_review([fresh.text], dry_run=True)))
    assert again["allowed"] is True and webhook.metric("verifications") == 2  # dry runs read the cache
    # The upstream fixture with every field set (dryRun: true, an operation that is no CREATE).
    doc = json.loads(shared_file(ANCHORS, K8S_FIXTURE).read_text())
    response = _status(webhook.answer("/validate", doc))
    assert response["uid"] == "uidValue" and response["allowed"] is True


def test_update_without_image_change_makes_no_lookup(webhook: RunningWebhook) -> None:
    # The images point at a registry that does not exist: any lookup would deny.
    nowhere = f"127.0.0.1:{free_port()}/adm/x/app:v1"
    doc = json.loads(shared_file(ANCHORS, UPDATE).read_text())
    rewrite_images(doc, [nowhere])
    rewrite_images(doc, [nowhere], which="oldObject")
    response = _status(webhook.answer("/validate", doc))
    assert response["allowed"] is True and "without lookups" in response["status"]["message"]  # type: ignore[index]
    assert webhook.metric("image_decisions", how="unchanged") == 1
    assert webhook.metric("resolutions") == 0 and webhook.metric("verifications") == 0


def test_update_adding_an_image_is_checked(webhook: RunningWebhook, stock: Stock) -> None:
    doc = pod_review([stock.good[0].text, stock.bad.text], operation="UPDATE", old_images=[stock.good[0].text])
    response = _status(webhook.answer("/validate", doc))
    assert response["allowed"] is False and stock.bad.text in response["status"]["message"]  # type: ignore[index]


def test_unmatched_images_are_decided_without_registry_calls(
    start_webhook: ServerFactory, registry_tls: RunningRegistry, images: Images, workdir: object
) -> None:
    webhook = start_webhook()
    nowhere = f"127.0.0.1:{free_port()}/elsewhere/app:v1"  # no policy matches, nothing listens there
    response = _status(webhook.answer("/validate", pod_review([nowhere, "nginx:1.27"])))
    assert response["allowed"] is False
    assert "policy.match" in response["status"]["message"]  # type: ignore[index]
    assert webhook.metric("image_decisions", how="no_match") == 2
    assert webhook.metric("resolutions") == 0 and webhook.metric("verifications") == 0


def test_a_role_and_other_operations_are_allowed_with_a_reason(webhook: RunningWebhook) -> None:
    response = _status(webhook.answer("/validate", json.loads(shared_file(ANCHORS, ROLE).read_text())))
    assert response["allowed"] is True and "Role has no pod spec" in response["status"]["message"]  # type: ignore[index]
    delete = pod_review(["nginx"], operation="DELETE")
    response = _status(webhook.answer("/validate", delete))
    assert response["allowed"] is True and "DELETE allowed" in response["status"]["message"]  # type: ignore[index]


@pytest.mark.parametrize(("body", "says"), [
    (b"{oops", "AdmissionReview: not JSON"),
    # Nesting past Python's recursion limit, and nesting under it but past the bound that
    # keeps every later walk of the document (logs, CEL, JSON patches) from recursing.
    (b'{"kind":"AdmissionReview","request":' + b"[" * 50_000 + b"]" * 50_000 + b"}", "AdmissionReview: not JSON"),
    (json.dumps({**pod_review(["nginx"]), "x": json.loads("[" * 150 + "]" * 150)}).encode(),
     "AdmissionReview: not JSON"),
    (b'{"kind": "AdmissionReview"}', "AdmissionReview: wrong apiVersion/kind"),
    (json.dumps(pod_review(["nginx"])).replace('"image"', '"img"').encode(),
     "Pod: spec.containers[0].image is not a string"),
])
def test_malformed_review_is_http_400_with_a_message(webhook: RunningWebhook, body: bytes, says: str) -> None:
    reply = webhook.post("/validate", None, raw=body)
    assert reply.status_code == 400
    assert reply.text.startswith(says) and "hint:" in reply.text
    assert webhook.metric("bad_requests", endpoint="validate") == 1


def test_unreachable_registry_denies_in_enforce_mode(start_webhook: ServerFactory, workdir: object) -> None:
    from tests.admission.support import write_policy

    port = free_port()
    policy = write_policy(workdir, _FakeRegistry(f"127.0.0.1:{port}"), file="unreachable.yaml",  # type: ignore[arg-type]
                          name="unreachable")
    webhook = start_webhook([policy], budget_seconds=5)
    response = _status(webhook.answer("/validate", pod_review([f"127.0.0.1:{port}/adm/x/app:v1"])))
    assert response["allowed"] is False
    message = response["status"]["message"]  # type: ignore[index]
    assert "error: verification.complete: resolving" in message
    assert webhook.metric("registry_errors") == 1
    warn = start_webhook([policy], mode="warn")
    response = _status(warn.answer("/validate", pod_review([f"127.0.0.1:{port}/adm/x/app:v1"])))
    assert response["allowed"] is True and "verification.complete" in response["warnings"][0]  # type: ignore[index]


class _FakeRegistry:
    def __init__(self, host: str) -> None:
        self.host = host


@pytest.fixture
def stuck_registry() -> Iterator[str]:
    """A TCP server that accepts connections and never answers (a registry that hangs)."""
    with black_hole() as hole:
        yield hole.host


def test_a_registry_that_hangs_denies_within_the_budget_with_the_reason(
    start_webhook: ServerFactory, workdir: object, stuck_registry: str, registry_tls: RunningRegistry
) -> None:
    from tests.admission.support import write_policy

    policy = write_policy(workdir, _FakeRegistry(stuck_registry), file="stuck.yaml", name="stuck")  # type: ignore[arg-type]
    # A registry timeout above the budget: the webhook caps it so the call ends inside the budget.
    webhook = start_webhook([policy], budget_seconds=2, options=replace(registry_tls.options, timeout=30.0, retries=3))
    response = _status(webhook.answer("/validate", pod_review([f"{stuck_registry}/adm/x/app:v1"])))
    assert response["allowed"] is False
    message = response["status"]["message"]  # type: ignore[index]
    # Whichever ends first, the budget or the capped registry timeout, the deny says why.
    assert (f"time budget of 2s ran out before {stuck_registry}/adm/x/app:v1" in message
            or (f"cannot reach {stuck_registry}" in message and "Timeout" in message)), message
    assert webhook.metric("image_decisions", how="budget") + webhook.metric("registry_errors") >= 1


def test_mutate_pins_the_verified_digest_keeping_the_tag(webhook: RunningWebhook, stock: Stock) -> None:
    doc = review_from(shared_file(ANCHORS, WORKLOADS["Deployment (initContainers)"]),
                      [stock.good[0].text, stock.good[1].text, f"{stock.good[2].text.split(':v1')[0]}@"
                       f"{stock.good[2].digest}"])
    response = _status(webhook.answer("/mutate", doc))
    assert response["allowed"] is True and response["patchType"] == "JSONPatch"
    patch = json.loads(base64.b64decode(str(response["patch"])))
    assert patch == [
        {"op": "replace", "path": "/spec/template/spec/initContainers/0/image",
         "value": f"{stock.good[0].text}@{stock.good[0].digest}"},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image",
         "value": f"{stock.good[1].text}@{stock.good[1].digest}"},
    ]  # the third image was pinned already: no op for it
    # The patched object, sent again (reinvocation), needs no patch and is judged from the cache.
    before = webhook.metric("verifications")
    pinned_doc = rewrite_images(doc, [op["value"] for op in patch] + [images_in(doc)[2]])
    response = _status(webhook.answer("/mutate", pinned_doc))
    assert response["allowed"] is True and "patch" not in response
    assert webhook.metric("verifications") == before
    # /validate never patches.
    assert "patch" not in _status(webhook.answer("/validate", doc))


def test_mutate_denies_what_validate_denies(webhook: RunningWebhook, stock: Stock) -> None:
    response = _status(webhook.answer("/mutate", pod_review([stock.bad.text])))
    assert response["allowed"] is False and "patch" not in response


def test_a_moved_tag_pins_what_was_verified_until_the_tag_cache_expires(
    start_webhook: ServerFactory, images: Images
) -> None:
    signed = images.signed("moving", "release")
    cached = start_webhook(tag_ttl=300)
    uncached = start_webhook(tag_ttl=0)
    for server in (cached, uncached):
        patch = json.loads(base64.b64decode(str(_status(server.answer("/mutate", pod_review([signed.text])))["patch"])))
        assert patch[0]["value"] == f"{signed.text}@{signed.digest}"
    moved = images.push("moving", "release", seed="unsigned content")  # the tag now names unsigned bytes
    assert moved.digest != signed.digest
    # Within the tag cache the webhook still pins the digest it verified: what runs was checked.
    response = _status(cached.answer("/mutate", pod_review([signed.text])))
    assert response["allowed"] is True
    assert json.loads(base64.b64decode(str(response["patch"])))[0]["value"] == f"{signed.text}@{signed.digest}"
    # Resolved afresh, the tag names the unsigned digest, which is judged (and denied) on its own.
    response = _status(uncached.answer("/mutate", pod_review([signed.text])))
    assert response["allowed"] is False and moved.digest in response["status"]["message"]  # type: ignore[index]


def test_health_readiness_and_metrics(webhook: RunningWebhook, stock: Stock) -> None:
    assert webhook.get("/healthz").status_code == 200
    ready = webhook.get("/readyz")
    assert ready.status_code == 200 and ready.json()["policies"] == ["release"]
    assert ready.json()["policySetDigest"].startswith("sha256:")
    webhook.answer("/validate", pod_review([stock.good[0].text]))
    webhook.answer("/validate", pod_review([stock.good[0].text]))
    text = webhook.get("/metrics").text
    assert 'slsacheck_admission_requests_total{endpoint="validate"} 2' in text
    assert 'slsacheck_admission_decisions_total{decision="allowed",endpoint="validate"} 2' in text
    assert 'slsacheck_admission_cache_hits_total{cache="verdict"}' in text
    assert 'slsacheck_admission_request_duration_seconds_count{endpoint="validate"} 2' in text
    assert webhook.get("/validate").status_code == 405
