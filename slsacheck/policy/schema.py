"""The ImagePolicy JSON Schema, applied to one YAML document, as line-precise problems.

jsonschema's own messages speak of the schema ("'x' does not match '^...'"); the ones
here speak of the policy: what key, what was expected (the schema's `x-expected` where
a pattern alone says little), what was found, and for unknown keys the closest valid
name. The schema file in `schemas/` is the single source of truth for shape and
defaults; the loader never re-states it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from slsacheck._resources import read_text
from slsacheck.policy.problems import Problem, did_you_mean
from slsacheck.policy.yamlsource import format_path, line_at

SCHEMA_FILE = "policy-v1alpha1.schema.json"
API_VERSION = "slsacheck.dev/v1alpha1"

_TYPE_NAMES = {
    dict: "a mapping",
    list: "a list",
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    type(None): "nothing (null)",
}


@functools.cache
def policy_schema() -> Mapping[str, Any]:
    schema: dict[str, Any] = json.loads(read_text("schemas", SCHEMA_FILE))
    return schema


@functools.cache
def _validator() -> Draft202012Validator:
    schema = policy_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _describe(value: Any) -> str:
    kind = _TYPE_NAMES.get(type(value), type(value).__name__)
    if isinstance(value, str | int | float | bool):
        text = json.dumps(value)
        return f"{kind} {text if len(text) <= 80 else text[:77] + '...'}"
    if isinstance(value, list):
        return f"a list of {len(value)}" if value else "an empty list"
    return kind


def _expected_type(schema_type: Any) -> str:
    names = {
        "object": "a mapping",
        "array": "a list",
        "string": "a string",
        "boolean": "true or false",
        "integer": "an integer",
        "number": "a number",
        "null": "null",
    }
    if isinstance(schema_type, list):
        return " or ".join(names.get(str(t), str(t)) for t in schema_type)
    return names.get(str(schema_type), str(schema_type))


def _problems_for(error: ValidationError, file: str, root: yaml.Node) -> list[Problem]:
    path: list[str | int] = list(error.absolute_path)
    where = format_path(path)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    hint_expected = schema.get("x-expected")
    kind = error.validator
    value = error.instance

    if kind == "additionalProperties" and isinstance(value, Mapping):
        allowed = list(schema.get("properties", {}))
        out = []
        for key in value:
            if key in allowed:
                continue
            out.append(
                Problem(
                    file,
                    line_at(root, [*path, key], key=True),
                    format_path([*path, key]),
                    f"unknown key {key!r}",
                    expected=f"one of {', '.join(allowed)}",
                    found=str(key),
                    hint=did_you_mean(str(key), allowed),
                )
            )
        return out
    if kind == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else str(error.validator_value)
        return [
            Problem(
                file,
                line_at(root, path),
                where,
                f"missing required key {missing!r}",
                expected=f"`{missing}` under {where}",
                found="no such key",
            )
        ]
    if kind == "type":
        return [
            Problem(
                file,
                line_at(root, path),
                where,
                "wrong type",
                expected=_expected_type(error.validator_value),
                found=_describe(value),
            )
        ]
    if kind in {"enum", "const"}:
        options: list[Any] = list(error.validator_value) if kind == "enum" else [error.validator_value]  # type: ignore[arg-type]
        choices = [str(o) for o in options]
        return [
            Problem(
                file,
                line_at(root, path),
                where,
                "value not allowed",
                expected=" | ".join(choices),
                found=_describe(value),
                hint=did_you_mean(str(value), choices) if isinstance(value, str) else None,
            )
        ]
    if kind in {"minItems"} and isinstance(value, list) and not value:
        return [
            Problem(
                file,
                line_at(root, path),
                where,
                "an empty list is an error, not 'nothing to check'",
                expected="at least one entry",
                found="an empty list",
            )
        ]
    if kind == "minimum":
        return [
            Problem(
                file,
                line_at(root, path),
                where,
                "value too small",
                expected=f">= {error.validator_value}",
                found=_describe(value),
            )
        ]
    if kind == "uniqueItems":
        return [
            Problem(
                file,
                line_at(root, path),
                where,
                "duplicate entries",
                expected="each entry once",
                found=_describe(value),
            )
        ]
    if kind in {"minLength"}:
        return [Problem(file, line_at(root, path), where, "empty string", expected="a non-empty string", found='""')]
    expected = hint_expected or _fallback_expected(error)
    return [Problem(file, line_at(root, path), where, "invalid value", expected=expected, found=_describe(value))]


def _fallback_expected(error: ValidationError) -> str:
    kind = error.validator
    if kind == "pattern":
        return f"text matching {error.validator_value}"
    if kind in {"minProperties", "maxProperties"}:
        return f"{'at least' if kind == 'minProperties' else 'at most'} {error.validator_value} key(s)"
    if kind in {"oneOf", "anyOf"}:
        return "exactly one of the alternatives" if kind == "oneOf" else "one of the alternatives"
    return str(error.message)


def validate_document(data: Any, file: str, root: yaml.Node) -> list[Problem]:
    """Problems in one document against the schema, sorted by line."""
    problems: list[Problem] = []
    seen: set[tuple[int | None, str, str]] = set()
    for error in _validator().iter_errors(data):
        for p in _problems_for(error, file, root):
            key = (p.line, p.path, p.message)
            if key not in seen:
                seen.add(key)
                problems.append(p)
    return sorted(problems, key=lambda p: (p.line or 0, p.path))


def defaults_for(path: Sequence[str]) -> Mapping[str, Any]:
    """Defaults the schema declares for the object at `path` (names of properties)."""
    node: Mapping[str, Any] = policy_schema()
    for part in path:
        node = _resolve(node)["properties"][part]
    props = _resolve(node).get("properties", {})
    return {k: _resolve(v)["default"] for k, v in props.items() if "default" in _resolve(v)}


def _resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in node:
        ref = str(node["$ref"]).removeprefix("#/$defs/")
        node = policy_schema()["$defs"][ref]
    return node
