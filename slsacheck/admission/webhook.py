"""One AdmissionReview request, answered: what to check, within which budget, what to say.

`Webhook.answer(body, mutate=...)` (the encoded answer the app sends; `review` gives it as a
JSON value) parses the review (MalformedReview -> HTTP 400 in the app), skips what carries
no new image (operations other than CREATE and UPDATE, subresources other than
ephemeralcontainers, kinds without a pod spec, UPDATEs whose images the old object already
had) with the reason in the answer, judges every distinct image concurrently within the time
budget, and answers. An image not judged when the budget runs out is `incomplete` and so
denied in enforce mode (fail closed) and warned about in warn mode; a verification already
running keeps going and fills the cache for the retry, one still waiting for a thread is
dropped when no review waits for it. The review's requester (`userInfo.username`) is charged
for the threads its images take.

`/mutate` answers like `/validate` and, when it allows, adds a JSONPatch pinning each
judged image to the digest it was judged at (`repo:tag@sha256:...`), so what runs is
what was checked. Images decided without a registry call (no policy matched) are not
pinned: nothing was resolved for them.

The warm path: when the caches decide every image (`Judge.lookup`), the review is answered
there and then on the event loop, with no task, no thread and no wait; the log line's
fields are only built when INFO is on. The encoded answer is kept (`answers`) and reused,
with the next review's uid, for every review with the same images, endpoint and policy set
while each cache entry it was built from is still there: such a review costs a parse, the
image extraction, a few cache reads and a log line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slsacheck.admission.answers import Answer, Answers, Outcome, encode
from slsacheck.admission.answers import key as answer_key
from slsacheck.admission.judge import Held, ImageResult, Judge, incomplete
from slsacheck.admission.logs import LOGGER, ReviewLines, encode_fields, json_string, log_event
from slsacheck.admission.messages import decide
from slsacheck.admission.metrics import Increment, Metrics
from slsacheck.admission.readiness import Readiness
from slsacheck.admission.reload import Loaded, PolicyHolder
from slsacheck.admission.review import (
    CHECKED_OPERATIONS,
    IMAGE_SUBRESOURCES,
    MalformedReview,
    PodImage,
    Review,
    images_of,
    is_workload,
    parse_review,
    pin_patch,
    response,
)

# Built once: `json.dumps` with options builds an encoder per call.
_COMPACT = json.JSONEncoder(separators=(",", ":"))


@dataclass(frozen=True)
class _Outcome:
    """What the review's log line says, kept as is until the line is written (if it is)."""

    decision: str
    reason: str | None = None
    texts: Sequence[str] = ()
    results: Sequence[ImageResult] | None = None
    mode: str = ""
    patched: int = 0
    counts: tuple[Increment, ...] = ()  # image metrics counted with the review's own

    def fields(self) -> dict[str, Any]:
        if self.results is None:
            out: dict[str, Any] = {"decision": self.decision, "reason": self.reason}
            if self.texts:
                out["images"] = list(self.texts)
            return out
        return {
            "decision": self.decision,
            "mode": self.mode,
            "images": [{"image": r.image, "digest": r.digest, "outcome": r.verdict.outcome, "how": r.how,
                        "failed": [c.id for c in r.verdict.failed], "incomplete": list(r.verdict.incomplete)}
                       for r in self.results],
            "patched": self.patched,
        }

    def encoded(self) -> str:
        return encode_fields(self.fields())


@dataclass(frozen=True)
class WebhookSettings:
    mode: str = "enforce"  # or "warn"
    budget_seconds: float = 8.0


ENDPOINTS = {False: "validate", True: "mutate"}


class Webhook:
    def __init__(self, holder: PolicyHolder, judge: Judge, metrics: Metrics, settings: WebhookSettings,
                 readiness: Readiness | None = None, *, lines: ReviewLines | None = None) -> None:
        if settings.mode not in ("enforce", "warn"):
            raise ValueError(f"mode must be enforce or warn, not {settings.mode!r}")
        self.holder = holder
        self.judge = judge
        self.metrics = metrics
        self.settings = settings
        # Readiness is read by /readyz only; reviews never consult it (nor wait on a probe).
        self.readiness = readiness or Readiness(holder, judge.settings.options)
        self.answers = Answers(judge.settings.cache_size)
        self.lines = lines or ReviewLines()
        self._answers_for = ""  # the policy-set digest the kept answers were built under
        self._received = {e: metrics.requests.series(endpoint=e) for e in ENDPOINTS.values()}
        self._latency = {e: metrics.latency.series(endpoint=e) for e in ENDPOINTS.values()}
        self._decided: dict[tuple[str, str], tuple[Increment, ...]] = {}

    async def review(self, body: bytes, *, mutate: bool) -> dict[str, Any]:
        """The answer to the AdmissionReview in `body`, as a JSON value (what `answer` sends)."""
        value: dict[str, Any] = json.loads(await self.answer(body, mutate=mutate))
        return value

    async def answer(self, body: bytes, *, mutate: bool) -> bytes:
        """The answer to the AdmissionReview in `body`, encoded; MalformedReview when it is not one."""
        endpoint = ENDPOINTS[mutate]
        started = time.monotonic()
        self.metrics.add((self._received[endpoint],))
        try:
            parsed = parse_review(body)
            answer, outcome = await self._answer(parsed, mutate, started)
        except MalformedReview as exc:
            self.metrics.bad_requests.inc(endpoint=endpoint)
            log_event(logging.WARNING, "malformed review refused (HTTP 400)", endpoint=endpoint, error=str(exc),
                      size=len(body))
            raise
        duration = time.monotonic() - started
        decided = self._decided.get((endpoint, outcome.decision))
        if decided is None:
            decided = self._decided[endpoint, outcome.decision] = (
                self.metrics.decisions.series(endpoint=endpoint, decision=outcome.decision),)
        self.metrics.answered((*outcome.counts, *decided), self._latency[endpoint], duration)
        if LOGGER.isEnabledFor(logging.INFO):
            # The members written out here, each string escaped as the log encoder would: one
            # review, one line, and no dict of ten fields to build and walk for it.
            self.lines.write(
                f'"endpoint":"{endpoint}","uid":{json_string(parsed.uid)},'
                f'"operation":{json_string(parsed.operation)},"kind":{json_string(parsed.kind)},'
                f'"namespace":{json_string(parsed.namespace)},"name":{json_string(parsed.name)},'
                f'"dry_run":{"true" if parsed.dry_run else "false"},"requester":{json_string(parsed.requester)},'
                f'"duration_ms":{round(duration * 1000, 1)!r},{outcome.encoded()}')
        return answer

    def _skip(self, review: Review, reason: str, texts: Sequence[str] = ()) -> tuple[bytes, _Outcome]:
        return encode(response(review, allowed=True, message=reason)), _Outcome("skipped", reason, texts)

    async def _answer(self, review: Review, mutate: bool, started: float) -> tuple[bytes, _Outcome | Outcome]:
        if review.operation not in CHECKED_OPERATIONS:
            return self._skip(review, f"slsacheck checks CREATE and UPDATE; {review.operation or '(none)'} allowed")
        if review.sub_resource not in IMAGE_SUBRESOURCES:
            return self._skip(review, f"subresource {review.sub_resource} changes no image; allowed")
        if not is_workload(review.kind):
            return self._skip(review, f"kind {review.kind or '(none)'} has no pod spec; allowed without checks")
        images = images_of(review.kind, review.object)
        if not images:
            return self._skip(review, f"{review.kind} names no image; allowed")
        texts: list[str] | None = None
        if review.operation == "UPDATE":
            texts = _distinct(images)
            if self._unchanged(review, texts):
                self.metrics.image_decisions.inc(len(texts), how="unchanged")
                return self._skip(review, "UPDATE adds no image the object did not already have; "
                                  "allowed without lookups", texts)
        loaded = self.holder.current  # one policy set for the whole review
        if loaded.digest != self._answers_for:
            self.answers.clear()  # built under the policy set that was replaced
            self._answers_for = loaded.digest
        key = answer_key(loaded.digest, self.settings.mode, mutate, review.api_version, images)
        kept = self.answers.get(key)
        if kept is not None:
            if self._still(kept, review):
                return kept.for_uid(review.uid), kept.outcome
            self.answers.drop(key)
        if texts is None:
            texts = _distinct(images)
        found = self._lookup_all(texts, loaded)
        results = [r for r, _ in found] if found is not None else await self._judge_all(texts, review, started, loaded)
        what = _what(review)
        decision = decide(results, mode=self.settings.mode, what=what)
        patch = None
        if mutate and decision.allowed:
            pins = {r.image: r.digest for r in results if r.digest and r.how not in ("no_match", "invalid")}
            patch = pin_patch(images, pins)
        audit = {"decision": decision.label,
                 "digests": _COMPACT.encode({r.image: r.digest for r in results})}
        answer = response(review, allowed=decision.allowed, message=decision.message,
                          code=None if decision.allowed else 403, warnings=decision.warnings, patch=patch,
                          audit=audit)
        encoded = encode(answer)
        counts = () if found is None else self.judge.cached_counts(results)  # `judge` counted its own
        outcome = _Outcome(decision.label, results=results, mode=self.settings.mode, patched=len(patch or ()),
                           counts=counts)
        if found is not None:
            # Only a denial's message names the review's workload; every other answer is the
            # same for any workload with these images.
            self.answers.put(key, answer, encoded, held=[h for _, h in found],
                             what=what if decision.message is not None else None,
                             outcome=Outcome(outcome.decision, outcome.encoded(), counts))
        return encoded, outcome

    def _unchanged(self, review: Review, texts: list[str]) -> bool:
        if not isinstance(review.old_object, dict) or not review.old_object:
            return False
        try:
            old = {i.image for i in images_of(review.kind, review.old_object)}
        except MalformedReview:
            return False
        return bool(old) and set(texts) <= old

    def _still(self, kept: Answer, review: Review) -> bool:
        """Whether `kept` answers `review`: the same workload if it names it, and every cache
        entry it was built from still there."""
        if kept.what is not None and kept.what != _what(review):
            return False
        try:
            return self.judge.holds(kept.held)
        except Exception:  # the path that builds answers reads the caches again, or judges
            return False

    def _lookup_all(self, texts: list[str], loaded: Loaded) -> list[tuple[ImageResult, Held]] | None:
        """Every image's result from the caches, or None when any one needs `judge`."""
        found = []
        for text in texts:
            try:
                one = self.judge.lookup(text, loaded)
            except Exception:  # `judge` runs it again and turns the failure into a denial
                return None
            if one is None:
                return None
            found.append(one)
        return found

    async def _judge_all(self, texts: list[str], review: Review, started: float, loaded: Loaded
                         ) -> list[ImageResult]:
        tasks = [asyncio.ensure_future(self.judge.judge(t, loaded, dry_run=review.dry_run, requester=review.requester))
                 for t in texts]
        remaining = max(0.0, self.settings.budget_seconds - (time.monotonic() - started))
        _, pending = await asyncio.wait(tasks, timeout=remaining)
        if pending:
            self.metrics.budget_exceeded.inc()
        results = []
        for text, task in zip(texts, tasks, strict=True):
            if task in pending:
                task.cancel()  # a started verification runs on for the cache; one not started is dropped
                self.metrics.image_decisions.inc(how="budget")
                reason = (f"time budget of {self.settings.budget_seconds:g}s ran out before {text} was verified "
                          "(registry slow or unreachable, or every verification thread busy); retry shortly")
                results.append(ImageResult(text, incomplete(text, reason), "budget"))
            else:
                results.append(task.result())
        return results


def _distinct(images: Sequence[PodImage]) -> list[str]:
    """The image texts, each once, in order: what is judged."""
    return list(dict.fromkeys([i.image for i in images]))


def _what(review: Review) -> str:
    """The workload as a denial names it: `Pod team/app`."""
    return f"{review.kind} {review.namespace + '/' if review.namespace else ''}{review.name or '(generated name)'}"
