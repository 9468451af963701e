"""YAML documents with their source positions, so every policy error can name a line.

PyYAML's composer gives nodes with marks; we construct the data from the same nodes and
keep them, and map a JSON path (`("spec", "attestations", 0, "name")`) back to the node,
hence to a line. Duplicate keys are refused here (PyYAML would keep the last silently,
and a policy whose second `threshold:` quietly wins is not what anyone reviewed).
Timestamps stay their source text: the schema and the loader, not YAML's resolver,
decide what a date is (so `until: 2027-02-30` is a located problem, not a crash).
Size, nesting and alias expansion are bounded by `slsacheck._yaml` (an alias bomb is a
located problem, refused before anything walks the expanded value).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from slsacheck import _yaml

JSONPath = tuple[str | int, ...]
# A policy is a page or two of YAML; a megabyte is already far beyond any reviewed one.
POLICY_LIMITS = _yaml.Limits(max_bytes=1 << 20)


@dataclass(frozen=True)
class Document:
    index: int  # 0-based position among the file's documents
    node: yaml.Node
    data: Any


@dataclass(frozen=True)
class YAMLProblem:
    line: int | None
    message: str


def format_path(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(document)"


def _duplicate_keys(node: yaml.Node) -> Iterator[tuple[yaml.Node, str]]:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    yield key, key.value
                seen.add(key.value)
            yield from _duplicate_keys(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _duplicate_keys(item)


def parse_documents(text: str) -> tuple[list[Document], list[YAMLProblem]]:
    """All documents of `text` (empty ones skipped), or the problems that stop parsing."""
    try:
        parsed = _yaml.parse_all(text, POLICY_LIMITS)
    except yaml.YAMLError as exc:
        line, message = _yaml.describe_error(exc)
        return [], [YAMLProblem(line, message)]
    docs: list[Document] = []
    for index, (node, data) in enumerate(parsed):
        dups = list(_duplicate_keys(node))
        if dups:
            return [], [YAMLProblem(k.start_mark.line + 1, f"duplicate key {name!r}") for k, name in dups]
        docs.append(Document(index, node, data))
    return docs, []


def node_at(root: yaml.Node, path: Sequence[str | int], *, key: bool = False) -> yaml.Node:
    """The deepest node along `path` (the key's node instead of its value with `key=True`)."""
    node = root
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                    node = k if (last and key) else v
                    break
            else:
                return node
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
        else:
            return node
    return node


def line_at(root: yaml.Node, path: Sequence[str | int], *, key: bool = False) -> int:
    return int(node_at(root, path, key=key).start_mark.line) + 1
