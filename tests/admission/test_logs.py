"""The webhook's JSON log lines: their time stamps and the level gate.

The formatter's time is the same text `datetime.isoformat` gives, across second boundaries
and back; a line whose level is off makes no record.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from slsacheck.admission.logs import LOGGER, JsonFormatter, log_event


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


def test_a_line_whose_level_is_off_makes_no_record() -> None:
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    keep = Keep()
    LOGGER.addHandler(keep)
    level = LOGGER.level
    try:
        LOGGER.setLevel(logging.WARNING)
        log_event(logging.INFO, "admission review", uid="u1")
        assert seen == []
        log_event(logging.WARNING, "registry marked unresponsive", registry="r.test")
        assert [r.getMessage() for r in seen] == ["registry marked unresponsive"]
        assert getattr(seen[0], "slsacheck_fields") == {"registry": "r.test"}  # noqa: B009
    finally:
        LOGGER.setLevel(level)
        LOGGER.removeHandler(keep)

