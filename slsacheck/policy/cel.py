"""CEL conditions (cel-python): compiled once at policy load, run over one statement.

The activation offers four variables: `statement` (the whole in-toto statement),
`predicate`, `subject` and `predicateType`. An expression must evaluate to `true` to
pass; `false` fails with the condition's message; a runtime error (a missing key, a
type error) fails with the evaluator's message, never passes.

Converting a statement to CEL values costs more than evaluating most expressions, so
`Activation` converts once and every condition of an attestation entry reuses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError

_ENV = celpy.Environment()


class CELCompileError(ValueError):
    """An expression that does not parse; the message carries the evaluator's pointer."""


def compile_expression(expr: str) -> Any:
    """A runnable program for `expr`, or CELCompileError."""
    try:
        ast = _ENV.compile(expr)
        return _ENV.program(ast)
    except CELParseError as exc:
        raise CELCompileError(" ".join(str(exc).split())) from exc
    except Exception as exc:  # cel-python raises plain exceptions for some semantic errors
        raise CELCompileError(f"{type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True)
class Activation:
    values: Mapping[str, Any]

    @classmethod
    def of(cls, statement: Mapping[str, Any]) -> Activation:
        whole: Any = json_to_cel(dict(statement))
        return cls(
            {
                "statement": whole,
                "predicate": whole.get(celtypes.StringType("predicate"), celtypes.MapType({})),
                "subject": whole.get(celtypes.StringType("subject"), celtypes.ListType([])),
                "predicateType": whole.get(celtypes.StringType("predicateType"), celtypes.StringType("")),
            }
        )


def run(program: Any, activation: Activation) -> tuple[bool, str | None]:
    """(True, None) when the expression is true; (False, why) otherwise."""
    try:
        result = program.evaluate(dict(activation.values))
    except CELEvalError as exc:
        detail = exc.args[0] if exc.args else str(exc)
        return False, f"evaluation error: {detail}"
    except Exception as exc:  # a bug in an expression must fail the check, not the run
        return False, f"evaluation error: {type(exc).__name__}: {exc}"
    if isinstance(result, CELEvalError):
        return False, f"evaluation error: {result.args[0] if result.args else result}"
    if not isinstance(result, celtypes.BoolType | bool):
        return False, f"the expression gave {type(result).__name__} {result!s}, not a boolean"
    return (True, None) if bool(result) else (False, None)
