"""Glob patterns for image names, repository URIs and task references (no I/O).

One small grammar, used everywhere a policy names things by pattern:

- `**` matches any run of characters, `/` included (so `acme/**` covers every
  repository below `acme/`);
- `*` matches any run of characters except `/` (one path segment at most);
- `?` matches one character except `/`;
- everything else is literal. `[`, `]`, `{`, `}`, whitespace and `***` are refused:
  they look like features (classes, alternation) this grammar does not have, and a
  pattern that silently means something else than its author thinks is a hole in a gate.

Patterns are compiled once (at policy load) into anchored regular expressions. Image
patterns are normalised like image names (`docker.io/x` is `index.docker.io/x`) and are
matched against `ImageRef.name` (`registry/repository`, no tag, no digest).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from slsacheck.errors import InvalidReference
from slsacheck.models.reference import DOCKER_HUB, LAYOUT_PREFIX, ImageRef

_FORBIDDEN = re.compile(r"[\[\]{}\s]")
_HUB_PREFIXES = ("docker.io/", "registry-1.docker.io/")


class GlobError(ValueError):
    """A pattern outside the grammar; the message says which part and why."""


@dataclass(frozen=True)
class Glob:
    pattern: str
    regex: re.Pattern[str] = field(compare=False, repr=False)

    def match(self, text: str) -> bool:
        return self.regex.fullmatch(text) is not None


def compile_glob(pattern: str) -> Glob:
    """Compile `pattern`; raise GlobError for anything outside the grammar."""
    if not isinstance(pattern, str) or not pattern:
        raise GlobError("a pattern must be a non-empty string")
    bad = _FORBIDDEN.search(pattern)
    if bad:
        raise GlobError(
            f"character {bad.group()!r} at offset {bad.start()} is not part of the pattern grammar "
            "(only '*', '**' and '?' are special; classes and alternation are not supported)"
        )
    if "***" in pattern:
        raise GlobError("'***' is ambiguous: write '**' (any characters, '/' included) or '*' (within a segment)")
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            parts.append(".*")
            i += 2
        elif pattern[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            parts.append("[^/]")
            i += 1
        else:
            parts.append(re.escape(pattern[i]))
            i += 1
    return Glob(pattern, re.compile("".join(parts), re.DOTALL))


def normalise_image_pattern(pattern: str) -> str:
    """Spell an image pattern the way `ImageRef.name` spells names, or raise GlobError.

    The registry must be named (`registry.example.com/team/**`, `index.docker.io/library/*`),
    except for the catch-all `**`: a bare `alpine` would be read differently by people
    (Docker Hub?) and by machines.
    """
    if pattern == "**" or pattern.startswith(LAYOUT_PREFIX):
        return pattern
    for prefix in _HUB_PREFIXES:
        if pattern.startswith(prefix):
            return DOCKER_HUB + "/" + pattern[len(prefix) :]
    first, sep, _rest = pattern.partition("/")
    if not sep or not ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        raise GlobError(
            "an image pattern starts with the registry host (e.g. registry.example.com/team/**, "
            "index.docker.io/library/*)"
        )
    if "*" in first or "?" in first:
        raise GlobError("the registry host of an image pattern must be literal")
    if any(c.isupper() for c in pattern[len(first) :]):
        raise GlobError("repository names are lower case; an upper-case pattern never matches")
    return pattern


def compile_image_glob(pattern: str) -> Glob:
    return compile_glob(normalise_image_pattern(pattern))


def image_name(image: str) -> str:
    """The name patterns are matched against: `registry/repository` (or `oci:DIR`)."""
    try:
        return ImageRef.parse(image).name
    except InvalidReference:
        # Not a reference we can parse: match it as written (no pattern will be fooled
        # into matching more, since the text is compared literally).
        return image
