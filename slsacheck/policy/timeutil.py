"""Timestamps as attestations write them: RFC 3339 (with up to nanoseconds, any offset),
or Unix seconds (old Trivy reports). Always returned timezone-aware, in UTC.

The zero time (`0001-01-01T00:00:00Z`, what Go writes for an unset time) is "missing".
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_FRACTION = re.compile(r"(\.\d{1,6})\d*")


def parse_time(value: object) -> datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value:
        return None
    text = _FRACTION.sub(lambda m: m.group(1), value.strip()).replace("Z", "+00:00").replace("z", "+00:00")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    return None if when.year <= 1 else when
