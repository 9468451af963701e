"""The one YAML loader for every YAML (and JSON-as-YAML) document slsacheck reads.

Policies, Tekton run objects and statements given as files all come through here, so one
set of bounds holds for all of them. A YAML file is small text that can describe a huge
value: anchors and aliases (`&a [*b, *b, *b]`, nested eight times) make a 675-byte file
stand for billions of nodes, and every walk over the constructed value (duplicate-key
checks, schema validation, canonical JSON) pays for each of them. So, before anything is
constructed:

- the text is at most the caller's `max_bytes`;
- nesting is at most `MAX_DEPTH` levels (deeper is refused while composing, before
  PyYAML's recursive composer could exhaust the stack);
- at most `MAX_ALIASES` aliases, and aliases may expand the document by at most
  `MAX_ALIAS_EXPANSION` nodes (counted over the node graph with memoisation, so the count
  itself is linear in the text).

Types are JSON's: timestamps stay the text they were (the schema, not YAML's resolver,
decides what a date is, and run objects are copied into provenance as written).

`json_nesting` gives the depth of a JSON text in one linear scan, for readers that parse
JSON with `json` first and must not hand it a 100,000-level array.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

MAX_DEPTH = 100
MAX_ALIASES = 1000
MAX_ALIAS_EXPANSION = 100_000

_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


class TooComplex(yaml.MarkedYAMLError):
    """A document outside the bounds above; `problem` says which bound, in words."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_depth: int = MAX_DEPTH
    max_aliases: int = MAX_ALIASES
    max_alias_expansion: int = MAX_ALIAS_EXPANSION


class Loader(yaml.SafeLoader):
    """PyYAML's safe loader with the bounds of this module and JSON's types only."""

    limits = Limits(max_bytes=64 << 20)

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def _mark(self) -> Any:
        return self.peek_event().start_mark  # type: ignore[no-untyped-call]

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > self.limits.max_aliases:
                raise TooComplex(
                    problem=f"more than {self.limits.max_aliases} aliases (*name)",
                    problem_mark=self._mark(),
                )
        self._depth += 1
        try:
            if self._depth > self.limits.max_depth:
                raise TooComplex(
                    problem=f"nested deeper than {self.limits.max_depth} levels",
                    problem_mark=self._mark(),
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _timestamp_as_text(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    return loader.construct_scalar(node)  # type: ignore[arg-type]


Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def _check_expansion(root: yaml.Node, limits: Limits) -> None:
    """Refuse a node graph whose aliases stand for more nodes than the bound allows."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        sizes[key] = 1  # a cycle (not constructible by SafeLoader anyway) counts once
        total = 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += size(k) + size(v)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += size(item)
        sizes[key] = total
        return total

    expanded = size(root)
    if expanded - len(sizes) > limits.max_alias_expansion:
        raise TooComplex(
            problem=f"aliases expand the document to {expanded} nodes from {len(sizes)} written "
            f"(at most {limits.max_alias_expansion} more nodes through aliases)",
            problem_mark=root.start_mark,
        )


def check_size(text: str, limits: Limits) -> None:
    if len(text) > limits.max_bytes:
        raise TooComplex(problem=f"the document is {len(text)} characters, more than {limits.max_bytes}")


def parse_all(text: str, limits: Limits) -> list[tuple[yaml.Node, Any]]:
    """Each non-empty document of `text` as (node, value), within `limits`; raises yaml.YAMLError.

    Nothing is constructed until the whole stream has been composed and measured.
    """
    check_size(text, limits)
    loader = _loader(text, limits)
    try:
        nodes: list[yaml.Node] = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                _check_expansion(node, limits)
                nodes.append(node)
        out = []
        for node in nodes:
            value = loader.construct_document(node)
            if value is not None:
                out.append((node, value))
        return out
    finally:
        loader.dispose()


def load_all(text: str, limits: Limits) -> list[Any]:
    """Every non-empty document of `text`, within `limits`; raises yaml.YAMLError."""
    return [value for _node, value in parse_all(text, limits)]


def _loader(text: str, limits: Limits) -> Loader:
    loader = Loader(text)
    loader.limits = limits
    return loader


def describe_error(exc: yaml.YAMLError) -> tuple[int | None, str]:
    """(1-based line or None, one line) for any error of this module or PyYAML."""
    line = None
    problem: str = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or problem
    if isinstance(exc, TooComplex):
        return line, f"refused: {problem}"
    return line, f"not valid YAML: {problem}"


def json_nesting(text: str) -> int:
    """The deepest nesting of arrays and objects in a JSON text (strings skipped), linear."""
    depth = deepest = 0
    for match in _JSON_TOKEN.finditer(text):
        char = match.group()
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest
