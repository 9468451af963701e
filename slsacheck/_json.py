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
from collections.abc import Callable
from typing import Any


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
