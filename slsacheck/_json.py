"""JSON from outside, parsed within bounds and refused in the caller's own words (pure, no I/O).

Every reader of a JSON document it did not write (a manifest, a DSSE envelope, a Sigstore
bundle, an in-toto statement, an annotation, a trust root, an AdmissionReview, a
registry's answer) parses it through `parse`, which refuses, before or instead of
building it:

- more than `max_bytes` of input (the reader says how much it accepts);
- nesting deeper than `max_depth`: Python's parser recurses, so a few kilobytes of `[[[[`
  would otherwise end in a `RecursionError` (a traceback, or a 500 from the webhook), and
  every later walk over the value (canonical JSON, CEL, reports) recurses too;
- more than `max_items` values: a 16 MiB blob of `{},{},...` becomes millions of dicts,
  hundreds of MB; the count is taken on the bytes before parsing (commas and openers, an
  overestimate when strings hold them, so a document under the bound is never refused for
  it wrongly in the other direction);
- invalid UTF-8, and anything that is not JSON.

`strict=True` is for signed documents (DSSE envelopes, bundles, statements, payloads):
duplicate object keys and NaN/Infinity are refused too, because two parsers reading the
same signed bytes must never see different values.

All refusals are one exception, `Refused` (a `ValueError`), whose message says what was
refused; callers turn it into their own error with `load_object` or `parse_or`. The
foreign exception is not chained (`from None`): the message carries what matters of it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from slsacheck.errors import InputError

# Deep enough for any real manifest, envelope, bundle, statement or SBOM predicate; shallow
# enough that every recursive consumer stays far from Python's recursion limit.
MAX_DEPTH = 100
MAX_ITEMS = 1_000_000
MAX_BYTES = 16 * 1024 * 1024


class Refused(ValueError):
    """JSON input refused: not JSON, too large, too deep, too many values, or (strict)
    ambiguous. The message is the bare reason, for the caller to put after its own words;
    `duplicate_key` names the key a strict parse saw twice."""

    def __init__(self, reason: str, *, duplicate_key: str | None = None) -> None:
        super().__init__(reason)
        self.duplicate_key = duplicate_key


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether `value` nests containers deeper than `limit` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            return True
        children = current.values() if isinstance(current, dict) else current
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _strict_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise Refused(f"duplicate key {key!r}", duplicate_key=key)
        obj[key] = value
    return obj


def _no_constant(name: str) -> Any:
    raise Refused(f"{name} (not a standard JSON number)")


def parse(
    data: bytes | str,
    *,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    max_items: int = MAX_ITEMS,
    strict: bool = False,
) -> Any:
    """`data` parsed as JSON within the bounds (see the module docstring); else `Refused`."""
    if len(data) > max_bytes:
        raise Refused(f"larger than {max_bytes} bytes ({len(data)} bytes)")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise Refused(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    openers = text.count("[") + text.count("{")
    if text.count(",") + openers + 1 > max_items:
        raise Refused(f"more than {max_items} values")
    try:
        if strict:
            value = json.loads(text, object_pairs_hook=_strict_pairs, parse_constant=_no_constant)
        else:
            value = json.loads(text)
    except RecursionError:
        raise Refused(f"nested deeper than {max_depth} levels") from None
    except json.JSONDecodeError as exc:
        raise Refused(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except Refused:
        raise
    except ValueError as exc:  # an integer of more digits than Python converts, for one
        raise Refused(str(exc).split(";")[0]) from None
    # Each level of nesting is one `[` or `{` in the text (strings only add to the count), so
    # a document with no more openers than the limit needs no walk: most reviews and envelopes.
    if openers > max_depth and isinstance(value, dict | list) and _depth_exceeds(value, max_depth):
        raise Refused(f"nested deeper than {max_depth} levels")
    return value


def load_object(
    data: bytes | str,
    *,
    not_json: Callable[[ValueError], Exception],
    not_object: Callable[[Any], Exception],
    max_bytes: int = MAX_BYTES,
    strict: bool = False,
) -> dict[str, Any]:
    """`data` parsed (bounded, see `parse`) as a JSON object; else raise `not_json(exc)` or
    `not_object(value)`."""
    try:
        value = parse(data, max_bytes=max_bytes, strict=strict)
    except Refused as exc:
        raise not_json(exc) from None
    if not isinstance(value, dict):
        raise not_object(value)
    return value


# -- odd Unicode on the way out -------------------------------------------------------------
#
# Python decodes the JSON escape "\ud800" to a lone surrogate, which UTF-8 cannot carry. Text
# from evidence may hold one; it must not crash a writer. Documents slsacheck signs refuse
# it (`utf8`: the signature would be over other text than the user gave); documents it
# reports replace it with U+FFFD (`dumps_report`), as Go's encoding/json (cosign,
# policy-controller) does when it decodes one.

_SURROGATE = re.compile("[\ud800-\udfff]")


def utf8_safe(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD: encodable as UTF-8."""
    return _SURROGATE.sub("\ufffd", text)


def dumps_report(value: Any, **options: Any) -> str:
    """`json.dumps` for output (reports, verdicts): UTF-8 text, safe whatever the evidence held.

    Written with `ensure_ascii=False`, so that surrogates appear raw, only inside JSON
    strings, and replacing them in the text is exact.
    """
    return utf8_safe(json.dumps(value, **{**options, "ensure_ascii": False}))


def utf8(text: str, *, what: str) -> bytes:
    """`text` as UTF-8 bytes to be signed or stored; a lone surrogate is the user's input error."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(
            f"{what} holds text that is not valid Unicode (a lone surrogate, {exc.object[exc.start:exc.end]!a})",
            expected="UTF-8 text (a JSON \\ud800-\\udfff escape only as half of a pair)",
            found=f"{exc.object[max(0, exc.start - 20):exc.end + 20]!a}",
            hint="fix the document: such text cannot be signed, and other tools would read it differently",
        ) from None


def lone_surrogate(value: Any, path: str = "") -> str | None:
    """Where in a decoded document a string (or key) holds a lone surrogate (`/a/0/b`), or None.

    For documents the user gives slsacheck to sign or to turn into something signed (a
    predicate, Tekton run objects): their reader refuses them at the first such place.
    """
    if isinstance(value, str):
        return path or "/" if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}/{key}"
            if isinstance(key, str) and _SURROGATE.search(key):
                return where
            found = lone_surrogate(item, where)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = lone_surrogate(item, f"{path}/{index}")
            if found is not None:
                return found
    return None


def without_lone_surrogates(value: Any) -> Any:
    """Decoded evidence with every lone surrogate (in strings and keys) replaced by U+FFFD.

    This is how Go's encoding/json decodes them, so slsacheck reads a manifest or an
    envelope as cosign and policy-controller do, and no later step (a DSSE PAE, an
    annotation turned into bytes, a report) meets text UTF-8 cannot carry. Changes the
    decoded value in place (iteratively: no recursion) and returns it.
    """
    if isinstance(value, str):
        return utf8_safe(value)
    stack = [value] if isinstance(value, dict | list) else []
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            if any(_SURROGATE.search(key) for key in current):
                fixed = {utf8_safe(key): item for key, item in current.items()}
                current.clear()
                current.update(fixed)
            for key, item in current.items():
                if isinstance(item, str):
                    if _SURROGATE.search(item):
                        current[key] = utf8_safe(item)
                elif isinstance(item, dict | list):
                    stack.append(item)
        else:
            for index, item in enumerate(current):
                if isinstance(item, str):
                    if _SURROGATE.search(item):
                        current[index] = utf8_safe(item)
                elif isinstance(item, dict | list):
                    stack.append(item)
    return value
