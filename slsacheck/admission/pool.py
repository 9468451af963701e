"""The verification threads, shared: per requester, per registry host, and not with hosts that hang.

A registry call (a tag resolution, a verification) runs in a thread because the gate is
synchronous, and a Python thread cannot be stopped: a call to a host that accepts
connections and never answers holds its thread until its requests time out (`app.build`
caps them so that such a call ends about when its review is answered). So who may start
a call is decided here, before a thread is taken:

- at most `workers` calls run at once; a call waits on the event loop, holding no thread,
  until it may start;
- at most `per_host` of them against one registry host, and at most `per_requester`
  charged to one requester (the AdmissionReview's `userInfo.username`): a flood of reviews
  from one user, or naming one host, cannot take every thread;
- a host that has not answered a call yet (or was marked since) gets one thread at a
  time: a host that never answers holds one thread, not `per_host` of them queued behind
  each other on its connection;
- waiting calls start in arrival order among those their caps allow, calls of real
  admissions before those only dry runs wait for: one held back by its host or its
  requester does not hold up the others behind it;
- one call per key at a time (single flight): reviews asking for the same key meanwhile
  join it. A call may be charged to any requester waiting for it, so asking for someone
  else's image first (with one's own share used up) cannot stall it;
- a call nobody waits for any more (every review asking for it was answered at its
  budget) is dropped if it has not started. Once started it runs to its end and hands its
  result to `keep` (the caches) before its waiters resume, whether or not anyone still
  waits, so a retry finds it;
- a host is marked *unresponsive* for `cooldown` seconds when a review's budget runs out
  while a call to it has been running at least `slow_after` seconds, or when a call to it
  ends in a registry error after running that long. While marked, calls to it are refused
  at once (`Unresponsive`, no thread) and calls waiting for it are refused too; a call to
  it that ends without a registry error, or with an HTTP error (an answer), clears the mark.

Everything here but the calls' own work runs on the event loop's thread: no locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from slsacheck.errors import RegistryError

T = TypeVar("T")


class Unresponsive(RegistryError):
    """A registry host marked unresponsive: refused without contacting it."""


@dataclass(frozen=True)
class PoolSettings:
    """Thread counts, and seconds: `slow_after` marks a host, `cooldown` keeps the mark."""

    workers: int = 8
    per_host: int = 4
    per_requester: int = 4
    slow_after: float = 4.0
    cooldown: float = 10.0

    def __post_init__(self) -> None:
        for name in ("workers", "per_host", "per_requester"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if not (self.slow_after > 0 and self.cooldown >= 0):
            raise ValueError("slow_after must be positive and cooldown not negative")


@dataclass(frozen=True)
class _Mark:
    until: float
    why: str


class _Call:
    """One shared registry call: who waits for it, who may be charged, where it stands."""

    def __init__(self, key: Hashable, host: str, requester: str) -> None:
        self.key = key
        self.host = host
        self.requesters = [requester]
        self.dry_run = True  # until a review that is not a dry run asks for it
        self.waiters = 0
        self.charged: str | None = None  # set when granted a thread; cleared when released
        self.started: float | None = None  # clock() when its thread started
        self.granted: asyncio.Future[None] | None = None
        self.task: asyncio.Task[Any] | None = None


MarkHook = Callable[[str, str], None]
_MAX_HOSTS = 4096


class WorkerPool:
    def __init__(self, settings: PoolSettings, *, clock: Callable[[], float] = time.monotonic,
                 on_mark: MarkHook | None = None) -> None:
        self.settings = settings
        self._clock = clock
        self._on_mark = on_mark
        self._executor = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="slsacheck-verify")
        self._calls: dict[Hashable, _Call] = {}
        self._queue: list[_Call] = []
        self._running = 0
        self._by_host: Counter[str] = Counter()
        self._by_requester: Counter[str] = Counter()
        self._marks: dict[str, _Mark] = {}
        self._answered: OrderedDict[str, None] = OrderedDict()  # hosts whose last call ended well

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- what tests, metrics and the judge read ----------------------------------------------

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def __len__(self) -> int:
        return len(self._calls)

    def render_metrics(self) -> str:
        """The pool's gauges in Prometheus text format (no host labels: hosts are named by requesters)."""
        now = self._clock()
        marked = sum(1 for mark in self._marks.values() if mark.until > now)
        p = "slsacheck_admission_"
        gauges = (("threads_busy", "Verification threads running a registry call.", self._running),
                  ("calls_waiting", "Registry calls waiting for a thread (their caps allow none yet).",
                   len(self._queue)),
                  ("registries_marked", "Registry hosts marked unresponsive right now.", marked))
        lines = []
        for name, help_text, value in gauges:
            lines += [f"# HELP {p}{name} {help_text}", f"# TYPE {p}{name} gauge", f"{p}{name} {value}"]
        return "\n".join(lines) + "\n"

    def refusal(self, host: str) -> Unresponsive | None:
        """The error for `host` while it is marked unresponsive, else None."""
        mark = self._marks.get(host)
        if mark is None:
            return None
        left = mark.until - self._clock()
        if left <= 0:
            del self._marks[host]
            return None
        return Unresponsive(
            f"registry {host} is marked unresponsive for {left:.0f}s more: {mark.why}",
            registry=host,
            hint="slsacheck does not wait on a registry that hangs, so that it cannot take the webhook's threads; "
            "retry when the registry answers again",
        )

    # -- calls -----------------------------------------------------------------------------

    async def call(self, key: Hashable, host: str, requester: str, work: Callable[[], T], *,
                   keep: Callable[[T], None] | None = None, ok: Callable[[T], bool] = lambda _: True,
                   dry_run: bool = False) -> tuple[T, bool]:
        """`work()`'s result, run in a thread once per `key` at a time; True when joined, not started.

        Raises `Unresponsive` at once while `host` is marked, and whatever `work` raised.
        `ok(result)` False means the registry kept the call from completing (it may mark the host).
        A call only dry runs wait for starts after the waiting calls of real admissions.
        """
        refused = self.refusal(host)
        if refused is not None:
            raise refused
        entry = self._calls.get(key)
        shared = entry is not None
        if entry is None:
            fresh = entry = self._calls[key] = _Call(key, host, requester)
            fresh.task = asyncio.ensure_future(self._run(fresh, work, keep, ok))
            fresh.task.add_done_callback(lambda task: self._done(fresh, task))
        elif requester not in entry.requesters:
            entry.requesters.append(requester)
            self._dispatch()
        if not dry_run:
            entry.dry_run = False  # its place among the waiting is an admission's now
        assert entry.task is not None
        entry.waiters += 1
        try:
            result: T = await asyncio.shield(entry.task)
        except asyncio.CancelledError:
            # This review's budget ran out: the host is at fault only if its call ran long.
            if entry.started is not None and self._clock() - entry.started >= self.settings.slow_after:
                self._mark(host, f"a call to it ran over {self.settings.slow_after:g}s without an answer")
            raise
        finally:
            entry.waiters -= 1
            if entry.waiters == 0 and entry.started is None and not entry.task.done():
                self._forget(entry)  # before cancelling, so nobody joins a call that will not run
                entry.task.cancel()
        return result, shared

    async def _run(self, entry: _Call, work: Callable[[], T], keep: Callable[[T], None] | None,
                   ok: Callable[[T], bool]) -> T:
        loop = asyncio.get_running_loop()
        entry.granted = loop.create_future()
        self._queue.append(entry)
        try:
            self._dispatch()
            await entry.granted
        except BaseException:
            with contextlib.suppress(ValueError):
                self._queue.remove(entry)
            self._release(entry)  # granted, then cancelled before it could start
            self._forget(entry)
            raise
        entry.started = self._clock()
        future = self._executor.submit(work)
        # Added before wrap_future's own callback: the result is kept (and the slots freed)
        # before any waiter resumes, so the caches hold it the moment the call is forgotten.
        future.add_done_callback(lambda f: self._from_thread(loop, entry, f, keep, ok))
        try:
            return await asyncio.wrap_future(future, loop=loop)
        finally:
            self._forget(entry)

    def _from_thread(self, loop: asyncio.AbstractEventLoop, entry: _Call, future: Future[T],
                     keep: Callable[[T], None] | None, ok: Callable[[T], bool]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the server stopped meanwhile
            loop.call_soon_threadsafe(self._settle, entry, future, keep, ok)

    def _settle(self, entry: _Call, future: Future[T], keep: Callable[[T], None] | None,
                ok: Callable[[T], bool]) -> None:
        started = entry.started if entry.started is not None else self._clock()
        slow = self._clock() - started >= self.settings.slow_after
        try:
            # The host's fate is settled before its thread is handed on, so a call queued for a
            # host that just failed slowly is refused, not started.
            if future.cancelled():
                return
            error = future.exception()
            if error is None:
                value = future.result()
                if keep is not None:
                    keep(value)
                if ok(value):
                    self._answered_by(entry.host)
                elif slow:
                    self._mark(entry.host, f"a call to it failed after over {self.settings.slow_after:g}s")
            elif slow:
                self._mark(entry.host, f"a call to it failed after over {self.settings.slow_after:g}s")
            elif isinstance(error, RegistryError) and error.status is not None:
                self._answered_by(entry.host)  # an HTTP error is an answer: the host does not hang
        finally:
            self._release(entry)

    # -- slots ------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        """Start every waiting call its caps allow: admissions first, then dry runs, each in arrival order."""
        s = self.settings
        for entry in sorted(self._queue, key=lambda e: e.dry_run):  # stable: arrival order kept
            if self._running >= s.workers:
                return
            granted = entry.granted
            if granted is None or granted.done():
                continue
            refused = self.refusal(entry.host)
            if refused is not None:
                self._queue.remove(entry)
                granted.set_exception(refused)
                continue
            if self._by_host[entry.host] >= (s.per_host if entry.host in self._answered else 1):
                continue
            who = next((r for r in entry.requesters if self._by_requester[r] < s.per_requester), None)
            if who is None:
                continue
            self._queue.remove(entry)
            entry.charged = who
            self._running += 1
            self._by_host[entry.host] += 1
            self._by_requester[who] += 1
            granted.set_result(None)

    def _release(self, entry: _Call) -> None:
        who = entry.charged
        if who is None:
            return
        entry.charged = None
        self._running -= 1
        self._by_host[entry.host] -= 1
        self._by_requester[who] -= 1
        for counter, name in ((self._by_host, entry.host), (self._by_requester, who)):
            if counter[name] <= 0:
                del counter[name]
        self._dispatch()

    def _forget(self, entry: _Call) -> None:
        if self._calls.get(entry.key) is entry:
            del self._calls[entry.key]

    def _done(self, entry: _Call, task: asyncio.Task[Any]) -> None:
        self._forget(entry)
        if not task.cancelled():
            task.exception()  # retrieved, so an error nobody awaited is not reported as lost

    def _answered_by(self, host: str) -> None:
        self._marks.pop(host, None)  # it answered: no longer presumed hanging
        self._answered[host] = None
        self._answered.move_to_end(host)
        while len(self._answered) > _MAX_HOSTS:
            self._answered.popitem(last=False)

    def _mark(self, host: str, why: str) -> None:
        self._answered.pop(host, None)
        if self.settings.cooldown <= 0:
            return
        fresh = self.refusal(host) is None
        if fresh and len(self._marks) >= _MAX_HOSTS:  # hosts are named by whoever sends reviews: bounded
            now = self._clock()
            for name in [n for n, m in self._marks.items() if m.until <= now]:
                del self._marks[name]
        self._marks[host] = _Mark(self._clock() + self.settings.cooldown, why)
        if fresh and self._on_mark is not None:
            self._on_mark(host, why)
        refused = self.refusal(host)
        for entry in [e for e in self._queue if e.host == host]:
            self._queue.remove(entry)
            if entry.granted is not None and not entry.granted.done() and refused is not None:
                entry.granted.set_exception(refused)
