"""TUF trust roots for the webhook: refreshed in the background, served from the last verified.

The mirrors are those the loaded policies' keyless authorities name (`tuf:`, or the public
good by default), re-read from the current policy set on every round so a reload is
followed. A mirror is updated (`slsacheck.signing.tuf.update`, in a daemon thread, at most
one in flight per mirror) when nothing is cached, when its root is past or within
`refresh_before` of its expiry, or when the last update is older than `interval`.

Invariants:
- admission reviews never fetch: they verify with `SERVING` (the cached root, even past
  its expiry, never a download in a request's path); a mirror never cached makes the
  keyless checks incomplete, which the policy's failure mode decides;
- a failed update keeps the previous root (the cache commits only complete updates) and
  is logged with its reason; `report()` reads the cache and the last outcome, never the
  network: `/readyz` says not ready while a root is missing or past its expiry, and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from slsacheck.admission.logs import log_event
from slsacheck.admission.reload import PolicyHolder
from slsacheck.errors import Error
from slsacheck.policy.authority import KeylessAuthority
from slsacheck.signing import tuf
from slsacheck.signing.tuf_source import Mirror


def _log_notice(line: str) -> None:
    log_event(logging.INFO, "trust root fetch", detail=line)


# What a review may do with a TUF root: use the cached one, never fetch, past expiry too.
SERVING = tuf.TufUse(serve_expired=True, notice=None)

UpdateFn = Callable[[Mirror], object]


def mirrors_of(holder: PolicyHolder) -> tuple[Mirror, ...]:
    """The TUF mirrors the current policies' keyless authorities name, one per URL."""
    found: dict[str, Mirror] = {}
    for policy in holder.current.policies.policies:
        for authority in policy.authorities.values():
            if isinstance(authority, KeylessAuthority) and isinstance(authority.trusted_root, Mirror):
                found.setdefault(authority.trusted_root.url, authority.trusted_root)
    return tuple(found[url] for url in sorted(found))


class TrustRefresher:
    def __init__(
        self,
        holder: PolicyHolder,
        *,
        interval: float = 3600.0,
        check_every: float = 30.0,
        refresh_before: timedelta = timedelta(hours=6),
        cache: Path | None = None,
        update: UpdateFn | None = None,
    ) -> None:
        self.holder = holder
        self.interval = interval
        self.check_every = check_every
        self.refresh_before = refresh_before
        self.cache = cache
        self._update = update or (lambda mirror: tuf.update(mirror, cache=cache, notice=_log_notice))
        self._lock = threading.Lock()
        self._inflight: set[str] = set()
        self._errors: dict[str, str] = {}
        self.updates_started = 0

    # -- the background loop ----------------------------------------------------------------

    async def start(self, first_wait: float = 10.0) -> None:
        """Launch the first round and wait up to `first_wait` seconds for it."""
        threads = self._round()
        deadline = asyncio.get_running_loop().time() + first_wait
        for thread in threads:
            while thread.is_alive() and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.check_every)
            if stop.is_set():
                return
            try:
                self._round()
            except Exception as exc:  # a dead loop would freeze the roots: log, keep going
                log_event(logging.ERROR, "trust root refresh round failed", error=repr(exc))

    def _due(self, mirror: Mirror, now: datetime) -> bool:
        found = tuf.cached(mirror, self.cache)
        return (found is None or found.expires - now <= self.refresh_before
                or (now - found.fetched_at).total_seconds() >= self.interval)

    def _round(self) -> list[threading.Thread]:
        now = datetime.now(UTC)
        started = []
        for mirror in mirrors_of(self.holder):
            with self._lock:
                if mirror.url in self._inflight:
                    continue
            try:
                due = self._due(mirror, now)
            except Error as exc:  # a damaged cache: update over it
                self._errors[mirror.url] = str(exc)
                due = True
            if due:
                started.append(self._launch(mirror))
        return started

    def _launch(self, mirror: Mirror) -> threading.Thread:
        with self._lock:
            self._inflight.add(mirror.url)
            self.updates_started += 1

        def work() -> None:
            try:
                self._update(mirror)
            except Error as exc:
                error = exc.message + (f"; hint: {exc.hint}" if exc.hint else "")
                with self._lock:
                    self._errors[mirror.url] = error
                log_event(logging.WARNING, "trust root update failed; serving the last verified root",
                          mirror=mirror.url, error=error)
            except Exception as exc:  # never kill the thread silently
                with self._lock:
                    self._errors[mirror.url] = f"unexpected {type(exc).__name__}: {exc}"
                log_event(logging.ERROR, "trust root update failed", mirror=mirror.url, error=repr(exc))
            else:
                with self._lock:
                    self._errors.pop(mirror.url, None)
            finally:
                with self._lock:
                    self._inflight.discard(mirror.url)

        thread = threading.Thread(target=work, name=f"slsacheck-tuf-{mirror.url}", daemon=True)
        thread.start()
        return thread

    # -- what /readyz reads -------------------------------------------------------------------

    def report(self) -> tuple[list[str], dict[str, dict[str, Any]]]:
        """(reasons not to be ready, per-mirror status); reads the cache, never the network."""
        now = datetime.now(UTC)
        not_ready: list[str] = []
        roots: dict[str, dict[str, Any]] = {}
        for mirror in mirrors_of(self.holder):
            with self._lock:
                error = self._errors.get(mirror.url)
            try:
                found = tuf.cached(mirror, self.cache)
            except Error as exc:
                found, error = None, str(exc)
            status: dict[str, Any] = {"cached": found is not None, "lastUpdateError": error}
            if found is None:
                not_ready.append(f"trust root of {mirror.url}: not cached yet"
                                 + (f" (last update: {error})" if error else ""))
            else:
                expired = found.expired(now)
                status.update(expires=found.expires.isoformat(), fetchedAt=found.fetched_at.isoformat(),
                              expired=expired)
                if expired:
                    not_ready.append(f"trust root of {mirror.url} expired at {found.expires.isoformat()}; "
                                     "serving the last verified root"
                                     + (f" (last update: {error})" if error else ""))
            roots[mirror.url] = status
        return not_ready, roots
