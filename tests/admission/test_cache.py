"""Single flight and the judge's cache rules, without a network.

The judge is given its verification and resolution functions (its public injection
points) so these tests can count calls and return chosen verdicts: concurrent callers
share one computation; a caller that gives up does not cancel it for the others; an
error reaches every caller and is not remembered; passing verdicts are cached, failing
ones briefly, incomplete ones never; a verdict about another digest than the one
resolved is an error, never a pass.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from slsacheck.admission.judge import Judge, JudgeSettings
from slsacheck.admission.metrics import Metrics
from slsacheck.admission.pool import PoolSettings, WorkerPool
from slsacheck.admission.reload import PolicyHolder
from slsacheck.models.reference import ImageRef
from slsacheck.models.verdict import Check, Outcome, Verdict
from slsacheck.oci.options import RegistryOptions
from slsacheck.policy.model import PolicySet
from slsacheck.signing.keys import generate_key_pair
from tests.admission.support import write_policy

DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32


def test_single_flight_shares_survives_cancellation_and_forgets_errors() -> None:
    async def scenario() -> None:
        pool = WorkerPool(PoolSettings(workers=2, per_host=2, per_requester=2))
        calls = 0
        release = threading.Event()
        kept: list[int] = []

        def work() -> int:
            nonlocal calls
            calls += 1
            release.wait(30)
            return 42

        def call(key: str, fn: Callable[[], int]) -> asyncio.Future[tuple[int, bool]]:
            return asyncio.ensure_future(pool.call(key, "registry.test", "ci", fn, keep=kept.append))

        impatient = call("k", work)
        patient = [call("k", work) for _ in range(5)]
        await asyncio.sleep(0.05)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(impatient, timeout=0.01)  # gives up; the work goes on
        release.set()
        results = await asyncio.gather(*patient)
        assert calls == 1 and sorted(r[1] for r in results) == [True] * 5 and all(r[0] == 42 for r in results)
        assert kept == [42] and len(pool) == 0 and pool.running == 0

        def boom() -> int:
            raise RuntimeError("registry down")

        with pytest.raises(RuntimeError):
            await pool.call("e", "registry.test", "ci", boom)
        assert (await pool.call("e", "registry.test", "ci", work)) == (42, False)  # the failure was not remembered
        pool.close()

    asyncio.run(scenario())


class _Registry:
    host = "registry.test"


@pytest.fixture
def holder(tmp_path: Path) -> PolicyHolder:
    (tmp_path / "release.pub").write_bytes(generate_key_pair(b"", scrypt_n=2**15)[1])
    return PolicyHolder([write_policy(tmp_path, _Registry())])  # type: ignore[arg-type]


def _verdict(outcome: Outcome | None, digest: str = DIGEST) -> Verdict:
    if outcome is None:
        return Verdict("x", digest, ("release",), (), ("registry went away",))
    return Verdict("x", digest, ("release",), (Check("signatures.threshold", outcome, policy="release"),))


def _judge(answers: list[Verdict], resolved: str = DIGEST) -> tuple[Judge, list[str]]:
    calls: list[str] = []

    def verify(ref: ImageRef, policies: PolicySet, options: RegistryOptions) -> Verdict:
        calls.append(f"verify {ref}")
        return answers.pop(0)

    def resolve(ref: ImageRef, options: RegistryOptions) -> str:
        calls.append(f"resolve {ref}")
        return resolved

    return Judge(JudgeSettings(RegistryOptions(), workers=2), Metrics(), verify=verify, resolve=resolve), calls


def test_pass_is_cached_fail_briefly_error_never(holder: PolicyHolder) -> None:
    image = "registry.test/adm/app:v1"

    async def scenario() -> None:
        judge, calls = _judge([_verdict(None), _verdict(Outcome.FAIL), _verdict(Outcome.PASS)])
        first = await judge.judge(image, holder.current)
        assert first.verdict.outcome == "error" and first.how == "error"
        assert len(judge.verdicts) == 0  # errors are never remembered
        second = await judge.judge(image, holder.current)
        assert second.verdict.outcome == "fail" and len(judge.verdicts) == 1
        judge.settings = JudgeSettings(RegistryOptions(), fail_ttl=0)  # a fail kept for 0 s is not kept
        judge.verdicts.clear()
        third = await judge.judge(image, holder.current)
        assert third.verdict.outcome == "pass" and third.digest == DIGEST
        fourth = await judge.judge(image, holder.current)
        assert fourth.how == "cache" and fourth.verdict.outcome == "pass"
        assert calls.count(f"verify registry.test/adm/app:v1@{DIGEST}") == 3
        assert calls.count("resolve registry.test/adm/app:v1") == 1  # the tag cache answered after
        judge.close()

    asyncio.run(scenario())


def test_a_verdict_about_another_digest_is_an_error(holder: PolicyHolder) -> None:
    async def scenario() -> None:
        judge, _ = _judge([_verdict(Outcome.PASS, digest=OTHER)])
        result = await judge.judge("registry.test/adm/app:v1", holder.current)
        assert result.verdict.outcome == "error" and not result.verdict.passed
        assert len(judge.verdicts) == 0
        judge.close()

    asyncio.run(scenario())


def test_unparsable_and_layout_references_fail_without_lookups(holder: PolicyHolder) -> None:
    async def scenario() -> None:
        judge, calls = _judge([])
        for text in ("Registry.Test/UPPER:v1", "oci:/var/images:v1", "a b"):
            result = await judge.judge(text, holder.current)
            assert result.how == "invalid" and [c.id for c in result.verdict.failed] == ["image.reference"]
        assert calls == []
        judge.close()

    asyncio.run(scenario())


def test_budget_runs_out_denies_and_the_running_verification_fills_the_cache(holder: PolicyHolder) -> None:
    """A verification slower than the budget: the review is denied (fail closed) with the
    budget as the reason, and the verification, already running, is kept for the retry."""
    import json

    from slsacheck.admission.webhook import Webhook, WebhookSettings
    from tests.admission.support import pod_review

    release = threading.Event()

    def slow_verify(ref: ImageRef, policies: PolicySet, options: RegistryOptions) -> Verdict:
        release.wait(30)
        return _verdict(Outcome.PASS)

    async def scenario() -> None:
        judge = Judge(JudgeSettings(RegistryOptions(), workers=2), Metrics(), verify=slow_verify,
                      resolve=lambda ref, options: DIGEST)
        webhook = Webhook(holder, judge, judge.metrics, WebhookSettings(budget_seconds=0.3))
        body = json.dumps(pod_review(["registry.test/adm/app:v1"])).encode()
        denied = (await webhook.review(body, mutate=False))["response"]
        assert denied["allowed"] is False and "time budget of 0.3s ran out" in denied["status"]["message"]
        assert judge.metrics.budget_exceeded.value() == 1 and judge.pool.running == 1
        release.set()
        for _ in range(200):
            if judge.pool.running == 0:
                break
            await asyncio.sleep(0.01)
        allowed = (await webhook.review(body, mutate=False))["response"]
        assert allowed["allowed"] is True and judge.metrics.verifications.value() == 1
        assert judge.metrics.image_decisions.value(how="cache") == 1
        judge.close()

    asyncio.run(scenario())
