"""Structured JSON logs for the webhook: one JSON object per line, never a secret.

`log_event(level, event, **fields)` logs through the `slsacheck.admission` logger with the
fields attached; `JsonFormatter` (installed by `slsacheck serve`) prints every record as
one JSON line with time, level, logger, event and those fields. Callers pass only what
is safe to print: request uids, image references, digests, decisions, durations and
error messages. Credentials never reach this module: registry options are not logged,
and registry errors carry no Authorization header or docker config content.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

LOGGER = logging.getLogger("slsacheck.admission")
# ASCII only, every control character escaped: `slsacheck serve` writes these lines to stderr
# without the terminal guard. Built once (`json.dumps` with options builds one per call).
_LINE = json.JSONEncoder(default=str, separators=(",", ":"), ensure_ascii=True)


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


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._stamp = (-1, "")  # (second, its text): one tuple, replaced whole, safe across threads

    def _time(self, created: float) -> str:
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

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": self._time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields = getattr(record, "slsacheck_fields", None)
        if isinstance(fields, dict):
            doc.update(fields)
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        line = _LINE.encode(doc)
        encoded = getattr(record, "slsacheck_encoded", "")
        return f"{line[:-1]},{encoded}}}" if encoded else line

