"""Who gets the verification threads (no network): the pool's caps, drops and host marks.

Calls are real threads running work that blocks on an event the test sets, as a call to a
registry that hangs blocks on its socket; the clock that marks hosts is the test's, so
nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from slsacheck.admission.pool import PoolSettings, Unresponsive, WorkerPool
from slsacheck.errors import RegistryError


class Work:
    """A call's work: records that it ran, blocks until released, returns or raises."""

    def __init__(self, result: str = "ok", *, error: Exception | None = None) -> None:
        self.result, self.error = result, error
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> str:
        self.started.set()
        self.release.wait(30)
        if self.error is not None:
            raise self.error
        return self.result


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=60))


async def _started(work: Work) -> None:
    assert await asyncio.to_thread(work.started.wait, 10), "the call did not start"


async def _settled() -> None:
    for _ in range(5):  # let dispatches and thread handoffs run
        await asyncio.sleep(0.01)


async def _idle(pool: WorkerPool) -> None:
    for _ in range(500):
        if pool.running == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("a call's thread did not end")


def _pool(clock: Clock | None = None, marks: list[str] | None = None, **settings: Any) -> WorkerPool:
    values: dict[str, Any] = {"workers": 2, "per_host": 1, "per_requester": 1, "slow_after": 1.0, "cooldown": 30.0}
    values.update(settings)
    return WorkerPool(PoolSettings(**values), clock=clock or Clock(),
                      on_mark=(lambda host, why: marks.append(host)) if marks is not None else None)


def test_one_host_and_one_requester_hold_only_their_share() -> None:
    async def scenario() -> None:
        pool = _pool()
        hang, queued_same_host, same_requester, other = (Work() for _ in range(4))
        tasks = [asyncio.ensure_future(pool.call("a", "hole:1", "mallory", hang))]
        await _started(hang)
        tasks.append(asyncio.ensure_future(pool.call("b", "hole:1", "bob", queued_same_host)))  # host full
        tasks.append(asyncio.ensure_future(pool.call("c", "hole:2", "mallory", same_requester)))  # mallory full
        tasks.append(asyncio.ensure_future(pool.call("d", "registry.test", "alice", other)))
        await _started(other)  # behind two held-back calls, it starts at once
        assert pool.running == 2 and pool.waiting == 2
        assert not queued_same_host.started.is_set() and not same_requester.started.is_set()
        other.release.set()
        await tasks[3]
        await _settled()
        # A free thread, but both waiting calls are still held back by their caps.
        assert pool.running == 1 and pool.waiting == 2 and not queued_same_host.started.is_set()
        hang.release.set()
        for work in (queued_same_host, same_requester):
            work.release.set()
        assert [r for r, _ in await asyncio.gather(*tasks)] == ["ok"] * 4
        assert pool.running == 0 and pool.waiting == 0 and len(pool) == 0
        pool.close()

    _run(scenario)


def test_a_host_gets_more_than_one_thread_only_once_it_has_answered() -> None:
    async def scenario() -> None:
        clock, marks = Clock(), []  # type: ignore[var-annotated]
        pool = _pool(clock, marks, workers=4, per_host=3, per_requester=4)
        first, second = Work(), Work()
        calls = [asyncio.ensure_future(pool.call(k, "registry.test", "ci", w)) for k, w in (("1", first),
                                                                                             ("2", second))]
        await _started(first)
        await _settled()
        assert pool.running == 1 and not second.started.is_set()  # unproven: one at a time
        first.release.set()
        await _started(second)
        second.release.set()
        await asyncio.gather(*calls)
        burst = [Work(error=OSError("read timed out")) for _ in range(4)]  # the registry stops answering
        calls = [asyncio.ensure_future(pool.call(f"b{i}", "registry.test", "ci", w)) for i, w in enumerate(burst)]
        for work in burst[:3]:
            await _started(work)  # it answered: per_host threads at once
        assert pool.running == 3 and not burst[3].started.is_set()
        clock.now += 5
        calls[0].cancel()  # a call ran long and its review gave up: marked, and unproven again
        await _settled()
        assert marks == ["registry.test"]
        with pytest.raises(Unresponsive):
            await calls[3]
        for work in burst:
            work.release.set()
        assert all(isinstance(r, OSError) for r in await asyncio.gather(*calls[1:3], return_exceptions=True))
        await _idle(pool)  # the abandoned one too: it ends (and marks) before the clock moves on
        clock.now += 60
        again = [Work(), Work()]
        calls = [asyncio.ensure_future(pool.call(f"c{i}", "registry.test", "ci", w)) for i, w in enumerate(again)]
        await _started(again[0])
        await _settled()
        assert pool.running == 1
        for work in again:
            work.release.set()
        await asyncio.gather(*calls)
        pool.close()

    _run(scenario)


def test_a_call_asked_for_by_someone_with_room_is_charged_to_them() -> None:
    """Asking first for someone else's image with one's own share used up does not stall it."""
    async def scenario() -> None:
        pool = _pool(per_host=2)
        hang, victim_image = Work(), Work()
        held = asyncio.ensure_future(pool.call("hang", "hole:1", "mallory", hang))
        await _started(hang)
        first = asyncio.ensure_future(pool.call("victim", "registry.test", "mallory", victim_image))
        await _settled()
        assert not victim_image.started.is_set()  # mallory's share is used
        joined = asyncio.ensure_future(pool.call("victim", "registry.test", "alice", victim_image))
        await _started(victim_image)
        victim_image.release.set()
        assert await joined == ("ok", True) and await first == ("ok", False)
        hang.release.set()
        await held
        pool.close()

    _run(scenario)


def test_a_call_nobody_waits_for_is_dropped_before_it_starts_and_kept_after() -> None:
    async def scenario() -> None:
        pool = _pool(workers=1)
        kept: list[str] = []
        running, never = Work("first"), Work("never")
        abandoned = asyncio.ensure_future(pool.call("r", "registry.test", "a", running, keep=kept.append))
        await _started(running)
        waiting = asyncio.ensure_future(pool.call("w", "registry.test", "b", never, keep=kept.append))
        await _settled()
        assert pool.waiting == 1
        waiting.cancel()  # its review's budget ran out before it got a thread
        abandoned.cancel()  # this one's too, but it is running
        await _settled()
        assert pool.waiting == 0 and len(pool) == 1  # the dropped call is gone; the running one stays
        running.release.set()
        never.release.set()
        for _ in range(1000):
            if len(pool) == 0:
                break
            await asyncio.sleep(0.02)
        assert kept == ["first"] and not never.started.is_set()  # a retry finds the first in the caches
        assert pool.running == 0
        assert await pool.call("w", "registry.test", "b", _done("again")) == ("again", False)  # asked again: afresh
        pool.close()

    _run(scenario)


def _done(result: str) -> Callable[[], str]:
    return lambda: result


def test_a_host_that_hangs_is_marked_and_refused_at_once_until_it_answers() -> None:
    async def scenario() -> None:
        clock, marks = Clock(), []  # type: ignore[var-annotated]
        pool = _pool(clock, marks, per_requester=2)
        hang, queued, late = Work(error=OSError("read timed out")), Work(), Work()
        review = asyncio.ensure_future(pool.call("a", "hole:1", "mallory", hang))
        await _started(hang)
        behind = asyncio.ensure_future(pool.call("b", "hole:1", "bob", queued))  # waits: host cap
        await _settled()
        clock.now += 1.5  # longer than slow_after, and the review's budget runs out
        review.cancel()
        await _settled()
        assert marks == ["hole:1"]
        with pytest.raises(Unresponsive) as info:  # the one waiting is refused too, not left to time out
            await behind
        assert "hole:1 is marked unresponsive" in str(info.value) and info.value.hint
        with pytest.raises(Unresponsive):
            await pool.call("c", "hole:1", "carol", late)  # refused without a thread
        assert not queued.started.is_set() and not late.started.is_set()
        assert (await pool.call("d", "registry.test", "carol", _done("fine"))) == ("fine", False)  # others go on
        hang.release.set()  # its timeout: the stuck thread ends (in error), the host is still marked
        await _idle(pool)
        assert pool.refusal("hole:1") is not None
        clock.now += 31  # the cooldown is over: asked again
        assert (await pool.call("e", "hole:1", "carol", _done("back"))) == ("back", False)
        pool.close()

    _run(scenario)


def test_only_a_slow_call_marks_its_host() -> None:
    async def scenario() -> None:
        clock, marks = Clock(), []  # type: ignore[var-annotated]
        pool = _pool(clock, marks)
        # A review that ran out of budget while its call had only just started (it waited
        # for a thread): the queue was slow, not the host.
        young = Work()
        review = asyncio.ensure_future(pool.call("a", "registry.test", "alice", young))
        await _started(young)
        clock.now += 0.5
        review.cancel()
        await _settled()
        young.release.set()
        # A quick registry error (connection refused) does not mark either.
        with pytest.raises(OSError):
            await pool.call("b", "registry.test", "alice", _raises(OSError("refused")))
        await _settled()
        assert marks == [] and pool.refusal("registry.test") is None
        # An error after slow_after does, and so does a result `ok` calls incomplete.
        slow = Work(error=OSError("read timed out"))
        failing = asyncio.ensure_future(pool.call("c", "hole:1", "alice", slow))
        await _started(slow)
        clock.now += 2
        slow.release.set()
        with pytest.raises(OSError):
            await failing
        incomplete = Work("error")
        verdict = asyncio.ensure_future(pool.call("d", "hole:2", "bob", incomplete, ok=lambda r: r != "error"))
        await _started(incomplete)
        clock.now += 2
        incomplete.release.set()
        await verdict
        await _settled()
        assert marks == ["hole:1", "hole:2"]
        pool.close()

    _run(scenario)


def test_a_marked_host_whose_running_call_answers_is_cleared() -> None:
    async def scenario() -> None:
        clock, marks = Clock(), []  # type: ignore[var-annotated]
        pool = _pool(clock, marks, per_host=2)
        slow_but_alive = Work("verdict")
        first = asyncio.ensure_future(pool.call("a", "far.example", "alice", slow_but_alive))
        await _started(slow_but_alive)
        clock.now += 2
        first.cancel()
        await _settled()
        assert marks == ["far.example"] and pool.refusal("far.example") is not None
        slow_but_alive.release.set()
        await _idle(pool)
        assert pool.refusal("far.example") is None
        pool.close()

    _run(scenario)


def _raises(error: Exception) -> Callable[[], str]:
    def work() -> str:
        raise error

    return work


@pytest.mark.parametrize("settings", [{"workers": 0}, {"per_host": 0}, {"per_requester": 0}, {"slow_after": 0},
                                      {"cooldown": -1}])
def test_settings_that_would_block_every_call_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        PoolSettings(**settings)


def test_admissions_start_before_dry_runs_that_waited_longer() -> None:
    async def scenario() -> None:
        pool = _pool(workers=1, per_requester=1)
        busy, dry, real = Work(), Work(), Work()
        first = asyncio.ensure_future(pool.call("busy", "registry.test", "ci", busy))
        await _started(busy)
        predicted = asyncio.ensure_future(pool.call("dry", "hole:1", "mallory", dry, dry_run=True))
        await _settled()
        admitted = asyncio.ensure_future(pool.call("real", "registry.test", "alice", real))
        await _settled()
        busy.release.set()
        await _started(real)
        assert not dry.started.is_set()
        real.release.set()
        await admitted
        await _started(dry)  # then the dry run, once a thread is free
        dry.release.set()
        await asyncio.gather(first, predicted)
        pool.close()

    _run(scenario)


def test_a_call_waiting_for_a_host_that_just_failed_slowly_is_refused_not_started() -> None:
    async def scenario() -> None:
        clock, marks = Clock(), []  # type: ignore[var-annotated]
        pool = _pool(clock, marks, per_requester=2)
        hang, next_in_line = Work(error=OSError("read timed out")), Work()
        first = asyncio.ensure_future(pool.call("a", "hole:1", "mallory", hang))
        await _started(hang)
        queued = asyncio.ensure_future(pool.call("b", "hole:1", "mallory", next_in_line))  # one thread per new host
        await _settled()
        clock.now += 2
        hang.release.set()  # its request times out: a slow failure, while its review still waits
        with pytest.raises(OSError):
            await first
        with pytest.raises(Unresponsive):
            await queued
        assert marks == ["hole:1"] and not next_in_line.started.is_set()
        pool.close()

    _run(scenario)


def test_a_quick_http_error_is_an_answer_but_a_quick_connection_error_is_not() -> None:
    async def scenario() -> None:
        pool = _pool(workers=3, per_host=2, per_requester=3)
        with pytest.raises(RegistryError):
            await pool.call("a", "registry.test", "ci", _raises(RegistryError("manifest unknown", status=404)))
        with pytest.raises(RegistryError):
            await pool.call("b", "down.test", "ci", _raises(RegistryError("cannot reach down.test")))
        for host, threads in (("registry.test", 2), ("down.test", 1)):
            works = [Work(), Work()]
            calls = [asyncio.ensure_future(pool.call(f"{host}{i}", host, "ci", w)) for i, w in enumerate(works)]
            await _started(works[0])
            await _settled()
            assert pool.running == threads, host
            for work in works:
                work.release.set()
            await asyncio.gather(*calls)
        pool.close()

    _run(scenario)
