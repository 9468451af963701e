"""Which parts of the statement a CEL condition can observe, read from its text (no I/O).

The runtime converts a variable into CEL values as a whole the first time an expression
touches it: for `predicate` that is the whole provenance (a few hundred values), about ten
times the cost of the conditions themselves. Most conditions read a few members by name
(`predicate.runDetails.builder.id`), so the activation can carry only those members and
the cost follows what the conditions read, not the size of the evidence.

The reduction must never change a result, so the analysis only ever errs towards keeping
more:

- A variable occurrence is followed through plain member selections (`.name` not followed
  by `(`); the value at the end of the chain is kept whole, so whatever the expression does
  with it (a method, an index, a comparison, a macro, `has()`) sees the real value.
- A map on the way is cut down to the members some chain selects, and a member absent from
  the evidence stays absent, so a missing member fails with the same error and `has()`
  answers the same. Anything that is not a plain `dict` on the way is kept whole.
- An identifier that names a variable counts as a reading of it unless it is certainly a
  member of something else (`x.predicate`), so shadowing and root-qualified names
  (`.predicate`) only keep more.
- Text the small lexer here does not know (backquoted names, characters outside the
  grammar, an unterminated string) keeps every variable whole.
- The runtime refuses a whole variable that holds a value CEL cannot (an integer beyond
  64 bits, a string that is no Unicode text, a type JSON does not have) even where no
  expression looks, so a condition over it fails. A variable is cut down only when
  `convertible` finds no such value in it; otherwise it goes whole and fails as it did.

The reduced document is built per statement by `prune` from the tree `reads` gives.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

VARIABLES = ("statement", "predicate", "subject", "predicateType")
# A reading of one value: None keeps it whole; a dict keeps only those members (each a reading).
Tree = dict[str, "Tree"] | None
# The reading of each variable an expression names; a variable not named is never converted.
Reads = Mapping[str, Tree]

_TOKEN = re.compile(
    r"""
    (?P<space>\s+|//[^\n]*)
    |(?P<string>(?:[rR][bB]?|[bB][rR]?)?(?:\"\"\"|'''|"|'))
    |(?P<number>0[xX][0-9a-fA-F]+[uU]?|(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?[uU]?)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<punct>[.,()\[\]{}?:!<>=&|+\-*/%])
    """,
    re.VERBOSE,
)
# Where a `.` is a member selection on the operand before it (not a root-qualified name).
_OPERAND_END = frozenset({"ident", "string", "number", ")", "]", "}"})


class _Unknown(Exception):
    """Text outside what the lexer reads with certainty."""


def _string_end(expr: str, start: int, opener: str) -> int:
    """The index after the string literal whose prefix and quote `opener` starts at `start`."""
    raw = opener[0] in "rR" or (len(opener) > 1 and opener[1] in "rR")
    quote = opener.lstrip("rRbB")
    i = start + len(opener)
    while i < len(expr):
        if expr.startswith(quote, i):
            return i + len(quote)
        if len(quote) == 1 and expr[i] in "\r\n":
            raise _Unknown
        i += 2 if expr[i] == "\\" and not raw else 1
    raise _Unknown


def _tokens(expr: str) -> list[tuple[str, str]]:
    """(kind, text) pairs; kind is `ident`, `string`, `number` or the punctuation itself."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(expr):
        m = _TOKEN.match(expr, i)
        if m is None:
            raise _Unknown
        kind = m.lastgroup or ""
        if kind == "string":
            i = _string_end(expr, i, m.group())
            out.append(("string", ""))
            continue
        if kind != "space":
            out.append((m.group(), m.group()) if kind == "punct" else (kind, m.group()))
        i = m.end()
    return out


def merge(a: Tree, b: Tree) -> Tree:
    """A reading covering both: whole wins over members."""
    if a is None or b is None:
        return None
    out = dict(a)
    for key, sub in b.items():
        out[key] = merge(out[key], sub) if key in out else sub
    return out


def _chain(tokens: list[tuple[str, str]], i: int) -> list[str]:
    """The members selected one after another from the identifier at `i`."""
    names: list[str] = []
    while (
        i + 2 < len(tokens)
        and tokens[i + 1][0] == "."
        and tokens[i + 2][0] == "ident"
        and (i + 3 >= len(tokens) or tokens[i + 3][0] != "(")
    ):
        names.append(tokens[i + 2][1])
        i += 2
    return names


def _tree(names: list[str]) -> Tree:
    tree: Tree = None
    for name in reversed(names):
        tree = {name: tree}
    return tree


@functools.lru_cache(maxsize=1024)
def reads(expr: str, variables: tuple[str, ...] = VARIABLES) -> Reads:
    """The reading of each of `variables` that `expr` names."""
    try:
        tokens = _tokens(expr)
    except _Unknown:
        return dict.fromkeys(variables)
    out: dict[str, Tree] = {}
    for i, (kind, text) in enumerate(tokens):
        if kind != "ident" or text not in variables:
            continue
        if i >= 2 and tokens[i - 1][0] == "." and tokens[i - 2][0] in _OPERAND_END:
            continue  # a member of another value, not the variable
        tree = _tree(_chain(tokens, i))
        out[text] = merge(out[text], tree) if text in out else tree
    return out


def reads_of(exprs: Iterable[str], variables: tuple[str, ...] = VARIABLES) -> Reads:
    """What a set of expressions reads together."""
    out: dict[str, Tree] = {}
    for expr in exprs:
        for name, tree in reads(expr, variables).items():
            out[name] = merge(out[name], tree) if name in out else tree
    return out


_INT_MIN, _UINT_MAX = -(2**63), 2**64 - 1


def _text(value: str) -> bool:
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:  # a lone surrogate, which JSON's \ud800 escapes can spell
        return False
    return True


def convertible(value: Any) -> bool:
    """Whether the runtime converts `value` whole without an error (JSON's types, 64-bit
    integers, Unicode text); False for anything else, including what it might accept."""
    stack = [value]
    pop, extend = stack.pop, stack.extend  # bound once: this loop visits every value of the statement
    while stack:
        item = pop()
        kind = type(item)
        if kind is str:
            if not item.isascii() and not _text(item):
                return False
        elif kind is dict:
            for key in item:
                if type(key) is not str or (not key.isascii() and not _text(key)):
                    return False
            extend(item.values())
        elif kind is list:
            extend(item)
        elif kind is int:
            if not _INT_MIN <= item <= _UINT_MAX:
                return False
        elif not (item is None or kind is bool or kind is float):
            return False
    return True


def prune(value: Any, tree: Tree) -> Any:
    """`value` with only the members `tree` reads (maps on the way copied, never changed)."""
    if tree is None or type(value) is not dict:
        return value
    return {key: prune(value[key], sub) for key, sub in tree.items() if key in value}
