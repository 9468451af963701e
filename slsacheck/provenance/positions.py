"""Where each value of a JSON or YAML document starts, so errors can name a line.

`load_with_lines(text)` returns the parsed document and a map from JSON path (a tuple of
keys and indexes) to the 1-based line where that value (for object members: its key)
starts. `line_of(lines, path)` falls back to the nearest enclosing value, so a
"required property" error lands on the object that lacks it.

JSON is parsed by `json` first (its errors already carry line and column); positions come
from a second pass over the now known-good text. YAML positions come from PyYAML's node
marks.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Mapping, Sequence
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

import yaml

from slsacheck import _yaml
from slsacheck.provenance.documents import RUN_LIMITS, check_json_nesting
from slsacheck.provenance.findings import RunError

Path = tuple[str | int, ...]
_WS = re.compile(r"[ \t\n\r]*")


def load_with_lines(text: str, source: str) -> tuple[Any, dict[Path, int]]:
    if text.lstrip().startswith(("{", "[")):
        check_json_nesting(text, source)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RunError(
                f"{source}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}",
                hint="fix the JSON syntax at that position",
            ) from exc
        return data, _json_lines(text)
    try:
        parsed = _yaml.parse_all(text, RUN_LIMITS)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        _line, message = _yaml.describe_error(exc)
        raise RunError(f"{where}: {message}", hint="fix the YAML at that position") from None
    if len(parsed) > 1:
        raise RunError(f"{source}: expected one YAML document, found {len(parsed)}",
                       hint="give one statement per file")
    if not parsed:
        return None, {}
    node, data = parsed[0]
    lines: dict[Path, int] = {}
    _yaml_lines(node, (), lines)
    return data, lines


def line_of(lines: Mapping[Path, int], path: Sequence[str | int]) -> int | None:
    key = tuple(path)
    while True:
        if key in lines:
            return lines[key]
        if not key:
            return None
        key = key[:-1]


def _yaml_lines(node: yaml.Node, path: Path, lines: dict[Path, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = (*path, str(key_node.value))
            lines[key] = key_node.start_mark.line + 1
            _yaml_lines(value_node, key, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _yaml_lines(item, (*path, index), lines)


def _json_lines(text: str) -> dict[Path, int]:
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    lines: dict[Path, int] = {}
    decoder = json.JSONDecoder()

    def line(pos: int) -> int:
        return bisect.bisect_right(starts, pos)

    def skip(pos: int) -> int:
        match = _WS.match(text, pos)
        return match.end() if match else pos

    def value(pos: int, path: Path) -> int:
        pos = skip(pos)
        lines.setdefault(path, line(pos))
        char = text[pos]
        if char == "{":
            pos = skip(pos + 1)
            if text[pos] == "}":
                return pos + 1
            while True:
                key_pos = skip(pos)
                key, pos = scanstring(text, key_pos + 1)
                lines[(*path, key)] = line(key_pos)
                pos = skip(pos) + 1  # the ':'
                pos = skip(value(pos, (*path, key)))
                if text[pos] == "}":
                    return pos + 1
                pos += 1  # the ','
        if char == "[":
            pos = skip(pos + 1)
            if text[pos] == "]":
                return pos + 1
            index = 0
            while True:
                pos = skip(value(pos, (*path, index)))
                index += 1
                if text[pos] == "]":
                    return pos + 1
                pos += 1
        _, end = decoder.raw_decode(text, pos)
        return int(end)

    value(0, ())
    return lines
