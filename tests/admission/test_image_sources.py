"""Every image a Pod makes the kubelet pull is judged and pinned, in every workload kind.

The image sources of a pod spec are containers, initContainers, ephemeralContainers and
image volumes (`volumes[].image.reference`, Kubernetes ImageVolume). For each workload kind
that embeds a pod spec, an unsigned image in any one of them, beside signed images in all
the others, is denied; with every image signed, `/mutate` pins each of them at a JSON
Pointer that exists in the object. The list of locations is one table: a field added to it
is extracted, judged and pinned with no other change.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest

from slsacheck.admission import review as review_module
from slsacheck.admission.judge import Judge, JudgeSettings
from slsacheck.admission.metrics import Metrics
from slsacheck.admission.reload import PolicyHolder
from slsacheck.admission.review import ImageField, MalformedReview, images_of, pin_patch
from slsacheck.admission.webhook import Webhook, WebhookSettings
from slsacheck.models.reference import ImageRef
from slsacheck.models.verdict import Check, Outcome, Verdict
from slsacheck.oci.options import RegistryOptions
from slsacheck.policy.model import PolicySet
from slsacheck.signing.keys import generate_key_pair
from tests.admission.conftest import Stock
from tests.admission.support import (
    IMAGE_LOCATIONS,
    WORKLOAD_KINDS,
    RunningWebhook,
    apply_patch,
    pod_spec_with,
    resolve_pointer,
    workload_review,
    write_policy,
)

LOCATIONS = tuple(IMAGE_LOCATIONS)
DIGEST = "sha256:" + "ab" * 32


def _named(prefix: str = "registry.test/adm/") -> dict[str, str]:
    return {where: f"{prefix}{where.lower()}:v1" for where in LOCATIONS}


def _spec_pointer(kind: str) -> str:
    return "/" + "/".join(WORKLOAD_KINDS[kind][2])


def _object(doc: dict[str, Any]) -> Any:
    return doc["request"]["object"]


# -- reading (no network) ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(WORKLOAD_KINDS))
def test_every_image_location_of_every_workload_kind_is_found_with_its_pointer(kind: str) -> None:
    names = _named()
    obj = _object(workload_review(kind, pod_spec_with(names)))
    found = images_of(kind, obj)
    assert [(i.pointer, i.image) for i in found] == [
        (_spec_pointer(kind) + IMAGE_LOCATIONS[where], names[where]) for where in LOCATIONS]
    for item in found:
        assert resolve_pointer(obj, item.pointer) == item.image
    assert found[-1].owner == "volumes[1] (models)"


def test_volumes_that_are_not_image_volumes_name_no_image() -> None:
    spec = {"containers": [{"name": "app", "image": "registry.test/app:v1"}],
            "volumes": [{"name": "config", "configMap": {"name": "c"}}, {"name": "scratch", "emptyDir": {}},
                        {"name": "claim", "persistentVolumeClaim": {"claimName": "data"}}]}
    assert [i.image for i in images_of("Pod", {"spec": spec})] == ["registry.test/app:v1"]


@pytest.mark.parametrize("volumes", [
    "models",
    ["models"],
    [{"name": "models", "image": "registry.test/models:v1"}],  # the reference where the source belongs
    [{"name": "models", "image": {}}],
    [{"name": "models", "image": {"reference": None}}],
    [{"name": "models", "image": {"reference": 7}}],
    [{"name": "models", "image": {"reference": ["registry.test/models:v1"]}}],
])
def test_an_image_volume_whose_image_cannot_be_read_is_malformed_not_empty(volumes: Any) -> None:
    spec = {"containers": [{"name": "app", "image": "registry.test/app:v1"}], "volumes": volumes}
    for kind in sorted(WORKLOAD_KINDS):
        with pytest.raises(MalformedReview) as info:
            images_of(kind, _object(workload_review(kind, spec)))
        assert "volumes" in str(info.value)


@pytest.mark.parametrize("kind", sorted(WORKLOAD_KINDS))
def test_pin_patch_replaces_each_location_at_a_pointer_that_exists(kind: str) -> None:
    names = _named()
    names["ephemeralContainers"] = f"registry.test/adm/debug:v1@{DIGEST}"  # pinned already: left alone
    obj = _object(workload_review(kind, pod_spec_with(names)))
    found = images_of(kind, obj)
    ops = pin_patch(found, {item.image: DIGEST for item in found})
    assert [op["path"] for op in ops] == [
        _spec_pointer(kind) + IMAGE_LOCATIONS[where] for where in LOCATIONS if where != "ephemeralContainers"]
    patched = apply_patch(obj, ops)
    assert [i.image for i in images_of(kind, patched)] == [
        text if "@" in text else f"{text}@{DIGEST}" for text in (names[w] for w in LOCATIONS)]
    assert pin_patch(images_of(kind, patched), {i.image: DIGEST for i in images_of(kind, patched)}) == []


def test_a_location_added_to_the_one_table_is_judged_and_pinned(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The table is the single list: a new field gets extraction, judgement, UPDATE checks and pins."""
    monkeypatch.setattr(review_module, "IMAGE_FIELDS",
                        (*review_module.IMAGE_FIELDS, ImageField("futureSources", ("artifact", "ref"), "artifact")))
    (tmp_path / "release.pub").write_bytes(generate_key_pair(b"", scrypt_n=2**15)[1])
    holder = PolicyHolder([write_policy(tmp_path, _Host())])  # type: ignore[arg-type]
    judged: list[str] = []

    def verify(ref: ImageRef, policies: PolicySet, options: RegistryOptions) -> Verdict:
        text = ref.display
        judged.append(text)
        outcome = Outcome.FAIL if "future" in text else Outcome.PASS
        return Verdict(text, str(ref.digest), ("release",), (Check("signatures.threshold", outcome),))

    judge = Judge(JudgeSettings(RegistryOptions(), workers=2), Metrics(), verify=verify,
                  resolve=lambda ref, options: DIGEST)
    webhook = Webhook(holder, judge, judge.metrics, WebhookSettings(budget_seconds=30))
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "registry.test/adm/app:v1"}],
                            "futureSources": [{"artifact": {"ref": "registry.test/adm/future:v1"}}]}
    doc = workload_review("Deployment", spec)
    try:
        denied = asyncio.run(webhook.review(json.dumps(doc).encode(), mutate=True))["response"]
        assert denied["allowed"] is False and "registry.test/adm/future:v1" in denied["status"]["message"]
        assert sorted(judged) == ["registry.test/adm/app:v1", "registry.test/adm/future:v1"]
        # An UPDATE that only adds the new field's image is not "unchanged".
        doc["request"]["operation"] = "UPDATE"
        doc["request"]["oldObject"] = _object(workload_review("Deployment", {"containers": spec["containers"]}))
        assert asyncio.run(webhook.review(json.dumps(doc).encode(), mutate=False))["response"]["allowed"] is False
        spec["futureSources"][0]["artifact"]["ref"] = "registry.test/adm/app:v1"
        allowed = asyncio.run(webhook.review(json.dumps(workload_review("Deployment", spec)).encode(),
                                             mutate=True))["response"]
        patch = json.loads(base64.b64decode(allowed["patch"]))
        assert [op["path"] for op in patch] == ["/spec/template/spec/containers/0/image",
                                                "/spec/template/spec/futureSources/0/artifact/ref"]
    finally:
        judge.close()


class _Host:
    host = "registry.test"


# -- over HTTPS against the real registry -----------------------------------------------------


def _message(answer: dict[str, Any]) -> str:
    response = answer["response"]
    assert response["allowed"] is False, response
    message: str = response["status"]["message"]
    return message


@pytest.mark.integration
def test_a_signed_container_does_not_carry_an_unsigned_image_volume(webhook: RunningWebhook, stock: Stock) -> None:
    spec = {"containers": [{"name": "app", "image": stock.good[0].text}],
            "volumes": [{"name": "models", "image": {"reference": stock.bad.text, "pullPolicy": "Always"}}]}
    for endpoint in ("/validate", "/mutate"):
        answer = webhook.answer(endpoint, workload_review("Pod", spec))
        message = _message(answer)
        assert f"{stock.bad.text} ({stock.bad.digest}): fail" in message and "1 of 2 images" in message
        assert "patch" not in answer["response"]


@pytest.mark.integration
@pytest.mark.parametrize("where", LOCATIONS)
@pytest.mark.parametrize("kind", sorted(WORKLOAD_KINDS))
def test_an_unsigned_image_in_any_location_denies_the_workload(
    kind: str, where: str, webhook: RunningWebhook, stock: Stock
) -> None:
    names = {w: stock.good[i].text for i, w in enumerate(LOCATIONS)}
    names[where] = stock.bad.text
    message = _message(webhook.answer("/validate", workload_review(kind, pod_spec_with(names), dry_run=True)))
    assert message.startswith(f"slsacheck: 1 of 4 images of {kind} team/app failed verification")
    assert f"{stock.bad.text} ({stock.bad.digest}): fail" in message
    assert not any(stock.good[i].text in message for i in range(4))


@pytest.mark.integration
@pytest.mark.parametrize("kind", sorted(WORKLOAD_KINDS))
def test_mutate_pins_every_location_to_its_verified_digest(kind: str, webhook: RunningWebhook, stock: Stock) -> None:
    names = {w: stock.good[i].text for i, w in enumerate(LOCATIONS)}
    doc = workload_review(kind, pod_spec_with(names))
    response = webhook.answer("/mutate", doc)["response"]
    assert response["allowed"] is True and response["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(response["patch"]))
    assert [op["path"] for op in ops] == [_spec_pointer(kind) + IMAGE_LOCATIONS[w] for w in LOCATIONS]
    patched = apply_patch(_object(doc), ops)
    for i, where in enumerate(LOCATIONS):
        value = resolve_pointer(patched, _spec_pointer(kind) + IMAGE_LOCATIONS[where])
        assert value == f"{stock.good[i].text}@{stock.good[i].digest}", where
    again = dict(doc, request=dict(doc["request"], object=patched))
    assert "patch" not in webhook.answer("/mutate", again)["response"]  # reinvocation: nothing left to pin


@pytest.mark.integration
def test_an_update_that_adds_an_unsigned_image_volume_is_checked(webhook: RunningWebhook, stock: Stock) -> None:
    before = {"containers": [{"name": "app", "image": stock.good[0].text}]}
    after = dict(before, volumes=[{"name": "models", "image": {"reference": stock.bad.text}}])
    doc = workload_review("Deployment", after)
    doc["request"]["operation"] = "UPDATE"
    doc["request"]["oldObject"] = _object(workload_review("Deployment", before))
    assert stock.bad.text in _message(webhook.answer("/validate", doc))
