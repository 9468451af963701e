"""One image text in, one Verdict out, as cheaply as correctness allows.

The order for each image of a review:

1. parse the reference; one that does not parse (or names an OCI layout, which a cluster
   cannot pull) fails `image.reference` with no registry call;
2. choose policies by NAME (`PolicySet.matching`): an image no policy matches is decided
   by `noMatch` there and then, with no registry call and no thread;
3. know the digest: pinned in the text, or from the short tag cache, or by resolving the
   tag at the registry (one resolution per tag at a time, shared by concurrent callers);
4. the verdict cache, keyed by (repository, digest, policy-set digest);
5. otherwise one verification per key at a time (single flight), run by the synchronous
   gate in a bounded thread pool, pinned to the digest of step 3, so the verdict is about
   exactly the bytes that will be pinned and run.

Never raises: every failure becomes a Verdict that does not pass (`incomplete` for the
registry, the budget or an unexpected error), so a review is always answered and never
allowed by accident. Dry runs read the caches but never write them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Literal

from slsacheck.admission.cache import SingleFlight, TtlCache
from slsacheck.admission.logs import log_event
from slsacheck.admission.metrics import Metrics
from slsacheck.admission.reload import Loaded
from slsacheck.errors import Error
from slsacheck.models.digest import Digest
from slsacheck.models.reference import ImageRef
from slsacheck.models.verdict import Check, Outcome, Verdict
from slsacheck.oci.options import RegistryOptions
from slsacheck.policy.model import PolicySet

How = Literal["no_match", "cache", "verified", "shared", "invalid", "error", "budget", "unchanged"]
IMAGE_REFERENCE = "image.reference"


@dataclass(frozen=True)
class ImageResult:
    image: str  # the text as written in the workload
    verdict: Verdict
    how: How

    @property
    def digest(self) -> str | None:
        return self.verdict.digest


@dataclass(frozen=True)
class JudgeSettings:
    """`workers`: verification threads; TTLs in seconds; `cache_size`: entries per cache."""

    options: RegistryOptions
    workers: int = 8
    verdict_ttl: float = 600.0
    fail_ttl: float = 30.0
    tag_ttl: float = 15.0
    cache_size: int = 10_000


def incomplete(image: str, reason: str, digest: str | None = None) -> Verdict:
    return Verdict(image, digest, (), (), (reason,))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, Error):
        return str(exc) + (f"; hint: {exc.hint}" if exc.hint else "")
    return f"unexpected {type(exc).__name__}: {exc}"


VerifyFn = Callable[[ImageRef, PolicySet, RegistryOptions, str], Verdict]
ResolveFn = Callable[[ImageRef, RegistryOptions], str]


def _gate_verify(ref: ImageRef, policies: PolicySet, options: RegistryOptions, text: str) -> Verdict:
    from slsacheck.verify.gate import verify_image  # noqa: PLC0415 - the gate loads with the server

    return verify_image(ref, policies, options=options, image_text=text)


def _registry_resolve(ref: ImageRef, options: RegistryOptions) -> str:
    from slsacheck.oci.open import open_store  # noqa: PLC0415

    return str(open_store(ref, options).resolve(ref.identifier).digest)


class Judge:
    def __init__(
        self,
        settings: JudgeSettings,
        metrics: Metrics,
        *,
        verify: VerifyFn = _gate_verify,
        resolve: ResolveFn = _registry_resolve,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self._verify = verify
        self._resolve = resolve
        self._executor = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="slsacheck-verify")
        self.verdicts: TtlCache[tuple[str, str, str], Verdict] = TtlCache(settings.verdict_ttl, settings.cache_size)
        self.tags: TtlCache[str, str] = TtlCache(settings.tag_ttl, settings.cache_size)
        self._verifying: SingleFlight[tuple[str, str, str], Verdict] = SingleFlight()
        self._resolving: SingleFlight[str, str] = SingleFlight()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def judge(self, text: str, loaded: Loaded, *, dry_run: bool = False) -> ImageResult:
        try:
            return await self._judge(text, loaded, dry_run)
        except Exception as exc:  # fail closed: a bug must deny, not crash the review
            log_event(logging.ERROR, "image judgement failed", image=text, error=repr(exc))
            self.metrics.image_decisions.inc(how="error")
            return ImageResult(text, incomplete(text, _reason(exc)), "error")

    async def _judge(self, text: str, loaded: Loaded, dry_run: bool) -> ImageResult:
        try:
            ref = ImageRef.parse(text)
        except Error as exc:
            return self._invalid(text, str(exc), exc.hint)
        if ref.is_layout:
            return self._invalid(text, "an OCI layout path", "a cluster pulls from registries; name a registry image")
        policies = loaded.policies
        if not policies.matching(ref):
            from slsacheck.verify.gate import no_match_verdict  # noqa: PLC0415

            self.metrics.image_decisions.inc(how="no_match")
            return ImageResult(text, no_match_verdict(ref, policies, text), "no_match")
        digest = str(ref.digest) if ref.digest is not None else await self._digest_of(ref, dry_run)
        if isinstance(digest, Verdict):
            self.metrics.image_decisions.inc(how="error")
            return ImageResult(text, digest, "error")
        key = (ref.name, digest, loaded.digest)
        cached = self.verdicts.get(key)
        if cached is not None:
            self.metrics.cache_hits.inc(cache="verdict")
            self.metrics.image_decisions.inc(how="cache")
            return ImageResult(text, replace(cached, image=text), "cache")
        self.metrics.cache_misses.inc(cache="verdict")
        pinned = ref.with_digest(Digest.parse(digest), keep_tag=True)

        async def verify() -> Verdict:
            loop = asyncio.get_running_loop()
            verdict = await loop.run_in_executor(self._executor, self._verify_counted, pinned, policies, text)
            if verdict.outcome != "error" and verdict.digest != digest:
                verdict = incomplete(text, f"the gate judged {verdict.digest}, not the digest resolved ({digest})")
            if not dry_run:
                self._remember(key, verdict)
            return verdict

        verdict, shared = await self._verifying.run(key, verify)
        if shared and not dry_run:
            self._remember(key, verdict)
        how: How = "shared" if shared else "verified"
        if verdict.outcome == "error":
            how = "error"
        self.metrics.image_decisions.inc(how=how)
        return ImageResult(text, replace(verdict, image=text), how)

    def _invalid(self, text: str, found: str, hint: str | None) -> ImageResult:
        self.metrics.image_decisions.inc(how="invalid")
        check = Check(IMAGE_REFERENCE, Outcome.FAIL, expected="a registry image reference", found=found, hint=hint)
        return ImageResult(text, Verdict(text, None, (), (check,)), "invalid")

    def _verify_counted(self, ref: ImageRef, policies: PolicySet, text: str) -> Verdict:
        self.metrics.verifications.inc()
        try:
            verdict = self._verify(ref, policies, self.settings.options, text)
        except Exception as exc:  # configuration errors (a trusted root unreadable) and bugs: not a pass
            verdict = incomplete(text, f"verifying {text}: {_reason(exc)}", str(ref.digest))
        if verdict.outcome == "error":
            self.metrics.registry_errors.inc()
        return verdict

    def _remember(self, key: tuple[str, str, str], verdict: Verdict) -> None:
        # Errors are never cached (the registry may be back in a second); failures only
        # briefly, since a signature may be attached right after a push.
        if verdict.outcome in ("pass", "warn"):
            self.verdicts.put(key, verdict)
        elif verdict.outcome == "fail":
            self.verdicts.put(key, verdict, ttl=self.settings.fail_ttl)

    async def _digest_of(self, ref: ImageRef, dry_run: bool) -> str | Verdict:
        key = str(ref)
        digest = self.tags.get(key)
        if digest is not None:
            self.metrics.cache_hits.inc(cache="tag")
            return digest
        self.metrics.cache_misses.inc(cache="tag")

        async def resolve() -> str:
            loop = asyncio.get_running_loop()
            found = await loop.run_in_executor(self._executor, self._resolve_counted, ref)
            if not dry_run:
                self.tags.put(key, found)
            return found

        try:
            digest, shared = await self._resolving.run(key, resolve)
        except Exception as exc:
            self.metrics.registry_errors.inc()
            return incomplete(key, f"resolving {key}: {_reason(exc)}")
        if shared and not dry_run:
            self.tags.put(key, digest)
        return digest

    def _resolve_counted(self, ref: ImageRef) -> str:
        self.metrics.resolutions.inc()
        return self._resolve(ref, self.settings.options)
