"""The warm path: reviews the caches decide are answered on the event loop, and only those.

A review whose every image has a fresh cached verdict (under the policy set in force, for
the digest its tag names now) is answered without `Judge.judge` (no task, no thread); any
image the caches cannot decide sends the whole review down the full path. These tests
build the evidence an attacker would hope the shortcut trusts: an expired verdict, a tag
moved to unsigned bytes, a verdict from an older policy set, a cached failure; none of them
may come back as an allow. The judge is given its verification and resolution functions
(its injection points) so the calls can be counted without a network.

A kept answer (`answers`) is reused only where it is byte for byte the answer built from
scratch: each input a review can change (namespace, name, kind, image order, a duplicate,
a field moved, apiVersion, endpoint, mode, a uid needing escapes) is compared against a
fresh build; and never once what it rests on has changed (an expired verdict, a moved tag,
an evicted verdict, a reloaded policy set). Its memory stays bounded whatever is sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from slsacheck.admission.answers import Answers
from slsacheck.admission.cache import TtlCache
from slsacheck.admission.judge import Held, ImageResult, Judge, JudgeSettings
from slsacheck.admission.metrics import Metrics
from slsacheck.admission.reload import Loaded, PolicyHolder
from slsacheck.admission.webhook import Webhook, WebhookSettings
from slsacheck.models.reference import ImageRef
from slsacheck.models.verdict import Check, Outcome, Verdict
from slsacheck.oci.options import RegistryOptions
from slsacheck.policy.model import PolicySet
from slsacheck.signing.keys import generate_key_pair
from tests.admission.support import pod_review, workload_review, write_policy

SIGNED = "sha256:" + "ab" * 32
UNSIGNED = "sha256:" + "cd" * 32
IMAGES = [f"registry.test/adm/app{i}:v1" for i in range(3)]


class _Registry:
    host = "registry.test"


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def holder(tmp_path: Path) -> PolicyHolder:
    (tmp_path / "release.pub").write_bytes(generate_key_pair(b"", scrypt_n=2**15)[1])
    return PolicyHolder([write_policy(tmp_path, _Registry())])  # type: ignore[arg-type]


class _Rig:
    """A webhook over a judge whose registry is a table: tag -> digest, digest -> outcome."""

    def __init__(self, holder: PolicyHolder) -> None:
        self.tags = {text: SIGNED for text in IMAGES}
        self.outcomes = {SIGNED: Outcome.PASS, UNSIGNED: Outcome.FAIL}
        self.calls: list[str] = []
        self.full_path = 0
        self.clock = _Clock()
        settings = JudgeSettings(RegistryOptions(), workers=2)
        self.judge = Judge(settings, Metrics(), verify=self._verify, resolve=self._resolve)
        self.judge.verdicts = TtlCache(settings.verdict_ttl, 100, clock=self.clock)
        self.judge.tags = TtlCache(settings.tag_ttl, 100, clock=self.clock)
        judge_one = self.judge.judge

        async def counted(text: str, loaded: Loaded, **kwargs: Any) -> ImageResult:
            self.full_path += 1
            return await judge_one(text, loaded, **kwargs)

        self.judge.judge = counted  # type: ignore[method-assign]
        self.lookups = 0
        lookup_one = self.judge.lookup

        def looked(text: str, loaded: Loaded) -> tuple[ImageResult, Held] | None:
            self.lookups += 1
            return lookup_one(text, loaded)

        self.judge.lookup = looked  # type: ignore[method-assign]
        self.holder = holder
        self.webhook = Webhook(holder, self.judge, self.judge.metrics, WebhookSettings())

    def _verify(self, ref: ImageRef, policies: PolicySet, options: RegistryOptions) -> Verdict:
        self.calls.append(f"verify {ref.digest}")
        check = Check("signatures.threshold", self.outcomes[str(ref.digest)], policy="release",
                      found="no signature by the release key" if self.outcomes[str(ref.digest)] == Outcome.FAIL
                      else None)
        return Verdict(ref.display, str(ref.digest), ("release",), (check,))

    def _resolve(self, ref: ImageRef, options: RegistryOptions) -> str:
        self.calls.append(f"resolve {ref}")
        return self.tags[str(ref)]

    def review(self, images: list[str]) -> dict[str, Any]:
        answer: dict[str, Any] = self.review_doc(pod_review(images))["response"]
        return answer

    def review_doc(self, doc: dict[str, Any], *, mutate: bool = False) -> dict[str, Any]:
        body = json.dumps(doc).encode()
        answer: dict[str, Any] = asyncio.run(self.webhook.review(body, mutate=mutate))
        return answer

    def fresh(self, doc: dict[str, Any], *, mutate: bool = False) -> dict[str, Any]:
        """The answer built for `doc` with no answer kept from an earlier review."""
        kept, self.webhook.answers = self.webhook.answers, Answers(10)
        try:
            return self.review_doc(doc, mutate=mutate)
        finally:
            self.webhook.answers = kept

    def kept(self, doc: dict[str, Any], *, mutate: bool = False) -> dict[str, Any]:
        """The answer to `doc` served from an answer kept by the review just before (asserted)."""
        self.review_doc(doc, mutate=mutate)
        lookups = self.lookups
        answer = self.review_doc(doc, mutate=mutate)
        assert self.lookups == lookups, "not served from a kept answer"
        return answer

    def metric(self, family: str, **labels: str) -> float:
        value: float = getattr(self.judge.metrics, family).value(**labels)
        return value


def test_a_cached_review_is_answered_without_the_full_path_and_counted_once(holder: PolicyHolder) -> None:
    rig = _Rig(holder)
    assert rig.review(IMAGES)["allowed"] is True
    assert rig.full_path == 3 and len(rig.calls) == 6  # a resolution and a verification each
    for _ in range(3):
        answer = rig.review(IMAGES)
        assert answer["allowed"] is True
        assert json.loads(answer["auditAnnotations"]["digests"]) == dict.fromkeys(IMAGES, SIGNED)
    assert rig.full_path == 3 and len(rig.calls) == 6  # the caches answered: no judge, no registry
    assert rig.metric("image_decisions", how="cache") == 9
    assert rig.metric("cache_hits", cache="verdict") == 9 and rig.metric("cache_hits", cache="tag") == 9
    pinned = f"registry.test/adm/other@{SIGNED}"
    rig.review([pinned])
    assert rig.review([pinned])["allowed"] is True and rig.full_path == 4
    assert rig.metric("cache_hits", cache="tag") == 9  # a digest in the text needs no tag


def test_one_image_the_caches_cannot_decide_sends_the_whole_review_down_the_full_path(holder: PolicyHolder) -> None:
    rig = _Rig(holder)
    rig.review(IMAGES[:2])
    new = "registry.test/adm/new:v1"
    rig.tags[new] = SIGNED
    assert rig.review([*IMAGES[:2], new])["allowed"] is True
    assert rig.full_path == 2 + 3
    # Counted by the full path alone: the warm path's look that found no answer counts nothing.
    assert rig.metric("cache_hits", cache="verdict") == 2 and rig.metric("image_decisions", how="cache") == 2


def test_an_expired_verdict_is_not_served(holder: PolicyHolder) -> None:
    rig = _Rig(holder)
    rig.review(IMAGES)
    rig.clock.now += rig.judge.settings.verdict_ttl + 1
    rig.outcomes[SIGNED] = Outcome.FAIL  # the key was revoked meanwhile: only a new verification knows
    answer = rig.review(IMAGES)
    assert answer["allowed"] is False and rig.full_path == 6
    assert rig.calls.count(f"verify {SIGNED}") == 6  # each image verified again


def test_a_tag_moved_to_unsigned_bytes_is_not_allowed_from_the_cache(holder: PolicyHolder) -> None:
    rig = _Rig(holder)
    rig.review(IMAGES)
    rig.tags[IMAGES[0]] = UNSIGNED  # the attacker pushes over the tag
    rig.clock.now += rig.judge.settings.tag_ttl + 1  # the verdict about the signed digest is still fresh
    answer = rig.review(IMAGES)
    assert answer["allowed"] is False
    assert f"{IMAGES[0]} ({UNSIGNED}): fail" in answer["status"]["message"]
    assert f"verify {UNSIGNED}" in rig.calls


def test_a_verdict_under_another_policy_set_is_not_served(holder: PolicyHolder, tmp_path: Path) -> None:
    rig = _Rig(holder)
    rig.review(IMAGES)
    stricter = PolicyHolder([write_policy(tmp_path, _Registry(), file="stricter.yaml",  # type: ignore[arg-type]
                                          name="stricter")])
    assert stricter.current.digest != holder.current.digest
    rig.webhook.holder = stricter
    rig.review(IMAGES)
    assert rig.full_path == 6 and rig.calls.count(f"verify {SIGNED}") == 6


def test_a_cached_failure_is_denied_from_the_cache_with_its_reasons(holder: PolicyHolder) -> None:
    rig = _Rig(holder)
    rig.tags[IMAGES[0]] = UNSIGNED
    first = rig.review(IMAGES)
    second = rig.review(IMAGES)
    assert first["allowed"] is False and second["allowed"] is False and rig.full_path == 3
    assert second["status"] == first["status"]
    assert "no signature by the release key" in second["status"]["message"]


@pytest.mark.parametrize("broken", ["lookup", "holds", "both"])
def test_a_failing_cache_lookup_falls_back_to_the_full_path(holder: PolicyHolder, broken: str) -> None:
    rig = _Rig(holder)
    rig.review(IMAGES)
    rig.review(IMAGES)  # an answer kept: the next review asks `holds` before anything else

    def bug(*_: object) -> None:
        raise RuntimeError("a bug in the shortcut")

    for name in ("lookup", "holds") if broken == "both" else (broken,):
        setattr(rig.judge, name, bug)
    answer = rig.review(IMAGES)
    assert answer["allowed"] is True
    # Either shortcut alone still answers from the caches (the kept answer, or the caches read
    # again); with both broken, the path that checks everything answers.
    assert rig.full_path == (6 if broken == "both" else 3)


def test_images_no_policy_selects_are_decided_on_the_warm_path_by_no_match(holder: PolicyHolder) -> None:
    rig = _Rig(holder)
    outside = "elsewhere.test/app:v1"
    answer = rig.review([outside])
    assert answer["allowed"] is False and rig.full_path == 0 and rig.calls == []  # noMatch: deny
    assert rig.metric("image_decisions", how="no_match") == 1


# -- answers kept whole (`answers`) ------------------------------------------------------------
#
# A kept answer is reused for any review with the same key; each variant below changes one
# thing a review can change and must get exactly the answer built for it from scratch.

HOSTILE_UID = 'x","allowed":true,"patch":"W10=","y":"\\\u0000\u001b[2J\u2028\ud800</script>'


def _variants() -> dict[str, dict[str, Any]]:
    def edit(doc: dict[str, Any], **request: Any) -> dict[str, Any]:
        doc["request"].update(request)
        return doc

    def moved_to_init(doc: dict[str, Any]) -> dict[str, Any]:
        spec = doc["request"]["object"]["spec"]
        spec["initContainers"] = [spec["containers"].pop(0)]
        return doc

    def generated(doc: dict[str, Any]) -> dict[str, Any]:
        meta = doc["request"]["object"]["metadata"]
        del meta["name"]
        meta["generateName"] = "app-5d8f9c-"
        return edit(doc, name="")

    containers = {"containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(IMAGES)]}
    beta = pod_review(IMAGES)
    beta["apiVersion"] = "admission.k8s.io/v1beta1"
    return {
        "another namespace": edit(pod_review(IMAGES), namespace="other"),
        "another name": edit(pod_review(IMAGES), name="app2"),
        "a generated name": generated(pod_review(IMAGES)),
        "a Deployment (other pointers)": workload_review("Deployment", containers),
        "the images in another order": pod_review(IMAGES[::-1]),
        "an image twice": pod_review([IMAGES[0], *IMAGES]),
        "fewer images": pod_review(IMAGES[:2]),
        "an image moved to initContainers": moved_to_init(pod_review(IMAGES)),
        "v1beta1": beta,
        "a uid needing escapes": pod_review(IMAGES, uid=HOSTILE_UID),
        "a dry run": pod_review(IMAGES, dry_run=True),
        "another requester": pod_review(IMAGES, username="someone-else"),
    }


@pytest.mark.parametrize("mutate", [False, True], ids=["validate", "mutate"])
@pytest.mark.parametrize("first", ["signed", "unsigned"])
@pytest.mark.parametrize("variant", list(_variants()))
def test_a_kept_answer_is_reused_only_where_it_is_the_answer_built_from_scratch(
        holder: PolicyHolder, variant: str, first: str, mutate: bool) -> None:
    rig = _Rig(holder)
    rig.tags[IMAGES[0]] = SIGNED if first == "signed" else UNSIGNED  # allowed, or denied with a message
    base = pod_review(IMAGES, uid="base")
    rig.review_doc(base, mutate=mutate)  # judged: the caches are filled
    assert rig.kept(base, mutate=mutate) == rig.fresh(base, mutate=mutate)
    doc = _variants()[variant]
    uid = doc["request"]["uid"]
    for _ in range(2):  # after the base's answer was kept, then after the variant's own was
        answer = rig.review_doc(doc, mutate=mutate)
        assert answer == rig.fresh(doc, mutate=mutate)
        assert answer["response"]["uid"] == uid and answer["apiVersion"] == doc["apiVersion"]
    assert rig.full_path == 3  # every answer came from the caches


def test_a_uid_is_spliced_in_as_json_and_cannot_change_the_answer(holder: PolicyHolder) -> None:
    rig = _Rig(holder)
    rig.tags[IMAGES[0]] = UNSIGNED
    rig.review(IMAGES)
    rig.kept(pod_review(IMAGES))
    body = json.dumps(pod_review(IMAGES, uid=HOSTILE_UID)).encode()
    raw = asyncio.run(rig.webhook.answer(body, mutate=True))
    assert raw.isascii()
    answer = json.loads(raw, object_pairs_hook=_no_duplicates)["response"]
    assert answer["uid"] == HOSTILE_UID and answer["allowed"] is False and "patch" not in answer


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), keys
    return dict(pairs)


def test_a_kept_answer_follows_the_mode(holder: PolicyHolder) -> None:
    rig = _Rig(holder)
    rig.tags[IMAGES[0]] = UNSIGNED
    rig.review(IMAGES)
    assert rig.kept(pod_review(IMAGES))["response"]["allowed"] is False
    rig.webhook.settings = WebhookSettings(mode="warn")
    doc = pod_review(IMAGES)
    warned = rig.review_doc(doc)
    assert warned["response"]["allowed"] is True and warned == rig.fresh(doc)


def test_a_kept_answer_is_not_served_once_a_verdict_expires(holder: PolicyHolder) -> None:
    rig = _Rig(holder)
    rig.review(IMAGES)
    assert rig.kept(pod_review(IMAGES))["response"]["allowed"] is True
    rig.clock.now += rig.judge.settings.verdict_ttl + 1
    rig.outcomes[SIGNED] = Outcome.FAIL  # the key was revoked meanwhile: only a new verification knows
    assert rig.review(IMAGES)["allowed"] is False
    assert rig.full_path == 6 and rig.calls.count(f"verify {SIGNED}") == 6


def test_a_kept_answer_is_not_served_once_its_tag_moves_to_unsigned_bytes(holder: PolicyHolder) -> None:
    rig = _Rig(holder)
    rig.review(IMAGES)
    rig.kept(pod_review(IMAGES))
    rig.tags[IMAGES[2]] = UNSIGNED  # the attacker pushes over one tag
    rig.clock.now += rig.judge.settings.tag_ttl + 1  # every verdict is still fresh; the tags are not
    answer = rig.review(IMAGES)
    assert answer["allowed"] is False and f"{IMAGES[2]} ({UNSIGNED}): fail" in answer["status"]["message"]


def test_a_kept_answer_is_not_served_when_a_verdict_left_the_cache(holder: PolicyHolder) -> None:
    rig = _Rig(holder)
    rig.review(IMAGES)
    rig.kept(pod_review(IMAGES))
    rig.judge.verdicts.clear()  # evicted (the cache is bounded): the next verdict is a new one
    rig.outcomes[SIGNED] = Outcome.FAIL
    assert rig.review(IMAGES)["allowed"] is False and rig.full_path == 6


def test_a_kept_answer_is_not_served_under_a_reloaded_policy_set(holder: PolicyHolder, tmp_path: Path) -> None:
    rig = _Rig(holder)
    rig.review(IMAGES)
    rig.kept(pod_review(IMAGES))
    stricter = PolicyHolder([write_policy(tmp_path, _Registry(), file="stricter.yaml",  # type: ignore[arg-type]
                                          name="stricter")])
    rig.webhook.holder = stricter
    rig.outcomes[SIGNED] = Outcome.FAIL  # what the new policy set says of the same digests
    assert rig.review(IMAGES)["allowed"] is False and rig.full_path == 6
    assert len(rig.webhook.answers) == 0  # nothing kept from the policy set that was replaced


def test_a_kept_answer_counts_and_logs_what_the_warm_path_does(holder: PolicyHolder,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    from slsacheck.admission.logs import JsonFormatter

    rig = _Rig(holder)
    rig.review(IMAGES)
    before = {how: rig.metric("image_decisions", how=how) for how in ("cache",)}
    formatter = JsonFormatter()
    with caplog.at_level(logging.INFO, logger="slsacheck.admission"):
        rig.review_doc(pod_review(IMAGES, uid="built"))  # built from the caches
        rig.review_doc(pod_review(IMAGES, uid="kept", dry_run=True, username="other"))  # the kept answer
    lines = [json.loads(formatter.format(r)) for r in caplog.records if r.getMessage() == "admission review"]
    built, kept = lines
    assert kept["uid"] == "kept" and kept["dry_run"] is True and kept["requester"] == "other"
    for field in ("decision", "mode", "images", "patched", "operation", "kind", "namespace", "name"):
        assert kept[field] == built[field], field
    assert [i["how"] for i in kept["images"]] == ["cache"] * 3
    assert rig.metric("image_decisions", how="cache") == before["cache"] + 6
    assert rig.metric("cache_hits", cache="verdict") == 6 and rig.metric("cache_hits", cache="tag") == 6
    assert rig.metric("decisions", endpoint="validate", decision="allowed") == 3


def test_kept_answers_are_bounded(holder: PolicyHolder) -> None:
    rig = _Rig(holder)
    rig.webhook.answers = Answers(4)
    for text in IMAGES:
        rig.review([text])
    for n in range(1, 4):
        for i in range(n):
            rig.review(IMAGES[i:n])
    assert 0 < len(rig.webhook.answers) <= 4


def test_kept_answers_stay_within_their_bytes_whatever_a_dry_run_flood_names(holder: PolicyHolder) -> None:
    # Denials of images no policy matches need no registry and no cache write, so anyone allowed
    # a dry run can make one per review under a new key, each listing many long image names.
    rig = _Rig(holder)
    rig.webhook.answers = Answers(10_000, max_bytes=64 * 1024)
    for n in range(40):
        images = [f"elsewhere.test/{'x' * 200}/flood{n}-{i}:v1" for i in range(20)]
        answer = rig.review_doc(pod_review(images, dry_run=True))
        assert answer["response"]["allowed"] is False
        assert rig.webhook.answers.size <= 64 * 1024
    assert 0 < len(rig.webhook.answers) < 40
    assert rig.full_path == 0 and rig.calls == []  # decided by noMatch, without a registry
