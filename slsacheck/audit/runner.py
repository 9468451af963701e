"""The audit runner: many images through the gate at once, each an outcome, none a crash.

`Auditor.run(targets)` feeds a bounded queue from the (lazy) sources on the calling
thread; `concurrency` daemon workers take images from it. For each image a worker:

1. resolves the reference ONCE (the manifest's digest is the hash of the bytes read);
2. claims (repository, digest): the first tag to get there audits it, later tags of
   the same digest wait for that result and are reported under their own name with
   `sameAs` (one verification per digest, however many tags point at it);
3. audits the digest: with policies, `verify_image` (the same gate as `slsacheck
   verify`) over a `MemoStore`, so that describing the evidence afterwards costs no
   request; without, the inventory alone (keyless signatures verified against
   `--trusted-root` when given);
4. appends the record to the spool.

Per image, every failure is a result: a `slsacheck.errors.Error` is the image's `error`
outcome, and so is anything unexpected (named as an internal error), because one odd
image must not end a 10,000-image audit. Configuration errors (an unreadable trusted
root) are raised before the first image. `KeyboardInterrupt` on the calling thread stops
the feed, closes the spool to late workers and returns with `interrupted` set, so the
report writers still produce whole documents of what finished.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from slsacheck.audit.memo import MemoStore
from slsacheck.audit.records import Spool, Summary
from slsacheck.audit.shard import Shard, record_key
from slsacheck.audit.sources import Target
from slsacheck.errors import Error
from slsacheck.models.reference import ImageRef

if TYPE_CHECKING:
    from slsacheck.audit.transport import Clients
    from slsacheck.models.descriptor import Manifest
    from slsacheck.oci.store import Store
    from slsacheck.policy.authority import Authority
    from slsacheck.policy.model import PolicySet
    from slsacheck.signing.tuf import TufUse
    from slsacheck.verify.authorities import TrustRoots

log = logging.getLogger(__name__)
_STOP = object()


@dataclass(frozen=True)
class AuditSettings:
    policy_set: PolicySet | None
    now: datetime
    concurrency: int = 8
    trusted_root: str | None = None  # inventory: verify keyless signatures against this root
    offline: bool = False  # never fetch a TUF trust root (a missing or expired one fails the run)
    shard: Shard | None = None  # audit only the digests this shard owns
    # What the report says it audited (its meta); the targets themselves are passed to `run`.
    sources: tuple[str, ...] = ()
    policy_files: tuple[str, ...] = ()


def _offline() -> TufUse:
    from slsacheck.signing.tuf import TufUse  # noqa: PLC0415 - python-tuf loads only when asked

    return TufUse(offline=True)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, Error):
        text = str(exc)
        return f"{text}; hint: {exc.hint}" if exc.hint else text
    return f"internal error: {type(exc).__name__}: {exc}"


class Auditor:
    def __init__(self, settings: AuditSettings, clients: Clients, spool: Spool, summary: Summary,
                 *, on_record: Callable[[dict[str, Any]], None] | None = None,
                 on_total: Callable[[int], None] | None = None) -> None:
        from slsacheck.verify.authorities import TrustRoots  # noqa: PLC0415

        self.settings = settings
        self.clients = clients
        self.spool = spool
        self.summary = summary
        self.on_record = on_record
        self.on_total = on_total
        self.roots: TrustRoots = TrustRoots(_offline()) if settings.offline else TrustRoots()
        self.inventory_authority: Authority | None = None
        self._claims: dict[tuple[str, str], threading.Event | tuple[int, str]] = {}
        self._lock = threading.Lock()
        self.interrupted = False
        self.listed = 0
        self._prepare()

    def _prepare(self) -> None:
        """Read every trusted root now: a bad path is the operator's error, before any image."""
        policy_set = self.settings.policy_set
        if policy_set is not None:
            for policy in policy_set.policies:
                self.roots.prepare(policy.authorities)
        elif self.settings.trusted_root is not None:
            from slsacheck.verify.simple import keyless_authority  # noqa: PLC0415

            self.inventory_authority = keyless_authority(
                identity=None, identity_regexp=".*", issuer=None, issuer_regexp=".*",
                trusted_root=self.settings.trusted_root, name="trusted-root")
            self.roots.prepare({"trusted-root": self.inventory_authority})

    # -- the feed -----------------------------------------------------------------------

    def run(self, targets: Iterable[Target]) -> None:
        work: queue.Queue[object] = queue.Queue(maxsize=2 * self.settings.concurrency)
        workers = [threading.Thread(target=self._work, args=(work,), daemon=True, name=f"audit-{i}")
                   for i in range(max(1, self.settings.concurrency))]
        for w in workers:
            w.start()
        try:
            for target in targets:
                self.listed += 1
                work.put(target)
            if self.on_total is not None:
                self.on_total(self.listed)
            for _ in workers:
                work.put(_STOP)
            for w in workers:
                while w.is_alive():
                    w.join(0.2)
        except KeyboardInterrupt:
            self.interrupted = True
        finally:
            self.spool.close()

    def _work(self, work: queue.Queue[object]) -> None:
        while True:
            item = work.get()
            if item is _STOP or self.spool.closed:
                return
            assert isinstance(item, Target)
            try:
                record = self.audit(item)
            except Exception as exc:  # one image's bug must not end the audit
                log.exception("auditing %s", item.text)
                record = self._failed(item, None, exc)
            shard = self.settings.shard
            if record is not None and (shard is None or shard.owns(record_key(record))):
                self._emit(record, item)

    def _emit(self, record: dict[str, Any], target: Target) -> int | None:
        self._deployment(target, record)
        offset = self.spool.append(record)
        if offset is not None:
            self.summary.add(record)
            if self.on_record is not None:
                self.on_record(record)
        return offset

    def _deployment(self, target: Target, record: dict[str, Any]) -> None:
        """Where a Kubernetes inventory saw the image run, and whether its tags still point at it."""
        for key in ("running", "workloads", "tags"):  # a `sameAs` copy holds its first image's
            record.pop(key, None)
        deployed = target.deployed
        if deployed is None:
            return
        record.update(deployed.to_json())
        if deployed.tags:
            record["tags"] = [self._tag_now(tag, record.get("digest")) for tag in deployed.tags]

    def _tag_now(self, tag: str, running: str | None) -> dict[str, Any]:
        """The digest `tag` points at now; `moved` when that is not the digest running."""
        try:
            ref = ImageRef.parse(tag)
            current = str(self._store(ref)[0].fetch_manifest(ref.identifier).digest)
        except Error as exc:
            return {"tag": tag, "digest": None, "moved": None, "error": _error_text(exc)}
        return {"tag": tag, "digest": current, "moved": running is not None and current != running}

    # -- one image ----------------------------------------------------------------------

    def _failed(self, target: Target, digest: str | None, exc: BaseException | str) -> dict[str, Any]:
        ref = target.ref
        return {
            "image": target.text, "repository": ref.name if ref else None, "digest": digest, "outcome": "error",
            "slsaLevel": None, "verdict": None, "evidence": None,
            "error": exc if isinstance(exc, str) else _error_text(exc), "sameAs": None,
        }

    def _store(self, ref: ImageRef) -> tuple[Store, MemoStore | None]:
        """The store to read `ref` from, and its read-through cache when it has one
        (registries: a layout is local and is read as it is)."""
        if ref.is_layout:
            from slsacheck.oci.open import open_store  # noqa: PLC0415

            return open_store(ref), None
        from slsacheck.oci.registry import RegistryStore  # noqa: PLC0415

        memo = MemoStore(RegistryStore(self.clients.get(ref.registry), ref.repository))
        return memo, memo

    def audit(self, target: Target) -> dict[str, Any] | None:
        """The record of one image (an `Error` is the record's outcome), or None when the
        record was already emitted (the first tag of a digest emits its own, for `sameAs`)."""
        shard = self.settings.shard
        if target.error is not None or target.ref is None:
            if shard is not None and not shard.owns(target.text):
                return None
            return self._failed(target, None, target.error or "no reference")
        ref = target.ref
        if shard is not None and ref.digest is not None and not shard.owns(str(ref.digest)):
            return None  # pinned (a running digest): another shard's, known without a request
        try:
            store, memo = self._store(ref)
            manifest = store.fetch_manifest(ref.identifier)
        except Error as exc:
            pinned = str(ref.digest) if ref.digest else None
            if shard is not None and not shard.owns(pinned or target.text):
                return None
            return self._failed(target, pinned, f"resolving: {_error_text(exc)}")
        if shard is not None and not shard.owns(str(manifest.digest)):
            return None  # another shard audits this digest (it resolves the tag too)
        if memo is not None:
            memo.remember(manifest, ref.identifier)
        key = (ref.name, str(manifest.digest))
        with self._lock:
            claim = self._claims.get(key)
            if claim is None:
                event = self._claims[key] = threading.Event()
        if claim is not None:
            return self._same_as(target, key, claim)
        offset = None
        try:
            try:
                record = self._audit_digest(target, ref, store, manifest)
            except Exception as exc:  # an Error is the outcome; anything else too, named as internal
                if not isinstance(exc, Error):
                    log.exception("auditing %s", target.text)
                record = self._failed(target, str(manifest.digest), exc)
            offset = self._emit(record, target)
        finally:
            # Whatever happened, later tags of this digest must not wait forever.
            with self._lock:
                self._claims[key] = (offset if offset is not None else -1, target.text)
            event.set()
        return None

    def _same_as(self, target: Target, key: tuple[str, str], claim: threading.Event | tuple[int, str]
                 ) -> dict[str, Any]:
        if isinstance(claim, threading.Event):
            claim.wait()
            with self._lock:
                claim = self._claims[key]
            assert isinstance(claim, tuple)
        offset, first = claim
        if offset < 0:
            return self._failed(target, key[1], "the audit was stopped before this digest was audited")
        record = self.spool.read(offset)
        record["image"] = target.text
        record["sameAs"] = first
        if isinstance(record.get("verdict"), dict):
            record["verdict"]["image"] = target.text
        return record

    def _audit_digest(self, target: Target, ref: ImageRef, store: Store, manifest: Manifest) -> dict[str, Any]:
        from slsacheck.attach.candidates import collect_candidates  # noqa: PLC0415
        from slsacheck.audit.inventory import describe, verified_sources  # noqa: PLC0415

        settings = self.settings
        pinned = replace(ref, tag=None, digest=manifest.digest) if not ref.is_layout else ref
        verdict = None
        trust = "no policy and no --trusted-root"
        if settings.policy_set is not None:
            from slsacheck.verify.gate import verify_image  # noqa: PLC0415

            verdict = verify_image(pinned.written_as(target.text), settings.policy_set, store=store,
                                   now=settings.now, roots=self.roots)
            if verdict.incomplete and verdict.evidence is None:
                record = self._failed(target, str(manifest.digest), "; ".join(verdict.incomplete))
                record["outcome"] = verdict.outcome
                record["verdict"] = verdict.to_json()
                return record
            verified, rejected = verified_sources(verdict.evidence.to_json() if verdict.evidence else {})
            trust = "no authority of the matching policies"
        candidates = collect_candidates(store, manifest.digest)
        if settings.policy_set is None:
            verified, rejected = {}, {}
            if self.inventory_authority is not None:
                from slsacheck.verify.collect import Checker, evidence_from  # noqa: PLC0415

                checker = Checker(manifest.digest, manifest=manifest.raw, now=settings.now, roots=self.roots)
                evidence = evidence_from(candidates, {"trusted-root": self.inventory_authority}, target.text,
                                         checker)
                verified, rejected = verified_sources(evidence.to_json())
                trust = "the --trusted-root (keyless signatures only)"
        described = describe(candidates, verified, now=settings.now, verdict=verdict, trust=trust,
                             rejected_reasons=rejected)
        problems = list(verdict.incomplete) if verdict is not None else list(candidates.incomplete)
        outcome = verdict.outcome if verdict is not None else "error" if problems else "inventory"
        return {
            "image": target.text, "repository": ref.name, "digest": str(manifest.digest), "outcome": outcome,
            "slsaLevel": described["slsa"]["level"], "verdict": verdict.to_json() if verdict else None,
            "evidence": described,
            "error": "; ".join(problems) if problems else None,
            "sameAs": None,
        }
