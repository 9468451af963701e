"""`Check` spells its constructor and `named` out for speed; they must stay true to the
dataclass's field list, keep it frozen, and equal what `dataclasses.replace` would make."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from slsacheck.models.verdict import Check, Outcome

VALUES = {"id": "a.b", "outcome": Outcome.WARN, "policy": "p", "expected": "e", "found": "f", "hint": "h",
          "message": "m"}


def test_the_constructor_takes_every_field_in_order_with_the_fields_defaults() -> None:
    fields = dataclasses.fields(Check)
    params = list(inspect.signature(Check.__init__).parameters.values())[1:]
    assert [p.name for p in params] == [f.name for f in fields]
    for param, field in zip(params, fields, strict=True):
        assert param.default == (inspect.Parameter.empty if field.default is dataclasses.MISSING else field.default)


def test_every_field_is_set_positionally_and_by_name() -> None:
    by_name = Check(**VALUES)  # type: ignore[arg-type]
    positional = Check(*VALUES.values())  # type: ignore[arg-type]
    assert dataclasses.asdict(by_name) == VALUES == dataclasses.asdict(positional)
    assert by_name == positional and hash(by_name) == hash(positional)
    assert Check("x", Outcome.PASS) == Check("x", Outcome.PASS, None, None, None, None, None)


def test_named_changes_the_policy_alone_as_replace_would() -> None:
    check = Check(**VALUES)  # type: ignore[arg-type]
    assert check.named("other") == dataclasses.replace(check, policy="other")
    assert check.named("other") != check


def test_a_check_stays_frozen() -> None:
    check = Check("x", Outcome.PASS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        check.found = "y"  # type: ignore[misc]
    assert not hasattr(check, "__dict__")
