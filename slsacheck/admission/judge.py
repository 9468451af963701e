"""One image text in, one Verdict out, as cheaply as correctness allows.

The order for each image of a review:

1. parse the reference; one that does not parse (or names an OCI layout, which a cluster
   cannot pull) fails `image.reference` with no registry call;
2. choose policies by NAME (`PolicySet.matching`): an image no policy matches is decided
   by `noMatch` there and then, with no registry call and no thread;
3. know the digest: pinned in the text, or from the short tag cache, or by resolving the
   tag at the registry (one resolution per tag at a time, shared by concurrent callers).
   A tag is resolved by reading its manifest (GET, digest-checked), not by HEAD: step 5
   needs those bytes anyway, and is handed them instead of asking the registry again, so
   a first-seen image costs the gate's own requests and no more;
4. the verdict cache, keyed by (repository, digest, policy-set digest);
5. otherwise one verification per key at a time (single flight), run by the synchronous
   gate in a thread of the `WorkerPool`, pinned to the digest of step 3, so the verdict is
   about exactly the bytes that will be pinned and run.

`Judge.lookup` is steps 1-4 without a thread, a task or a registry call: when every image
of a review is decided there (the warm path), the webhook answers from the event loop
without scheduling anything. What an image text means under a policy set (its reference,
whether a policy selects it) is remembered per (policy-set digest, text), so the warm path
parses nothing twice. `lookup` also says what such a result rests on (`Held`: the tag
and verdict cache entries it was read from), and `Judge.holds` checks that it still does:
the webhook reuses a whole encoded answer only while every image's entries are the ones it
was built from (see `answers`).

Steps 3 and 5 are registry calls: the pool charges them to the review's requester and to
the image's registry host (so that no one requester and no one host can take every
thread), and refuses them at once while their host is marked unresponsive (it let a call
run past `slow_after`); see `pool`.

Never raises: every failure becomes a Verdict that does not pass (`incomplete` for the
registry, an unresponsive host, the budget or an unexpected error), so a review is always
answered and never allowed by accident. Dry runs read the caches but never write them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from slsacheck.admission.cache import TtlCache
from slsacheck.admission.logs import log_event
from slsacheck.admission.metrics import Increment, Metrics
from slsacheck.admission.pool import PoolSettings, Unresponsive, WorkerPool
from slsacheck.admission.reload import Loaded
from slsacheck.admission.trust_refresh import SERVING
from slsacheck.errors import Error
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Manifest
from slsacheck.models.digest import Digest
from slsacheck.models.reference import ImageRef
from slsacheck.models.verdict import Check, Outcome, Verdict
from slsacheck.oci.open import SHARED_POOL
from slsacheck.oci.options import RegistryOptions
from slsacheck.oci.registry import RegistryStore
from slsacheck.policy.model import PolicySet
from slsacheck.verify.authorities import TrustRoots
from slsacheck.verify.gate import no_match_verdict, verify_image

How = Literal["no_match", "cache", "verified", "shared", "invalid", "error", "budget", "unchanged", "unresponsive"]
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
class Held:
    """What a result of `lookup` rests on: the tag cache entry (`tag_key` -> `digest`; no key
    when the text carries its digest) and the verdict cache entry (`verdict_key` -> exactly
    the object `verdict`). No verdict key: no policy selected the image, which only the policy
    set decides."""

    tag_key: str | None = None
    digest: str | None = None
    verdict_key: tuple[str, str, str] | None = None
    verdict: Verdict | None = None


NOT_SELECTED = Held()


@dataclass(frozen=True)
class _Named:
    """What an image text means under one policy set: its reference, whether a policy selects
    it, and its tag cache key."""

    ref: ImageRef
    selected: bool
    tag_key: str


@dataclass(frozen=True)
class JudgeSettings:
    """`workers`: verification threads; TTLs in seconds; `cache_size`: entries per cache.

    `host_workers` / `requester_workers`: the threads one registry host / one requester may
    hold (None: half the workers, at least one); `slow_after`: seconds a registry call may run
    before its host is marked unresponsive (half the review budget); `cooldown`: seconds the
    mark lasts.
    """

    options: RegistryOptions
    workers: int = 8
    verdict_ttl: float = 600.0
    fail_ttl: float = 30.0
    tag_ttl: float = 15.0
    cache_size: int = 10_000
    host_workers: int | None = None
    requester_workers: int | None = None
    slow_after: float = 4.0
    cooldown: float = 10.0

    def pool(self) -> PoolSettings:
        share = max(1, self.workers // 2)
        return PoolSettings(self.workers, min(self.workers, self.host_workers or share),
                            min(self.workers, self.requester_workers or share), self.slow_after, self.cooldown)


def incomplete(image: str, reason: str, digest: str | None = None) -> Verdict:
    return Verdict(image, digest, (), (), (reason,))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, Error):
        return str(exc) + (f"; hint: {exc.hint}" if exc.hint else "")
    return f"unexpected {type(exc).__name__}: {exc}"


VerifyFn = Callable[[ImageRef, PolicySet, RegistryOptions], Verdict]
ResolveFn = Callable[[ImageRef, RegistryOptions], str]


class _Resolved(RegistryStore):
    """A repository whose manifest for one digest was already read (when its tag was
    resolved): asked for that digest, it answers from memory after checking the bytes
    against the digest again, so the gate holds exactly what a fresh read would have given."""

    def __init__(self, store: RegistryStore, manifest: Manifest) -> None:
        super().__init__(store.client, store.repository)
        self._manifest = manifest

    def fetch_manifest(self, reference: str, *, max_size: int = mt.MAX_MANIFEST_SIZE) -> Manifest:
        known = self._manifest
        if reference != str(known.digest) or len(known.raw) > max_size:
            return super().fetch_manifest(reference, max_size=max_size)
        known.digest.check(known.raw, f"manifest {self.location}@{reference}")
        return known


def _store(ref: ImageRef, options: RegistryOptions) -> RegistryStore:
    # The process's shared clients: one per registry host, its kept-alive connections used
    # by every verification thread and every review.
    return RegistryStore(SHARED_POOL.client(ref.registry, options), ref.repository)


def _gate_verify(ref: ImageRef, policies: PolicySet, options: RegistryOptions, manifest: Manifest | None) -> Verdict:
    store = _store(ref, options)
    # TUF roots come from the cache the background refresh keeps: a review never downloads one.
    return verify_image(ref, policies, options=options, roots=TrustRoots(SERVING),
                        store=store if manifest is None else _Resolved(store, manifest))


def _registry_resolve(ref: ImageRef, options: RegistryOptions) -> Manifest:
    return _store(ref, options).fetch_manifest(ref.identifier)


class Judge:
    def __init__(
        self,
        settings: JudgeSettings,
        metrics: Metrics,
        *,
        verify: VerifyFn | None = None,
        resolve: ResolveFn | None = None,
    ) -> None:
        """`verify` / `resolve`: stand-ins for the gate and the registry (tests); without
        them a tag's manifest, read to resolve it, is handed on to its verification."""
        self.settings = settings
        self.metrics = metrics
        self._verify: Callable[[ImageRef, PolicySet, RegistryOptions, Manifest | None], Verdict] = (
            _gate_verify if verify is None else (lambda ref, policies, options, _: verify(ref, policies, options)))
        self._resolve: Callable[[ImageRef, RegistryOptions], str | Manifest] = resolve or _registry_resolve
        self.pool = WorkerPool(settings.pool(), on_mark=self._marked)
        self.verdicts: TtlCache[tuple[str, str, str], Verdict] = TtlCache(settings.verdict_ttl, settings.cache_size)
        self.tags: TtlCache[str, str] = TtlCache(settings.tag_ttl, settings.cache_size)
        self._names: dict[tuple[str, str], _Named] = {}
        self._verdict_hits = metrics.cache_hits.series(cache="verdict")
        self._tag_hits = metrics.cache_hits.series(cache="tag")

    def lookup(self, text: str, loaded: Loaded) -> tuple[ImageResult, Held] | None:
        """The verdict on `text` when the caches hold it (or no policy selects it), with the
        cache entries it was read from; else None.

        Counts nothing: the caller counts the results (`cached_counts`) once it uses them, so
        that a review answered by `judge` after all is not counted twice.
        """
        named = self._named(text, loaded)
        if named is None:
            return None
        ref = named.ref
        if not named.selected:
            return ImageResult(text, no_match_verdict(ref, loaded.policies), "no_match"), NOT_SELECTED
        tag_key = None if ref.digest is not None else named.tag_key
        digest = str(ref.digest) if tag_key is None else self.tags.get(tag_key)
        if digest is None:
            return None
        key = (ref.name, digest, loaded.digest)
        found = self.verdicts.get(key)
        if found is None:
            return None
        result = ImageResult(text, found if found.image == text else replace(found, image=text), "cache")
        return result, Held(tag_key, digest, key, found)

    def holds(self, held: Sequence[Held]) -> bool:
        """Whether the caches still hold exactly what each of `held` was read from: the same
        objects, unexpired (a replaced, evicted or expired entry does not hold). The entries are
        marked recently used, as `lookup` marks them, while answers built on them are served."""
        tags: list[tuple[str, str]] = []
        verdicts: list[tuple[tuple[str, str, str], Verdict]] = []
        for h in held:
            if h.verdict_key is None:
                continue  # no policy selected the image: nothing cached to hold
            if h.verdict is None or (h.tag_key is not None and h.digest is None):
                return False
            if h.tag_key is not None and h.digest is not None:
                tags.append((h.tag_key, h.digest))
            verdicts.append((h.verdict_key, h.verdict))
        return self.tags.holding(tags) and self.verdicts.holding(verdicts)

    def cached_counts(self, results: Sequence[ImageResult]) -> tuple[Increment, ...]:
        """The metrics `judge` would have counted for these results of `lookup`, as increments for
        the caller to add (and to add again with each review a kept answer serves)."""
        hits = [r for r in results if r.how == "cache"]
        out: list[Increment] = []
        if hits:
            out.append(self._verdict_hits.times(len(hits)))
            tagged = sum("@" not in r.image for r in hits)  # a digest in the text needs no tag lookup
            if tagged:
                out.append(self._tag_hits.times(tagged))
        for how, n in Counter(r.how for r in results).items():
            out.append(self.metrics.image_decisions.series(how=how).times(n))
        return tuple(out)

    def _named(self, text: str, loaded: Loaded) -> _Named | None:
        key = (loaded.digest, text)
        named = self._names.get(key)
        if named is None:
            try:
                ref = ImageRef.parse(text)
            except Error:
                return None  # `judge` says what is wrong with it
            if ref.is_layout:
                return None
            if len(self._names) >= self.settings.cache_size:
                self._names.clear()  # texts of older policy sets and one-off images: cheap to recompute
            named = self._names[key] = _Named(ref, bool(loaded.policies.matching(ref)), str(ref))
        return named

    def close(self) -> None:
        self.pool.close()

    async def judge(self, text: str, loaded: Loaded, *, dry_run: bool = False, requester: str = "") -> ImageResult:
        """The verdict on `text`; `requester` (the review's user name) is charged for registry calls."""
        try:
            return await self._judge(text, loaded, dry_run, requester)
        except Exception as exc:  # fail closed: a bug must deny, not crash the review
            log_event(logging.ERROR, "image judgement failed", image=text, error=repr(exc))
            self.metrics.image_decisions.inc(how="error")
            return ImageResult(text, incomplete(text, _reason(exc)), "error")

    async def _judge(self, text: str, loaded: Loaded, dry_run: bool, requester: str) -> ImageResult:
        try:
            ref = ImageRef.parse(text)
        except Error as exc:
            return self._invalid(text, str(exc), exc.hint)
        if ref.is_layout:
            return self._invalid(text, "an OCI layout path", "a cluster pulls from registries; name a registry image")
        policies = loaded.policies
        if not policies.matching(ref):

            self.metrics.image_decisions.inc(how="no_match")
            return ImageResult(text, no_match_verdict(ref, policies), "no_match")
        manifest: Manifest | None = None
        try:
            if ref.digest is not None:
                digest = str(ref.digest)
            else:
                digest, manifest = await self._digest_of(ref, dry_run, requester)
        except Unresponsive as exc:
            return self._unresponsive(text, exc, None)
        except Exception as exc:
            self.metrics.registry_errors.inc()
            self.metrics.image_decisions.inc(how="error")
            return ImageResult(text, incomplete(str(ref), f"resolving {ref}: {_reason(exc)}"), "error")
        key = (ref.name, digest, loaded.digest)
        cached = self.verdicts.get(key)
        if cached is not None:
            self.metrics.cache_hits.inc(cache="verdict")
            self.metrics.image_decisions.inc(how="cache")
            return ImageResult(text, replace(cached, image=text), "cache")
        self.metrics.cache_misses.inc(cache="verdict")
        pinned = ref.with_digest(Digest.parse(digest), keep_tag=True)
        try:
            verdict, shared = await self.pool.call(
                ("verify", *key), ref.registry, requester,
                lambda: self._verify_counted(pinned, policies, text, digest, manifest),
                keep=None if dry_run else (lambda found: self._remember(key, found)),
                ok=lambda found: found.outcome != "error", dry_run=dry_run,
            )
        except Unresponsive as exc:
            return self._unresponsive(text, exc, digest)
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

    def _unresponsive(self, text: str, exc: Unresponsive, digest: str | None) -> ImageResult:
        self.metrics.image_decisions.inc(how="unresponsive")
        return ImageResult(text, incomplete(text, _reason(exc), digest), "unresponsive")

    def _marked(self, host: str, why: str) -> None:
        self.metrics.unresponsive_marks.inc()
        log_event(logging.WARNING, "registry marked unresponsive: its images are denied at once meanwhile",
                  registry=host, why=why, seconds=self.settings.cooldown)

    def _verify_counted(self, ref: ImageRef, policies: PolicySet, text: str, digest: str,
                        manifest: Manifest | None) -> Verdict:
        self.metrics.verifications.inc()
        try:
            verdict = self._verify(ref, policies, self.settings.options, manifest)
        except Exception as exc:  # configuration errors (a trusted root unreadable) and bugs: not a pass
            verdict = incomplete(text, f"verifying {text}: {_reason(exc)}", str(ref.digest))
        if verdict.outcome != "error" and verdict.digest != digest:
            verdict = incomplete(text, f"the gate judged {verdict.digest}, not the digest resolved ({digest})")
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

    async def _digest_of(self, ref: ImageRef, dry_run: bool, requester: str) -> tuple[str, Manifest | None]:
        """The digest the tag names now (or within the tag cache's TTL), with its manifest when
        it was read just now; raises what the registry did."""
        key = str(ref)
        cached = self.tags.get(key)
        if cached is not None:
            self.metrics.cache_hits.inc(cache="tag")
            return cached, None
        self.metrics.cache_misses.inc(cache="tag")
        found, shared = await self.pool.call(
            ("resolve", key), ref.registry, requester, lambda: self._resolve_counted(ref),
            keep=None if dry_run else (lambda found: self.tags.put(key, _digest(found))), dry_run=dry_run,
        )
        digest = _digest(found)
        if shared and not dry_run:
            self.tags.put(key, digest)
        return digest, found if isinstance(found, Manifest) else None

    def _resolve_counted(self, ref: ImageRef) -> str | Manifest:
        self.metrics.resolutions.inc()
        return self._resolve(ref, self.settings.options)


def _digest(resolved: str | Manifest) -> str:
    return resolved if isinstance(resolved, str) else str(resolved.digest)
