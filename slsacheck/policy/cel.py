"""CEL conditions (cel-expr-python: the CEL project's runtime over cel-cpp).

Conditions must mean what cel-go and cel-cpp mean, because the people who write them
learnt CEL in Kubernetes, Kyverno and policy-controller: `string(list)` is refused,
selecting a member a map does not have is an error, `has()` tests presence. The
standard library plus the `strings` and `optional` extensions are offered.

The activation offers four variables, all `dyn`: `statement` (the whole in-toto
statement), `predicate`, `subject` and `predicateType`. Each expression is parsed and
type-checked once, at policy load: a syntax error, an unknown function or variable, or
a result that can never be a boolean is a load problem, not a runtime surprise.

An expression must evaluate to `true` to pass; `false` fails with the condition's
message; a runtime error (a missing member, no matching overload, a value CEL cannot
hold) fails with the evaluator's message, never passes. A missing member's message
names the path to it as written in the expression.

The runtime converts a variable the first time an expression touches it, so an
`Activation` is made once per statement and every condition of an attestation entry
reuses it; given what the conditions read (`cel_reads`), it carries only those members.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cel_expr_python import cel
from cel_expr_python.ext import ext_optional, ext_strings

from slsacheck.policy.cel_reads import VARIABLES, Reads, convertible, prune

# cel-cpp prefixes each message with its status code; users need the sentence.
_STATUS = re.compile(r"^[A-Z_]+: ")
_MISSING_KEY = re.compile(r'^Key not found in map : "(.*)"$')


class CELCompileError(ValueError):
    """An expression that does not parse or type-check; the message carries the pointer."""


@functools.cache
def _env() -> Any:
    # Built on first use: it costs ~15 ms, which a CLI path without conditions never pays.
    return cel.NewEnv(
        variables={name: cel.Type.DYN for name in VARIABLES},
        extensions=[ext_strings.ExtStrings(), ext_optional.ExtOptional()],
    )


def prepare() -> None:
    """Build the environment now: a server does it at start-up, so that its first review
    does not pay for it (and for the protobuf runtime it loads) inside its time budget."""
    _env()


def _clean(message: str) -> str:
    return " ".join(_STATUS.sub("", message).replace("[INVALID_ARGUMENT]", "").split())


def compile_expression(expr: str) -> Any:
    """A checked program for `expr`, or CELCompileError."""
    try:
        program = _env().compile(expr)
    except Exception as exc:  # the runtime raises RuntimeError carrying the checker's report
        raise CELCompileError(_clean(str(exc))) from exc
    result = program.return_type()
    if result not in (cel.Type.BOOL, cel.Type.DYN):
        raise CELCompileError(f"the expression gives {result.name().lower()}, never a boolean")
    return program


@dataclass(frozen=True)
class Activation:
    """One statement as CEL variables; built once, read by every condition."""

    values: Any

    @classmethod
    def of(cls, statement: Mapping[str, Any], reads: Reads | None = None) -> Activation:
        """The statement as variables; with `reads` (what the conditions can observe, from
        `cel_reads.reads_of`), each variable cut down to the members they select."""
        whole = dict(statement)
        values = {
            "statement": whole,
            "predicate": whole.get("predicate", {}),
            "subject": whole.get("subject", []),
            "predicateType": whole.get("predicateType", ""),
        }
        if reads:
            for name, tree in reads.items():
                if tree is not None and name in values and convertible(values[name]):
                    values[name] = prune(values[name], tree)
        return cls(_env().Activation(values))


def _path_to(key: str, expr: str) -> str | None:
    """The member chain in `expr` that ends at `key` (`predicate.a.key`), for the message."""
    escaped = re.escape(key)
    link = r"(?:\??\.[A-Za-z_]\w*|\[[^\]]*\])"
    last = rf"(?:\??\.{escaped}\b|\[\s*[\"']{escaped}[\"']\s*\])"
    found = re.search(rf"(?<![\w.])[A-Za-z_]\w*{link}*?{last}", expr)
    return found.group(0) if found else None


def _error(message: str, expr: str) -> str:
    detail = _clean(message)
    missing = _MISSING_KEY.match(detail)
    if missing:
        key = missing.group(1)
        path = _path_to(key, expr)
        return f"no such member in mapping: {key[:200]!r}" + (f" (at {path})" if path else "")
    return detail[:500]  # values from evidence may be quoted in it


def run(program: Any, activation: Activation, expr: str = "") -> tuple[bool, str | None]:
    """(True, None) when the expression is true; (False, why) otherwise."""
    try:
        result = program.eval(activation.values)
        kind = result.type()
        value = result.value()
    except Exception as exc:  # a value the runtime cannot convert must fail the check, not the run
        return False, f"evaluation error: {_clean(str(exc))}"
    if kind == cel.Type.ERROR:
        return False, f"evaluation error: {_error(str(value), expr)}"
    if kind != cel.Type.BOOL:
        return False, f"the expression gave {kind.name().lower()} {value!r}, not a boolean"
    return (True, None) if value is True else (False, None)
