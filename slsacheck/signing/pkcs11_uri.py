"""`pkcs11:` key references (RFC 7512), read as cosign reads them, and stricter.

    pkcs11:token=LABEL;slot-id=N;object=LABEL;id=%01?module-path=/usr/lib/x.so&pin-source=/run/pin

Path attributes (`;`-separated) pick the token (`token`, `slot-id`, `serial`,
`manufacturer`, `model`) and the key (`object`, `id`, `type`); query attributes
(`&`-separated) say how to reach it (`module-path`, `pin-value`, `pin-source`).
Values are percent-decoded; `id` is bytes.

As cosign: one of `token`/`slot-id` and one of `object`/`id` is required; the module is
`module-path` or `$COSIGN_PKCS11_MODULE_PATH`; the PIN is `pin-value`, else the file
`pin-source` names (RFC 7512: a `file:` URI or a path), else `$COSIGN_PKCS11_PIN`.
Stricter than cosign: an attribute this module does not know, or one given twice, is
refused (a typo such as `objet=` would otherwise widen the search silently); `pin-value`
with `pin-source` is refused; when both `slot-id` and `token` are given, the token in
that slot must carry that label.

The PIN never leaves this module's types in text: `Pkcs11Uri.redacted` is the reference
as messages show it (`redact`: every value not known to be harmless is replaced), and
the PIN field is kept out of `repr`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote_to_bytes

from slsacheck._numbers import decimal
from slsacheck.errors import InvalidKey

SCHEME = "pkcs11:"
MODULE_ENV = "COSIGN_PKCS11_MODULE_PATH"
PIN_ENV = "COSIGN_PKCS11_PIN"
PATH_ATTRIBUTES = ("token", "slot-id", "serial", "manufacturer", "model", "object", "id", "type")
QUERY_ATTRIBUTES = ("module-path", "pin-value", "pin-source")
KEY_TYPES = ("private", "public", "cert")
_SHOWN = frozenset((*PATH_ATTRIBUTES, "module-path", "pin-source"))  # never secrets
_PIN_MAX = 1024  # a PIN file bigger than this is not a PIN
_HINT = "write it as pkcs11:token=LABEL;object=KEY?module-path=/path/to/module.so (RFC 7512)"


def is_pkcs11(uri: str) -> bool:
    return uri.startswith(SCHEME)


def _redact_part(text: str, separator: str) -> str:
    items = []
    for item in text.split(separator):
        name, sep, _ = item.partition("=")
        if sep and name.strip().lower() in _SHOWN:
            items.append(item)
        else:
            items.append(f"{name}=***" if sep else "***")
    return separator.join(items)


def redact(uri: str) -> str:
    """`uri` as messages show it: values of every attribute that is not known to be
    harmless (`pin-value`, a misspelt `pin-valeu`, an item without `=`) are replaced."""
    if not is_pkcs11(uri):
        return uri
    path, mark, query = uri[len(SCHEME):].partition("?")
    return SCHEME + _redact_part(path, ";") + (mark + _redact_part(query, "&") if mark else "")


@dataclass(frozen=True)
class Pkcs11Uri:
    """A parsed `pkcs11:` key reference (see the module docstring)."""

    redacted: str
    module_path: str
    token: str | None = None
    slot_id: int | None = None
    serial: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    label: str | None = None
    key_id: bytes | None = None
    pin: str | None = field(default=None, repr=False)

    @property
    def key_name(self) -> str:
        """The key as people name it: `object=...` and/or `id=...`."""
        parts = []
        if self.label is not None:
            parts.append(f"object={self.label}")
        if self.key_id is not None:
            parts.append(f"id={self.key_id.hex()}")
        return ";".join(parts)

    @property
    def token_name(self) -> str:
        parts = []
        if self.token is not None:
            parts.append(f"token={self.token}")
        if self.slot_id is not None:
            parts.append(f"slot-id={self.slot_id}")
        return ";".join(parts)


def _bad(message: str, uri: str, *, expected: str | None = None, hint: str = _HINT) -> InvalidKey:
    return InvalidKey(f"{message} in pkcs11: key reference", expected=expected, found=redact(uri), hint=hint)


def _pairs(text: str, separator: str, known: tuple[str, ...], uri: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    if not text:
        return out
    for item in text.split(separator):
        name, sep, value = item.partition("=")
        name = name.strip().lower()
        if not sep or not name:
            raise _bad("an attribute is not NAME=VALUE", uri, expected="NAME=VALUE")
        if name not in known and not name.startswith("x-"):
            raise _bad(f"unknown attribute {name}", uri, expected="one of " + ", ".join(known))
        if name in out:
            raise _bad(f"attribute {name} given twice", uri, expected="each attribute once")
        try:
            out[name] = unquote_to_bytes(value)
        except ValueError:
            raise _bad(f"attribute {name} is not percent-encoded correctly", uri) from None
    return out


def _text(value: bytes | None, name: str, uri: str) -> str | None:
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad(f"attribute {name} is not UTF-8", uri) from None


def _read_pin_source(source: str, uri: str) -> str:
    path = Path(source.removeprefix("file://") if source.startswith("file://") else source.removeprefix("file:"))
    if not path.is_absolute():
        raise _bad("pin-source must name a file by absolute path", uri, expected="pin-source=file:/path or /path",
                   hint="mount the PIN from a Secret as a file and name its absolute path")
    try:
        with path.open("rb") as handle:
            data = handle.read(_PIN_MAX + 1)
    except OSError as exc:
        raise InvalidKey(f"pin-source {path} cannot be read: {exc.strerror}", found=redact(uri),
                         hint="check the path and that this user may read it") from None
    if len(data) > _PIN_MAX:
        raise InvalidKey(f"pin-source {path} is too large to be a PIN", expected=f"at most {_PIN_MAX} bytes")
    return data.decode("utf-8", "replace").rstrip("\r\n")


def _pin(query: dict[str, bytes], uri: str) -> str | None:
    value = _text(query.get("pin-value"), "pin-value", uri)
    source = _text(query.get("pin-source"), "pin-source", uri)
    if value is not None and source is not None:
        raise _bad("pin-value and pin-source both given", uri, expected="one PIN source",
                   hint="prefer pin-source (a file) or $COSIGN_PKCS11_PIN: a pin-value shows in process lists")
    if value is not None:
        return value
    if source is not None:
        return _read_pin_source(source, uri)
    return os.environ.get(PIN_ENV) or None


def parse(uri: str) -> Pkcs11Uri:
    """The reference `uri` names, with its PIN read (see the module docstring)."""
    if not is_pkcs11(uri):
        raise _bad("not a pkcs11: reference", uri)
    body = uri[len(SCHEME):]
    path_text, _, query_text = body.partition("?")
    if path_text.startswith("//"):
        raise _bad("pkcs11: takes attributes, not a host and path", uri, expected="pkcs11:token=...;object=...")
    path = _pairs(path_text, ";", PATH_ATTRIBUTES, uri)
    query = _pairs(query_text, "&", QUERY_ATTRIBUTES, uri)
    token = _text(path.get("token"), "token", uri)
    slot_text = _text(path.get("slot-id"), "slot-id", uri)
    if token is None and slot_text is None:
        raise _bad("no token", uri, expected="token=LABEL or slot-id=N")
    slot_id = None
    if slot_text is not None:
        slot_id = decimal(slot_text)
        if slot_id is None:
            raise _bad(f"slot-id {slot_text!r} is not a number", uri, expected="slot-id=N (decimal)")
    label = _text(path.get("object"), "object", uri)
    key_id = path.get("id")
    if label is None and key_id is None:
        raise _bad("no key named", uri, expected="object=LABEL or id=%XX...")
    kind = _text(path.get("type"), "type", uri)
    if kind is not None and kind not in KEY_TYPES:
        raise _bad(f"type {kind!r} is not a key", uri, expected="type=private, public or cert")
    module = _text(query.get("module-path"), "module-path", uri) or os.environ.get(MODULE_ENV)
    if not module:
        raise _bad("no PKCS#11 module", uri, expected=f"module-path=/path/to/module.so or ${MODULE_ENV}",
                   hint="name the token vendor's PKCS#11 library, e.g. module-path=/usr/lib/softhsm/libsofthsm2.so")
    return Pkcs11Uri(
        redacted=redact(uri), module_path=module, token=token, slot_id=slot_id,
        serial=_text(path.get("serial"), "serial", uri), manufacturer=_text(path.get("manufacturer"), "manufacturer",
                                                                          uri),
        model=_text(path.get("model"), "model", uri), label=label, key_id=key_id, pin=_pin(query, uri),
    )
