"""in-toto Statements (v1, and v0.1 for older producers): parse strictly, print deterministically.

A Statement names what it is about (`subject`: name + digest set) and carries one typed
predicate (SLSA provenance, a vulnerability scan, ...). This module only knows the envelope
of the claim, never a predicate's meaning.

Invariants:
- parsing refuses anything that is not a Statement, with the JSON path of the fault;
- digests of the well-known algorithms (sha1, sha256, sha384, sha512) must be lower-case hex
  of the right length; other algorithms (`gitCommit`, `dirHash`, ...) must be non-empty;
- unknown keys are kept (`extra`) so that a statement round-trips;
- `to_bytes()`/`to_json()` are deterministic: in-toto's field order at the top
  (`_type`, `subject`, `predicateType`, `predicate`), every object below sorted by key,
  so the same statement always gives the same bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from slsacheck._json import Refused, parse, utf8
from slsacheck.errors import InputError
from slsacheck.models.digest import Digest

STATEMENT_V1 = "https://in-toto.io/Statement/v1"
STATEMENT_V01 = "https://in-toto.io/Statement/v0.1"
STATEMENT_TYPES = (STATEMENT_V1, STATEMENT_V01)

# algorithm -> length of its lower-case hex encoding, for the algorithms in-toto and
# SLSA documents commonly carry; other keys are accepted as opaque non-empty strings.
DIGEST_HEX_LENGTHS: dict[str, int] = {"sha1": 40, "sha256": 64, "sha384": 96, "sha512": 128}
_HEX = re.compile(r"[0-9a-f]+")


class InvalidStatement(InputError):
    """A document that is not a well-formed in-toto Statement."""


def _bad(where: str, expected: str, found: object) -> InvalidStatement:
    shown = found if isinstance(found, str) else type(found).__name__
    if isinstance(shown, str) and len(shown) > 120:
        shown = shown[:117] + "..."
    return InvalidStatement(
        f"not a valid in-toto Statement: {where}",
        expected=expected,
        found=str(shown),
        hint="an in-toto Statement is a JSON object with _type, subject[{name, digest}], "
        "predicateType and predicate (https://github.com/in-toto/attestation/tree/main/spec/v1)",
    )


def check_digest_set(digest: object, where: str) -> dict[str, str]:
    """A digest set as in-toto defines it, with the known algorithms' hex checked."""
    if not isinstance(digest, Mapping) or not digest:
        raise _bad(where, "a non-empty object {algorithm: hex}", digest)
    out: dict[str, str] = {}
    for algorithm, value in digest.items():
        if not isinstance(algorithm, str) or not algorithm:
            raise _bad(where, "algorithm names as strings", algorithm)
        if not isinstance(value, str) or not value:
            raise _bad(f"{where}.{algorithm}", "a non-empty string", value)
        length = DIGEST_HEX_LENGTHS.get(algorithm)
        if length is not None and (len(value) != length or not _HEX.fullmatch(value)):
            raise _bad(f"{where}.{algorithm}", f"{length} lower-case hex characters", value)
        out[algorithm] = value
    return out


def _sorted_json(value: Any) -> Any:
    """A copy of JSON data with every object's keys in sorted order."""
    if isinstance(value, Mapping):
        return {key: _sorted_json(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [_sorted_json(item) for item in value]
    return value


@dataclass(frozen=True)
class Subject:
    """One artifact the statement is about: a name and its digest set."""

    name: str
    digest: Mapping[str, str]
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Immutable, and in a fixed order, so equal subjects print and hash alike.
        object.__setattr__(self, "digest", MappingProxyType(dict(sorted(self.digest.items()))))
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    def __hash__(self) -> int:
        return hash((self.name, tuple(self.digest.items())))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "digest": dict(self.digest)}
        for key in sorted(self.extra):
            out[key] = _sorted_json(self.extra[key])
        return out

    def names(self, digest: Digest) -> bool:
        return self.digest.get(digest.algorithm) == digest.hex


@dataclass(frozen=True)
class Statement:
    subjects: tuple[Subject, ...]
    predicate_type: str
    predicate: Mapping[str, Any]
    type: str = STATEMENT_V1
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "subjects", tuple(self.subjects))

    # -- parse ------------------------------------------------------------------------

    @classmethod
    def from_json(cls, data: bytes | str) -> Statement:
        try:
            # Strict: a statement is what a signature covers; duplicate keys would let two
            # verifiers read different subjects or predicates from the same signed bytes.
            parsed = parse(data, strict=True)
        except Refused as exc:
            raise InvalidStatement(
                "not a valid in-toto Statement: the text is not JSON",
                expected="a JSON object within bounds, each key once",
                found=str(exc),
                hint="a DSSE payload or attestation file must hold the statement as JSON",
            ) from None
        return cls.from_dict(parsed)

    @classmethod
    def from_dict(cls, data: object) -> Statement:
        if not isinstance(data, Mapping):
            raise _bad("the document", "a JSON object", data)
        kind = data.get("_type")
        if kind not in STATEMENT_TYPES:
            raise _bad("_type", " or ".join(STATEMENT_TYPES), kind if kind is not None else "nothing")
        raw_subjects = data.get("subject")
        if not isinstance(raw_subjects, list) or not raw_subjects:
            raise _bad("subject", "a non-empty list of {name, digest}", raw_subjects)
        subjects = tuple(_parse_subject(item, f"subject[{i}]") for i, item in enumerate(raw_subjects))
        predicate_type = data.get("predicateType")
        if not isinstance(predicate_type, str) or not predicate_type:
            raise _bad("predicateType", "a non-empty string (a URI)", predicate_type)
        predicate = data.get("predicate", {})
        if not isinstance(predicate, Mapping):
            raise _bad("predicate", "a JSON object", predicate)
        known = {"_type", "subject", "predicateType", "predicate"}
        extra = {key: value for key, value in data.items() if key not in known}
        return cls(subjects, predicate_type, dict(predicate), type=kind, extra=extra)

    # -- print ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "_type": self.type,
            "subject": [subject.to_dict() for subject in self.subjects],
            "predicateType": self.predicate_type,
            "predicate": _sorted_json(self.predicate),
        }
        for key in sorted(self.extra):
            out[key] = _sorted_json(self.extra[key])
        return out

    def to_json(self, *, indent: int | None = 2) -> str:
        """Deterministic JSON text; with `indent`, for people (ends with a newline)."""
        if indent is None:
            return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent) + "\n"

    def to_bytes(self) -> bytes:
        """The compact, deterministic UTF-8 form: what goes into a DSSE payload."""
        return utf8(self.to_json(indent=None), what=f"the in-toto statement (predicate type {self.predicate_type!a})")

    # -- questions --------------------------------------------------------------------

    def names_digest(self, digest: Digest) -> bool:
        """Whether some subject carries exactly this digest."""
        return any(subject.names(digest) for subject in self.subjects)



def _parse_subject(item: object, where: str) -> Subject:
    if not isinstance(item, Mapping):
        raise _bad(where, "an object {name, digest}", item)
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise _bad(f"{where}.name", "a non-empty string", name if name is not None else "nothing")
    digest = check_digest_set(item.get("digest"), f"{where}.digest")
    extra = {key: value for key, value in item.items() if key not in ("name", "digest")}
    return Subject(name, digest, extra)
