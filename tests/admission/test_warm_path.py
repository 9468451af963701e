"""The warm path: reviews the caches decide are answered on the event loop, and only those.

A review whose every image has a fresh cached verdict (under the policy set in force, for
the digest its tag names now) is answered without `Judge.judge` (no task, no thread); any
image the caches cannot decide sends the whole review down the full path. These tests
build the evidence an attacker would hope the shortcut trusts: an expired verdict, a tag
moved to unsigned bytes, a verdict from an older policy set, a cached failure; none of them
may come back as an allow. The judge is given its verification and resolution functions
(its injection points) so the calls can be counted without a network.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from slsacheck.admission.cache import TtlCache
from slsacheck.admission.judge import ImageResult, Judge, JudgeSettings
from slsacheck.admission.metrics import Metrics
from slsacheck.admission.reload import Loaded, PolicyHolder
from slsacheck.admission.webhook import Webhook, WebhookSettings
from slsacheck.models.reference import ImageRef
from slsacheck.models.verdict import Check, Outcome, Verdict
from slsacheck.oci.options import RegistryOptions
from slsacheck.policy.model import PolicySet
from slsacheck.signing.keys import generate_key_pair
from tests.admission.support import pod_review, write_policy

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
        body = json.dumps(pod_review(images)).encode()
        answer: dict[str, Any] = asyncio.run(self.webhook.review(body, mutate=False))["response"]
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


def test_a_failing_cache_lookup_falls_back_to_the_full_path(holder: PolicyHolder) -> None:
    rig = _Rig(holder)
    rig.review(IMAGES)

    def broken(text: str, loaded: Loaded) -> ImageResult | None:
        raise RuntimeError("a bug in the shortcut")

    rig.judge.cached = broken  # type: ignore[method-assign]
    answer = rig.review(IMAGES)
    assert answer["allowed"] is True and rig.full_path == 6  # answered, by the path that checks everything


def test_images_no_policy_selects_are_decided_on_the_warm_path_by_no_match(holder: PolicyHolder) -> None:
    rig = _Rig(holder)
    outside = "elsewhere.test/app:v1"
    answer = rig.review([outside])
    assert answer["allowed"] is False and rig.full_path == 0 and rig.calls == []  # noMatch: deny
    assert rig.metric("image_decisions", how="no_match") == 1
