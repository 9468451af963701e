"""cosign's simple-signing payload: the exact bytes a `.sig` layer signs.

    {"critical":{"identity":{"docker-reference":REF},
                 "image":{"docker-manifest-digest":"sha256:..."},
                 "type":"cosign container image signature"},
     "optional":ANNOTATIONS_OR_null}

Written as Go's `json.Marshal` writes cosign's structs: compact, fields in that order,
annotation keys sorted, `optional` null when there are no annotations (cosign never
writes `{}`).

Parsing is strict where Go's decoder is lax: keys must be the lower-case names
(Go matches field names case-insensitively, which would let `"Critical"` through),
a duplicate key is refused, `critical.type` must be exactly cosign's string, and any
field in `critical` that slsacheck does not know is refused, as the containers
signature format requires of the critical section. `optional` may hold any JSON
values; only cosign's own writer limits them to strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slsacheck._json import without_lone_surrogates
from slsacheck.errors import InputError
from slsacheck.models.digest import Digest, InvalidDigest
from slsacheck.signing._encoding import go_json, strict_json

COSIGN_SIGNATURE_TYPE = "cosign container image signature"
SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"


class MalformedPayload(InputError):
    """A simple-signing payload that does not parse."""


@dataclass(frozen=True)
class SimpleSigningPayload:
    docker_reference: str
    digest: Digest
    optional: Mapping[str, Any] | None = None
    type: str = COSIGN_SIGNATURE_TYPE


def build_payload(docker_reference: str, digest: Digest, optional: Mapping[str, str] | None = None) -> bytes:
    """The payload bytes cosign signs for `digest` under the name `docker_reference`."""
    if not docker_reference:
        raise InputError("the docker-reference of a signature payload is empty",
                         expected="the image's repository, e.g. registry.example/team/app")
    body = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": str(digest)},
            "type": COSIGN_SIGNATURE_TYPE,
        },
        "optional": dict(sorted(optional.items())) if optional else None,
    }
    return go_json(body)


def _object(parent: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    if key not in parent:
        wrong_case = [k for k in parent if k.lower() == key]
        raise MalformedPayload(
            f"{where} has no {key!r}",
            expected=f"the lower-case key {key!r}",
            found=repr(wrong_case[0]) if wrong_case else _keys(parent),
        )
    value = parent[key]
    if not isinstance(value, Mapping):
        raise MalformedPayload(f"{where}: {key!r} is not an object", found=type(value).__name__)
    return value


def _string(parent: Mapping[str, Any], key: str, where: str) -> str:
    if key not in parent:
        raise MalformedPayload(f"{where} has no {key!r}", expected=f"the lower-case key {key!r}",
                               found=_keys(parent))
    value = parent[key]
    if not isinstance(value, str):
        raise MalformedPayload(f"{where}: {key!r} is not a string", found=type(value).__name__)
    return value


def _keys(obj: Mapping[str, Any]) -> str:
    return "keys " + ", ".join(map(repr, obj)) if obj else "no keys"


def _only(obj: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    extra = [k for k in obj if k not in allowed]
    for key in extra:
        if key.lower() in allowed:
            raise MalformedPayload(
                f"{where} has {key!r} where the lower-case {key.lower()!r} is required",
                expected=f"the lower-case key {key.lower()!r}",
                found=repr(key),
            )
    if extra:
        raise MalformedPayload(
            f"{where} has unknown critical fields",
            expected=", ".join(allowed),
            found=", ".join(map(repr, extra)),
            hint="critical fields a verifier does not understand must cause rejection",
        )


def parse_payload(data: bytes, *, where: str = "the signature payload") -> SimpleSigningPayload:
    doc = strict_json(data, where=where, error=MalformedPayload)
    doc = without_lone_surrogates(doc)
    if not isinstance(doc, dict):
        raise MalformedPayload(f"{where} is not a JSON object", found=type(doc).__name__)
    critical = _object(doc, "critical", where)
    _only(critical, ("identity", "image", "type"), f"{where} critical")
    identity = _object(critical, "identity", f"{where} critical")
    _only(identity, ("docker-reference",), f"{where} critical.identity")
    image = _object(critical, "image", f"{where} critical")
    _only(image, ("docker-manifest-digest",), f"{where} critical.image")
    kind = _string(critical, "type", f"{where} critical")
    if kind != COSIGN_SIGNATURE_TYPE:
        raise MalformedPayload(f"{where} is not a cosign signature payload", expected=COSIGN_SIGNATURE_TYPE,
                               found=kind)
    reference = _string(identity, "docker-reference", f"{where} critical.identity")
    try:
        digest = Digest.parse(_string(image, "docker-manifest-digest", f"{where} critical.image"))
    except InvalidDigest as exc:
        raise MalformedPayload(f"{where}: bad docker-manifest-digest: {exc.message}", expected=exc.expected,
                               found=exc.found) from exc
    optional = doc.get("optional")
    if optional is not None and not isinstance(optional, dict):
        raise MalformedPayload(f"{where}: 'optional' is neither an object nor null", found=type(optional).__name__)
    return SimpleSigningPayload(reference, digest, optional)
