"""Timestamps as attestations write them: RFC 3339 (with up to nanoseconds, any offset),
or Unix seconds (old Trivy reports). Always returned timezone-aware, in UTC.

The zero time (`0001-01-01T00:00:00Z`, what Go writes for an unset time) is "missing".
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

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


def human_duration(delta: timedelta) -> str:
    """`3d4h`, `2h30m`, `5m`: a duration as policies and messages write it."""
    seconds = int(max(delta.total_seconds(), 0))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m"
