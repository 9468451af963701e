"""A JSON object from outside, refused in the caller's own words (pure, no I/O).

Every reader of a JSON document it did not write (a predicate file, a Trivy report, a
registry credentials file, a manifest, an annotation, a trust root, an AdmissionReview)
refuses the same two things: bytes that are not JSON (or not UTF-8), and a value that is
not an object. Which error, and what it tells the user to do, stays with the caller, which
knows what the document is; so the caller passes the two errors to raise.

The foreign exception is not chained (`from None`): the caller's message carries what
matters of it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from slsacheck.errors import InputError


def load_object(
    data: bytes | str,
    *,
    not_json: Callable[[ValueError], Exception],
    not_object: Callable[[Any], Exception],
) -> dict[str, Any]:
    """`data` parsed as a JSON object; else raise `not_json(exc)` or `not_object(value)`."""
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
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
