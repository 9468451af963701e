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
patterns are matched against `canonical_image_name` (`registry/repository`, no tag, no
digest, the registry's canonical name: lower case, no default port, `docker.io` is
`index.docker.io`, loopback spellings are `localhost`, declared aliases are their
registry), and their registry host is spelled the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from slsacheck.errors import InvalidReference
from slsacheck.models.reference import DOCKER_HUB, LAYOUT_PREFIX, ImageRef, canonical_registry

_FORBIDDEN = re.compile(r"[\[\]{}\s]")
_HUB_PREFIXES = ("docker.io/", "registry-1.docker.io/")
# canonical alias host -> canonical registry host (the policy set's `spec.registryAliases`)
RegistryAliases = Mapping[str, str]
NO_ALIASES: RegistryAliases = MappingProxyType({})


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


def canonical_host(registry: str, aliases: RegistryAliases = NO_ALIASES) -> str:
    """The canonical name of a registry host[:port], then its declared alias target."""
    host = canonical_registry(registry)
    return aliases.get(host, host)


def normalise_image_pattern(pattern: str, aliases: RegistryAliases = NO_ALIASES) -> str:
    """Spell an image pattern the way `canonical_image_name` spells names, or raise GlobError.

    The registry must be named (`registry.example.com/team/**`, `index.docker.io/library/*`),
    except for the catch-all `**`: a bare `alpine` would be read differently by people
    (Docker Hub?) and by machines. Its host is canonicalised as image names are.
    """
    if pattern == "**" or pattern.startswith(LAYOUT_PREFIX):
        return pattern
    first, sep, rest = pattern.partition("/")
    if not sep or not ("." in first or ":" in first or first.lower() == "localhost" or first.startswith("[")):
        raise GlobError(
            "an image pattern starts with the registry host (e.g. registry.example.com/team/**, "
            "index.docker.io/library/*)"
        )
    if "*" in first or "?" in first:
        raise GlobError("the registry host of an image pattern must be literal")
    if any(c.isupper() for c in rest):
        raise GlobError("repository names are lower case; an upper-case pattern never matches")
    return f"{canonical_host(first, aliases)}/{rest}"


def compile_image_glob(pattern: str, aliases: RegistryAliases = NO_ALIASES) -> Glob:
    """Matches canonical names; keeps the pattern's host as written, but for Docker Hub's
    other names (people read it, and the webhook's readiness probe dials that host:
    `localhost` may not reach a registry listening on `127.0.0.1`)."""
    shown = pattern
    for prefix in _HUB_PREFIXES:
        if pattern.startswith(prefix):
            shown = DOCKER_HUB + "/" + pattern[len(prefix) :]
    return Glob(shown, compile_glob(normalise_image_pattern(pattern, aliases)).regex)


def canonical_image_name(image: str | ImageRef, aliases: RegistryAliases = NO_ALIASES) -> str:
    """THE name policies are chosen by (and exceptions cover): `registry/repository` with the
    registry's canonical name (`slsacheck.models.reference.canonical_registry`) mapped through
    the policy set's declared aliases; `oci:DIR` for a layout. Every surface (verify, the
    admission webhook, audit, promote) chooses policies through this one function."""
    if isinstance(image, str):
        try:
            ref = ImageRef.parse(image)
        except InvalidReference:
            # Not a reference we can parse: match it as written (no pattern will be fooled
            # into matching more, since the text is compared literally).
            return image
    else:
        ref = image
    if ref.is_layout:
        return ref.name
    host, _, repository = ref.canonical_name.partition("/")
    return f"{aliases.get(host, host)}/{repository}"


def image_name(image: str) -> str:
    """The canonical name of `image` with no aliases declared (for messages)."""
    return canonical_image_name(image)
