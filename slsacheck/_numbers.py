"""Numbers written by others (headers, signed notes, protobuf JSON), read strictly (pure).

`int()` takes far more than a decimal number: surrounding spaces, a sign, underscores
(`1_0` is 10) and the digits of every script (`٣` is 3), and `str.isdigit()` is true for
characters `int()` then refuses (`²`). Two readers of the same bytes must see one value,
so a number from outside is ASCII digits and nothing else.
"""

from __future__ import annotations

from typing import Any

# uint64 has 20 digits; more is no number any field here holds (and `int()` refuses
# over 4,300 digits with a ValueError of its own).
MAX_DIGITS = 20


def decimal(text: str) -> int | None:
    """`text` as a non-negative integer if it is 1 to 20 ASCII digits; else None."""
    if 0 < len(text) <= MAX_DIGITS and text.isascii() and text.isdigit():
        return int(text)
    return None


def json_integer(value: Any) -> int | None:
    """A protobuf JSON integer field: a JSON integer (not a boolean, not a float) or the
    string of one (`"-"` and decimal digits, as int64 fields are written); else None."""
    if type(value) is int:
        return value
    if isinstance(value, str):
        magnitude = decimal(value.removeprefix("-"))
        if magnitude is not None:
            return -magnitude if value.startswith("-") else magnitude
    return None
