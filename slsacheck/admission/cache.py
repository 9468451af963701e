"""What the webhook remembers between requests, and how concurrent requests share work.

- `TtlCache`: a bounded LRU map whose entries expire. The verdict cache uses it keyed by
  (repository name, image digest, policy-set digest): a verdict is about exact bytes
  judged by an exact policy set. The repository is part of the key because policies
  select images by name and signatures name their repository; a digest never stands
  for a tag here, so a moved tag cannot inherit a verdict (the lesson of a peer's cache
  keyed by tag). The tag cache maps `name:tag` to a digest for a short time only.
- `SingleFlight`: concurrent callers asking for the same key share one computation. The
  computation runs as its own task and callers await it shielded, so a caller that
  gives up (its time budget ran out) does not cancel the work for the others; the
  finished result stays available to late callers until its task is forgotten, which
  happens after the caches were written inside the task: there is no moment at which
  neither the flight nor the cache holds the answer.
- Everything here runs on the event loop's thread; no locks are needed.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """At most `max_entries` entries, each living `ttl` seconds (or what `put` says)."""

    def __init__(self, ttl: float, max_entries: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires, value = found
        if self._clock() >= expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V, *, ttl: float | None = None) -> None:
        lifetime = self.ttl if ttl is None else ttl
        if lifetime <= 0:
            return
        self._entries[key] = (self._clock() + lifetime, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class SingleFlight(Generic[K, V]):
    """One running computation per key; everyone asking meanwhile gets its result."""

    def __init__(self) -> None:
        self._flights: dict[K, asyncio.Task[V]] = {}

    async def run(self, key: K, work: Callable[[], Awaitable[V]]) -> tuple[V, bool]:
        """(result, shared): `shared` is True when another caller's flight answered."""
        task = self._flights.get(key)
        shared = task is not None
        if task is None:
            task = asyncio.ensure_future(work())
            self._flights[key] = task
            task.add_done_callback(lambda _t: self._forget(key, _t))
        return await asyncio.shield(task), shared

    def _forget(self, key: K, task: asyncio.Task[V]) -> None:
        if self._flights.get(key) is task:
            del self._flights[key]
        if not task.cancelled():
            task.exception()  # retrieved, so an error nobody awaited is not reported as lost

    def __len__(self) -> int:
        return len(self._flights)
