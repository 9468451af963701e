"""Byte-exact encodings shared by the signing formats: strict base64 and Go-style JSON.

cosign and the Sigstore Go libraries serialise with Go's `encoding/json`, so bytes we
sign or store must come out the way Go writes them: compact, struct fields in
declaration order (callers build dicts in that order), map keys sorted, UTF-8 written
raw, and `<`, `>`, `&`, U+2028, U+2029 escaped as `\\u003c` and so on.

Decoding is strict: JSON with duplicate object keys is refused (two parsers reading
the same bytes must never see different values), within the depth and size bounds of
`slsacheck._json`, and base64 must be one alphabet,
standard or URL-safe, with padding either correct or absent.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from slsacheck._json import MAX_BYTES, Refused, parse
from slsacheck.errors import InputError

_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_GO_ESCAPE_RE = re.compile("[<>&\u2028\u2029]")

_STD = re.compile(r"[A-Za-z0-9+/]*")
_URL = re.compile(r"[A-Za-z0-9_-]*")


def go_json(value: Any, *, sort_keys: bool = False) -> bytes:
    """Serialise like Go's `json.Marshal` (compact; dict order kept unless `sort_keys`).

    The escaped characters can only occur inside JSON strings, so replacing them in
    the serialised text is exact.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys, allow_nan=False)
    try:
        return _GO_ESCAPE_RE.sub(lambda m: _GO_ESCAPES[m.group(0)], text).encode("utf-8")
    except UnicodeEncodeError as exc:
        # Lone surrogates: bytes that were not UTF-8 (e.g. from a command line) must not be signed.
        raise InputError("text to be signed is not valid Unicode", expected="UTF-8 text",
                         found=repr(exc.object[exc.start:exc.end])) from None


def strict_json(
    data: bytes | str, *, where: str, error: type[InputError] = InputError, max_bytes: int = MAX_BYTES
) -> Any:
    """Parse JSON within bounds (`slsacheck._json.parse`), refusing duplicate keys, invalid
    UTF-8 and NaN/Infinity."""
    try:
        return parse(data, strict=True, max_bytes=max_bytes)
    except Refused as exc:
        if exc.duplicate_key is not None:
            raise error(
                f"duplicate JSON key {exc.duplicate_key!r} in {where}",
                expected="each key once",
                found=f"{exc.duplicate_key!r} twice",
                hint="the document is malformed or crafted to be read differently by different parsers",
            ) from None
        raise error(f"{where} is not valid JSON", expected="a JSON document within bounds", found=str(exc)) from None


def b64decode(text: object, *, what: str, error: type[InputError] = InputError) -> bytes:
    """Decode standard or URL-safe base64 (padding optional), nothing looser.

    Whitespace, mixed alphabets and stray characters are refused rather than skipped.
    """
    if not isinstance(text, str):
        raise error(f"{what} is not a base64 string", expected="a base64 string", found=type(text).__name__)
    body = text.rstrip("=")
    padding = len(text) - len(body)
    if _STD.fullmatch(body):
        alphabet = "standard"
    elif _URL.fullmatch(body):
        alphabet = "url"
    else:
        bad = next((c for c in body if not (c.isascii() and (c.isalnum() or c in "+/-_"))), None)
        raise error(
            f"{what} is not valid base64",
            expected="standard or URL-safe base64, one alphabet",
            found=f"character {bad!r}" if bad is not None else "a mix of the standard and URL-safe alphabets",
        )
    if len(body) % 4 == 1 or (padding and (len(body) + padding) % 4) or padding > 2:
        raise error(
            f"{what} is not valid base64 (truncated)",
            expected="a length that is a whole number of base64 quanta",
            found=f"{len(text)} characters",
        )
    padded = body + "=" * (-len(body) % 4)
    try:
        if alphabet == "standard":
            return base64.b64decode(padded, validate=True)
        return base64.urlsafe_b64decode(padded)
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - the checks above make this unreachable
        raise error(f"{what} is not valid base64", found=str(exc)) from exc


def b64encode(data: bytes) -> str:
    """Standard base64 with padding: what Go's `base64.StdEncoding` and `[]byte` JSON fields write."""
    return base64.b64encode(data).decode("ascii")
