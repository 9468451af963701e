"""What the webhook remembers between requests.

- `TtlCache`: a bounded LRU map whose entries expire. The verdict cache uses it keyed by
  (repository name, image digest, policy-set digest): a verdict is about exact bytes
  judged by an exact policy set. The repository is part of the key because policies
  select images by name and signatures name their repository; a digest never stands
  for a tag here, so a moved tag cannot inherit a verdict (the lesson of a peer's cache
  keyed by tag). The tag cache maps `name:tag` to a digest for a short time only.
- Concurrent callers share one registry call per key (single flight) in `pool.WorkerPool`,
  which writes these caches before any caller resumes.
- Everything here runs on the event loop's thread; no locks are needed.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
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

    def holding(self, pairs: Iterable[tuple[K, V]]) -> bool:
        """Whether each key still maps, unexpired, to exactly that value object (one clock read;
        each entry is marked recently used, as `get` marks it)."""
        now = self._clock()
        entries = self._entries
        for key, value in pairs:
            found = entries.get(key)
            if found is None or now >= found[0] or found[1] is not value:
                return False
            entries.move_to_end(key)
        return True

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
