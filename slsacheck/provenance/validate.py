"""Check a provenance document before it leaves, or any builder's document on request.

Two independent checks, both must pass:
1. JSON Schema (`schemas/in-toto-statement-v1.schema.json`, then the predicate's schema by
   predicateType: `slsa-provenance-v1` or `slsa-provenance-v0.2`), every error reported;
2. parsing into the in-toto-attestation library's protobuf models (Statement, and for
   SLSA v1 the Provenance predicate), which refuses fields the spec does not define.

For a file, each problem names its line: `FILE:LINE: at PATH: message`.

This module imports jsonschema and protobuf at load: import it only where validation runs
(the CLI does so inside its command functions).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from google.protobuf import json_format
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import STATEMENT_TYPE_URI
from in_toto_attestation.v1.statement import Statement as ITStatement

from slsacheck import _resources
from slsacheck.errors import InputError
from slsacheck.models.predicates import SLSA_PROVENANCE_V1
from slsacheck.provenance.positions import Path as JsonPath
from slsacheck.provenance.positions import line_of, load_with_lines

PREDICATE_SCHEMAS = {
    "https://slsa.dev/provenance/v1": "slsa-provenance-v1.schema.json",
    "https://slsa.dev/provenance/v0.2": "slsa-provenance-v0.2.schema.json",
}
STATEMENT_SCHEMA = "in-toto-statement-v1.schema.json"


@dataclass(frozen=True)
class Problem:
    path: tuple[str | int, ...]
    message: str
    line: int | None = None

    def render(self, source: str = "") -> str:
        where = "/".join(str(p) for p in self.path) or "(document)"
        prefix = f"{source}:{self.line}: " if source and self.line else (f"{source}: " if source else "")
        return f"{prefix}at {where}: {self.message}"


class InvalidProvenance(InputError):
    """A provenance document that fails the schemas or the in-toto models."""

    def __init__(self, problems: Sequence[Problem], source: str = "") -> None:
        shown = "\n    ".join(p.render(source) for p in problems[:50])
        more = f"\n    ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(
            f"{source or 'the document'} is not valid provenance: {len(problems)} problem(s)\n    {shown}{more}",
            hint="each line names the place in the document; see schemas/ for the accepted shapes",
        )
        self.problems = tuple(problems)


@cache
def _validator(name: str) -> Any:
    schema = json.loads(_resources.read_text("schemas", name))
    # The shipped schemas only use local, non-recursive `#/$defs/...` references; inlining
    # them once saves a reference lookup per array item (a third of the time on big runs).
    return jsonschema.Draft202012Validator(_inline_refs(schema, schema.get("$defs", {})))


def _inline_refs(node: Any, defs: Mapping[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and ref[8:] in defs:
            rest = {k: v for k, v in node.items() if k != "$ref"}
            target = _inline_refs(defs[ref[8:]], defs)
            return {"allOf": [target, _inline_refs(rest, defs)]} if rest else target
        return {k: _inline_refs(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


def check(document: object) -> list[Problem]:
    """Every problem in a statement carrying SLSA provenance (empty: valid)."""
    problems = _schema_problems(STATEMENT_SCHEMA, document, ())
    if not isinstance(document, Mapping):
        return problems
    predicate_type = document.get("predicateType")
    schema = PREDICATE_SCHEMAS.get(predicate_type) if isinstance(predicate_type, str) else None
    if schema is None:
        if "predicateType" in document:  # a missing one is the statement schema's "required" problem
            problems.append(Problem(("predicateType",), _facts(
                "not SLSA provenance", " or ".join(PREDICATE_SCHEMAS), _shown(predicate_type))))
    elif isinstance(document.get("predicate"), Mapping):
        problems += _schema_problems(schema, document["predicate"], ("predicate",))
    else:
        problems.append(Problem(("predicate",), "SLSA provenance needs a predicate object"))
    if not problems:
        problems += _model_problems(document)
    return problems


def check_statement(document: Mapping[str, Any]) -> None:
    """Raise `InvalidProvenance` unless `document` passes both checks."""
    problems = check(document)
    if problems:
        raise InvalidProvenance(problems, "generated statement")


def validate_file(path: Path) -> Any:
    """Parse FILE (JSON or YAML) and check it; problems carry line numbers."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}", hint="give a JSON or YAML provenance file") from exc
    document, lines = load_with_lines(text, str(path))
    if isinstance(document, Mapping) and "payload" in document and "payloadType" in document:
        raise InputError(
            f"{path} is a DSSE envelope, not a statement",
            hint="decode the payload first (base64 -d), or verify the attestation instead",
        )
    problems = [Problem(p.path, p.message, _line(lines, p.path)) for p in check(document)]
    if problems:
        raise InvalidProvenance(problems, str(path))
    return document


def _line(lines: Mapping[JsonPath, int], path: Sequence[str | int]) -> int | None:
    return line_of(lines, path)


def _schema_problems(schema: str, instance: object, prefix: tuple[str | int, ...]) -> list[Problem]:
    validator = _validator(schema)
    if validator.is_valid(instance):
        return []
    out = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: (list(map(str, e.absolute_path)), e.message)):
        out.append(Problem((*prefix, *error.absolute_path), _describe(error)))
    return out


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
               float: "a number", type(None): "null"}


def _shown(value: object) -> str:
    """A value as the document spells it (JSON, not Python), cut short."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _kind(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _facts(what: str, expected: str, found: str) -> str:
    return f"{what}: expected {expected}, found {found}"


def _describe(error: jsonschema.ValidationError) -> str:
    """A schema error as the field's expected and found values, not jsonschema's wording
    (which speaks Python: "None is not of type 'string'")."""
    value: Any = error.instance
    rule: Any = error.validator_value
    match error.validator:
        case "required":
            # jsonschema reports one error per missing name, and names it only in its message.
            missing = [name for name in rule if not (isinstance(value, Mapping) and name in value)]
            named = [name for name in missing if error.message.startswith(repr(name))]
            return _facts("missing field", (named or missing or ["the required fields"])[0], "no such field")
        case "type":
            wanted = " or ".join(rule) if isinstance(rule, list) else str(rule)
            return _facts("wrong type", wanted, f"{_kind(value)} {_shown(value)}")
        case "const":
            return _facts("wrong value", _shown(rule), _shown(value))
        case "enum":
            return _facts("not an allowed value", "one of " + ", ".join(_shown(v) for v in rule), _shown(value))
        case "pattern":
            return _facts("malformed", f"text matching {rule}", _shown(value))
        case "additionalProperties" | "unevaluatedProperties":
            known = set((error.schema or {}).get("properties", {})) if isinstance(error.schema, Mapping) else set()
            extra = [k for k in value if k not in known] if isinstance(value, Mapping) else []
            return _facts("unknown field" + ("s" if len(extra) > 1 else ""), "only the fields the schema defines",
                          ", ".join(extra) or "other fields")
        case "minItems":
            return _facts("too few items", f"at least {rule}", str(len(value) if isinstance(value, list) else 0))
        case "minLength":
            return _facts("too short", f"at least {rule} character(s)", _shown(value))
        case "minProperties":
            return _facts("empty", f"at least {rule} field(s)", _shown(value))
        case "format":
            return _facts("malformed", f"a {rule}", _shown(value))
    message = error.message
    return message if len(message) <= 300 else message[:297] + "..."


def _model_problems(document: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    try:
        proto = json_format.ParseDict(dict(document), statement_pb2.Statement())
        if proto.type == STATEMENT_TYPE_URI:
            ITStatement.copy_from_pb(proto).validate()
    except (json_format.ParseError, ValueError) as exc:
        problems.append(Problem((), f"in-toto Statement model: {str(exc).splitlines()[0]}"))
    if document.get("predicateType") == SLSA_PROVENANCE_V1:
        try:
            json_format.ParseDict(dict(document["predicate"]), provenance_pb2.Provenance())
        except json_format.ParseError as exc:
            problems.append(Problem(("predicate",), f"SLSA v1 Provenance model: {str(exc).splitlines()[0]}"))
    return problems
