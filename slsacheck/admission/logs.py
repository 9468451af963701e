"""Structured JSON logs for the webhook: one JSON object per line, never a secret.

`log_event(level, event, **fields)` logs through the `slsacheck.admission` logger with the
fields attached; `JsonFormatter` (installed by `slsacheck serve`) prints every record as
one JSON line with time, level, logger, event and those fields. Callers pass only what
is safe to print: request uids, image references, digests, decisions, durations and
error messages. Credentials never reach this module: registry options are not logged,
and registry errors carry no Authorization header or docker config content.

`BatchedLines` is the stream `slsacheck serve` gives its log handler: under load the event
loop answers several reviews per step, and a write per review line was a system call each;
lines written during one step of the loop are written together at its end. A line from any
other thread, or with no loop running, is written at once (after what is pending, so the
order stays); what is pending when the process exits normally is written then.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import threading
import time
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from typing import Any, TextIO

LOGGER = logging.getLogger("slsacheck.admission")
# ASCII only, every control character escaped: `slsacheck serve` writes these lines to stderr
# without the terminal guard. Built once (`json.dumps` with options builds one per call).
_LINE = json.JSONEncoder(default=str, separators=(",", ":"), ensure_ascii=True)
# A string as that encoder writes it (quotes included): for members written without a dict.
json_string = encode_basestring_ascii
_HEAD = frozenset(("time", "level", "logger", "event"))


def log_event(level: int, event: str, *, encoded: str = "", **fields: Any) -> None:
    """Log `event` with `fields`, then the fields already in `encoded` (`encode_fields`)."""
    if not LOGGER.isEnabledFor(level):
        return
    # The record is made directly: `Logger.log` would walk the stack for the caller's file and
    # line on every review, which no line of ours prints.
    record = LOGGER.makeRecord(LOGGER.name, level, "slsacheck.admission", 0, event, (), None,
                               extra={"slsacheck_fields": fields, "slsacheck_encoded": encoded})
    LOGGER.handle(record)


def encode_fields(fields: dict[str, Any]) -> str:
    """`fields` as the members of a log line's JSON object (no braces), for `log_event(encoded=...)`:
    a cached review's outcome is encoded once and written with every review it answers."""
    return _LINE.encode(fields)[1:-1]


class _Stamps:
    """ISO 8601 UTC time stamps to the millisecond, as `datetime.isoformat` writes them."""

    def __init__(self) -> None:
        self._stamp = (-1, "")  # (second, its text): one tuple, replaced whole, safe across threads

    def text(self, created: float) -> str:
        # The date and time to the second are formatted once a second; only the milliseconds vary.
        second = int(created)
        micro = round((created - second) * 1e6)  # rounded to the microsecond, as datetime does
        if micro >= 1_000_000:
            second, micro = second + 1, micro - 1_000_000
        known, text = self._stamp
        if second != known:
            text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._stamp = (second, text)
        return f"{text}.{micro // 1000:03d}+00:00"


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._stamps = _Stamps()

    def _time(self, created: float) -> str:
        return self._stamps.text(created)

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "slsacheck_fields", None)
        if not isinstance(fields, dict):
            fields = {}
        if fields.keys() & _HEAD:  # a field that replaces one of the line's own: the dict decides
            doc = {"time": self._time(record.created), "level": record.levelname.lower(), "logger": record.name,
                   "event": record.getMessage(), **fields}
            line = _LINE.encode(doc)[:-1]
        else:  # the same text, without a dict of the four
            line = (f'{{"time":"{self._time(record.created)}","level":{json_string(record.levelname.lower())},'
                    f'"logger":{json_string(record.name)},"event":{json_string(record.getMessage())}')
            if fields:
                line = f"{line},{_LINE.encode(fields)[1:-1]}"
        if record.exc_info:
            line = f"{line},\"exception\":{json_string(self.formatException(record.exc_info))}"
        encoded = getattr(record, "slsacheck_encoded", "")
        return f"{line},{encoded}}}" if encoded else f"{line}}}"


class BatchedLines:
    """A text stream that writes to `raw` once per step of the running event loop (see above)."""

    def __init__(self, raw: TextIO) -> None:
        self.raw = raw
        self._pending: list[str] = []
        self._lock = threading.Lock()  # writers on other threads; held across the write to keep the order
        self._scheduled: asyncio.AbstractEventLoop | None = None  # touched on a loop's own thread only
        atexit.register(self.drain)

    def write(self, text: str) -> int:
        with self._lock:
            self._pending.append(text)
        return len(text)

    def flush(self) -> None:
        """Write what is pending: at the end of this loop step on a loop's thread, else now."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.drain()
            return
        if self._scheduled is not loop:  # once per step; a loop that stopped with it pending is replaced
            self._scheduled = loop
            loop.call_soon(self._drain_step)

    def line(self, text: str) -> None:
        """`write(text)` then `flush()`, in one call (a review's line)."""
        with self._lock:
            self._pending.append(text)
        self.flush()

    def _drain_step(self) -> None:
        self._scheduled = None
        # stderr closed or broken: the lines are dropped, as a logging handler drops them
        # (reporting it would only write to the same stream, every step).
        with contextlib.suppress(OSError, ValueError):
            self.drain()

    def drain(self) -> None:
        """Write every pending line now, in one write."""
        with self._lock:
            if not self._pending:
                return
            text = "".join(self._pending)
            self._pending.clear()
            self.raw.write(text)
            self.raw.flush()

    def isatty(self) -> bool:
        return self.raw.isatty()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


REVIEW_EVENT = "admission review"


class ReviewLines:
    """Where the webhook writes its one line per review: the audit trail of its decisions.

    By default through the logging module (`log_event`), so whatever handlers are configured
    see it. `slsacheck serve` has them written straight to the stream of its one JSON handler
    (`ReviewLines(stream)`): the text `JsonFormatter` makes of the same record, in order with
    every other line of that stream (one stream, one lock), without the record, the handler
    chain and their locks, which cost a cached review more than the rest of its own work.
    The caller checks the level (`LOGGER.isEnabledFor(logging.INFO)`) before building the line.
    """

    def __init__(self, stream: BatchedLines | None = None) -> None:
        self._stream = stream
        self._stamps = _Stamps()

    def write(self, members: str) -> None:
        """One line: time, level, logger and event, then `members` (encoded, ASCII: `json_string`)."""
        if self._stream is None:
            log_event(logging.INFO, REVIEW_EVENT, encoded=members)
            return
        self._stream.line(f'{{"time":"{self._stamps.text(time.time())}","level":"info",'
                          f'"logger":"{LOGGER.name}","event":"{REVIEW_EVENT}",{members}}}\n')
