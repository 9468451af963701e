"""Numbers from outside are ASCII decimal digits: what `int()` also takes (signs, spaces,
underscores, other scripts' digits) and what `str.isdigit()` takes but `int()` refuses are
no numbers."""

from __future__ import annotations

import pytest

from slsacheck._numbers import decimal, json_integer


@pytest.mark.parametrize("text", ["", "+1", "-1", " 1", "1 ", "1_0", "\u0661", "\u00b2", "0x1", "1.0", "9" * 21])
def test_what_is_no_decimal(text: str) -> None:
    assert decimal(text) is None


def test_decimals() -> None:
    assert decimal("0") == 0 and decimal("007") == 7 and decimal("9" * 20) == 10**20 - 1


@pytest.mark.parametrize("value", [True, False, 1.0, 1.5, None, [], {}, "", "+1", "1_0", " 1", "--1", "-", "\u0661"])
def test_what_is_no_json_integer(value: object) -> None:
    assert json_integer(value) is None


def test_json_integers() -> None:
    assert [json_integer(v) for v in (0, 7, -7, "7", "-7", "0", 2**70)] == [0, 7, -7, 7, -7, 0, 2**70]
