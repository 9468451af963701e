"""The webhook's JSON log lines: their time stamps, the level gate, and how they are written.

The formatter's time is the same text `datetime.isoformat` gives, across second boundaries
and back; a line whose level is off makes no record. A review's line written straight to
the stream is the line the formatter makes of the same record; lines of one event-loop step
are written together, and none is lost or reordered (another thread's, a stopped loop's).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from slsacheck.admission.logs import (
    LOGGER,
    BatchedLines,
    JsonFormatter,
    ReviewLines,
    encode_fields,
    json_string,
    log_event,
)
from tests.support.env import ROOT


def _line(formatter: JsonFormatter, created: float) -> dict[str, object]:
    record = logging.LogRecord("slsacheck.admission", logging.INFO, "", 0, "event", (), None)
    record.created = created
    doc: dict[str, object] = json.loads(formatter.format(record))
    return doc


def test_time_stamps_read_as_isoformat_across_seconds_and_back() -> None:
    formatter = JsonFormatter()
    for created in (1733400000.0, 1733400000.25, 1733400000.999, 1733400001.5, 1733399999.5, 1733400000.125,
                    1733486400.5, 1.001, 1733400002.9999996, 1733400003.0009999):
        expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
        assert _line(formatter, created)["time"] == expected


@contextlib.contextmanager
def _records(level: int) -> Iterator[list[logging.LogRecord]]:
    """The records the admission logger makes at `level` meanwhile (its level restored after)."""
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    keep = Keep()
    LOGGER.addHandler(keep)
    before = LOGGER.level
    try:
        LOGGER.setLevel(level)
        yield seen
    finally:
        LOGGER.setLevel(before)
        LOGGER.removeHandler(keep)


def test_a_line_whose_level_is_off_makes_no_record() -> None:
    with _records(logging.WARNING) as seen:
        log_event(logging.INFO, "admission review", uid="u1")
        assert seen == []
        log_event(logging.WARNING, "registry marked unresponsive", registry="r.test")
        assert [r.getMessage() for r in seen] == ["registry marked unresponsive"]
        assert getattr(seen[0], "slsacheck_fields") == {"registry": "r.test"}  # noqa: B009



# -- the lines of `slsacheck serve`: written straight, and once per event-loop step ---------------


class _Raw:
    """A text stream that records each write (one write is one system call underneath)."""

    def __init__(self) -> None:
        self.writes: list[str] = []
        self.flushes = 0

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        self.flushes += 1

    def isatty(self) -> bool:
        return False

    @property
    def text(self) -> str:
        return "".join(self.writes)


def test_a_review_line_written_straight_is_the_line_the_formatter_makes() -> None:
    members = ('"endpoint":"validate","uid":' + json_string('u"\\\x1b\u202e\ud800') + ',"dry_run":false,'
               + encode_fields({"decision": "allowed", "images": [{"image": "r.test/a:v1", "failed": []}]}))
    raw = _Raw()
    ReviewLines(BatchedLines(raw)).write(members)
    straight = raw.text
    assert straight.endswith("\n") and straight.count("\n") == 1 and straight.isascii()

    with _records(logging.INFO) as seen:
        ReviewLines().write(members)  # the default: a record through the logging module
    through = JsonFormatter().format(seen[0])
    first, second = json.loads(straight), json.loads(through)
    assert first.pop("time") and second.pop("time")
    assert first == second and first["uid"] == 'u"\\\x1b\u202e\ud800'
    assert list(first) == ["level", "logger", "event", "endpoint", "uid", "dry_run", "decision", "images"]


def test_lines_of_one_loop_step_are_written_together_and_none_is_lost() -> None:
    raw = _Raw()
    stream = BatchedLines(raw)
    handler = logging.StreamHandler(stream)  # type: ignore[arg-type]
    handler.setFormatter(JsonFormatter())
    LOGGER.addHandler(handler)
    level = LOGGER.level
    LOGGER.setLevel(logging.INFO)
    reviews = ReviewLines(stream)

    async def step(n: int) -> None:
        before = len(raw.writes)
        for i in range(n):
            reviews.write(f'"uid":"r{n}-{i}"')
        log_event(logging.WARNING, "between", n=n)
        assert len(raw.writes) == before  # nothing of this step written yet

    async def run() -> None:
        await step(3)
        await asyncio.sleep(0)  # the end of the step: its lines go out
        assert len(raw.writes) == 1 and raw.writes[0].count("\n") == 4
        await step(2)

    try:
        asyncio.run(run())
    finally:
        LOGGER.removeHandler(handler)
        LOGGER.setLevel(level)
    # The loop ended before the second step's write: what is pending goes out at the next flush
    # outside a loop (and at exit: `drain` is registered with atexit).
    stream.flush()
    events = [json.loads(line) for line in raw.text.splitlines()]
    assert [e.get("uid") or e["event"] for e in events] == ["r3-0", "r3-1", "r3-2", "between", "r2-0", "r2-1",
                                                           "between"]
    assert len(raw.writes) == 2


def test_a_line_from_another_thread_is_written_at_once_after_what_is_pending() -> None:
    raw = _Raw()
    stream = BatchedLines(raw)

    async def run() -> None:
        stream.write("loop\n")
        stream.flush()  # scheduled for the end of this step
        thread = threading.Thread(target=lambda: (stream.write("thread\n"), stream.flush()))
        thread.start()
        thread.join()
        assert raw.text == "loop\nthread\n"  # the thread did not wait for the loop, and kept the order
        await asyncio.sleep(0)
        assert raw.text == "loop\nthread\n"

    asyncio.run(run())


def test_a_loop_that_stopped_with_a_write_scheduled_does_not_hold_up_the_next_one() -> None:
    raw = _Raw()
    stream = BatchedLines(raw)
    first = asyncio.new_event_loop()

    def last_step() -> None:
        stream.write("one\n")
        stream.flush()  # scheduled on `first`, which stops at the end of this step, before it runs
        first.stop()

    first.call_soon(last_step)
    first.run_forever()
    first.close()
    assert raw.text == ""

    async def write(text: str) -> None:
        stream.write(text)
        stream.flush()
        await asyncio.sleep(0)
        assert raw.text == "one\ntwo\n"

    asyncio.run(write("two\n"))


def test_what_is_pending_when_the_process_exits_is_written() -> None:
    # The loop stops with its step's lines pending (the scheduled write never runs): the exit writes them.
    script = (
        "import asyncio, sys\n"
        "from slsacheck.admission.logs import BatchedLines\n"
        "stream = BatchedLines(sys.stdout)\n"
        "loop = asyncio.new_event_loop()\n"
        "def last():\n"
        "    stream.write('pending\\n'); stream.flush(); loop.stop()\n"
        "loop.call_soon(last); loop.run_forever(); loop.close()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "pending\n"


def test_a_broken_stream_drops_the_step_s_lines_quietly(caplog: pytest.LogCaptureFixture) -> None:
    # Reporting the failed write would go to the same broken stream, again at every step.
    class Broken(_Raw):
        def write(self, text: str) -> int:
            raise BrokenPipeError("stderr is gone")

    stream = BatchedLines(Broken())

    async def steps() -> None:
        for _ in range(3):
            stream.line("a review's line\n")
            await asyncio.sleep(0)  # the step's write fails; the loop goes on

    with caplog.at_level(logging.DEBUG):
        asyncio.run(steps())
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    stream.drain()  # nothing left pending to fail again
