"""URLs from provenance, normalised before a policy pattern sees them (pure).

A pattern such as `https://gitlab.com/acme/**` is a statement about where code came from.
A glob over the raw text would accept `https://gitlab.com/acme/app/../../evil/app` (which
`git clone` fetches from `/evil/app`), `https://gitlab.com/acme/%2e%2e/evil/app`, or
`https://gitlab.com@evil.example/acme/app` (host `evil.example`). So every URL a rule
matches (source repositories, builder ids, task references) is first brought to one
spelling, and a URL that has no safe spelling is refused with the reason:

- the scheme and host are lower-cased, a trailing dot on the host is dropped, and the
  scheme's default port is dropped (https 443, http 80, ssh 22, git 9418, oci 443);
  `git+https` is `https` (the `git+` prefix names the tool, not the location);
- `oci://` hosts are registry names, canonicalised as image references are
  (`slsacheck.models.reference.canonical_registry`: loopback aliases, Docker Hub);
- userinfo is refused (`user@host`, `user:password@host`), except the conventional
  `git@` of `ssh://` URLs, which carries no secret and is kept as written;
- `.` and `..` path segments, empty segments (`a//b`) and percent-encoded dots, slashes
  and backslashes (`%2e`, `%2f`, `%5c`) are refused: servers resolve them, so they can
  move a path out of the part a pattern allows; percent-encoded unreserved letters,
  digits, `-`, `_` and `~` are decoded (`%61` is `a`);
- backslashes, whitespace and control characters are refused anywhere;
- for source repositories the query, the fragment, a trailing `/` and a trailing `.git`
  are dropped (they name the same repository).

Patterns are normalised the same way (with their `*` kept), so a pattern and a URL are
compared like with like.
"""

from __future__ import annotations

import re

from slsacheck.models.reference import canonical_registry

DEFAULT_PORTS = {"https": "443", "http": "80", "ssh": "22", "git": "9418", "oci": "443"}

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_HOST = re.compile(r"[a-z0-9*?]([a-z0-9*?_-]*[a-z0-9*?])?(\.[a-z0-9*?]([a-z0-9*?_-]*[a-z0-9*?])?)*")
_IPV6 = re.compile(r"\[[0-9a-f:.]+\]")
_FORBIDDEN = re.compile(r"[\\\s\x00-\x1f\x7f]")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})?")
_UNRESERVED = re.compile(r"[A-Za-z0-9_~-]")
_ENCODED_SEPARATORS = {"2e": "dot", "2f": "slash", "5c": "backslash"}


class UnsafeURL(ValueError):
    """A URL with no safe normal form; the message says what is wrong with it."""


def _decode_path(path: str) -> str:
    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code is None:
            raise UnsafeURL("a '%' that starts no percent-encoding")
        if code.lower() in _ENCODED_SEPARATORS:
            raise UnsafeURL(f"a percent-encoded {_ENCODED_SEPARATORS[code.lower()]} (%{code}) in the path")
        char = chr(int(code, 16))
        return char if _UNRESERVED.fullmatch(char) else f"%{code.upper()}"

    return _PERCENT.sub(one, path)


def _check_segments(path: str) -> None:
    segments = path.split("/")[1:]
    for i, segment in enumerate(segments):
        if segment in (".", ".."):
            raise UnsafeURL(f"a {segment!r} path segment")
        if not segment and i != len(segments) - 1:
            raise UnsafeURL("an empty path segment ('//')")


def _authority(scheme: str, authority: str, *, pattern: bool) -> str:
    userinfo, at, hostport = authority.rpartition("@")
    if at:
        if not (scheme == "ssh" and userinfo == "git"):
            raise UnsafeURL("user information before the host ('user@host')")
        userinfo = "git@"
    if "%" in hostport:
        raise UnsafeURL("a percent-encoded host")
    host, port = hostport, ""
    if hostport.startswith("["):
        end = hostport.find("]")
        host, rest = hostport[: end + 1], hostport[end + 1 :]
        if end < 0 or (rest and not rest.startswith(":")):
            raise UnsafeURL("a malformed IPv6 host")
        port = rest[1:]
    elif ":" in hostport:
        host, _, port = hostport.rpartition(":")
    host = host.lower()
    if host.endswith(".") and not pattern:
        host = host[:-1]
    if not host:
        raise UnsafeURL("no host")
    if not pattern and ("*" in host or "?" in host):
        raise UnsafeURL(f"a wildcard in the host ({host!r})")
    if not (_HOST.fullmatch(host) or _IPV6.fullmatch(host)):
        raise UnsafeURL(f"a host that is not a DNS name or IP address ({host!r})")
    if port and not port.isdigit():
        raise UnsafeURL(f"a port that is not a number ({port!r})")
    if port and port == DEFAULT_PORTS.get(scheme):
        port = ""
    hostport = f"{host}:{port}" if port else host
    if scheme == "oci":
        hostport = canonical_registry(hostport)
    return userinfo + hostport


def normalise_url(text: str, *, repository: bool = False, pattern: bool = False) -> str:
    """The one spelling of `text` (see the module docstring); raise UnsafeURL if it has none.

    `repository`: drop the query, fragment, trailing `/` and `.git`. `pattern`: `text` is a
    policy pattern (its `*` and `?` are kept; it is trusted, so only spelled, not judged).
    """
    if _FORBIDDEN.search(text):
        raise UnsafeURL("a backslash, space or control character")
    rest = text.removeprefix("git+")
    scheme, sep, tail = rest.partition("://")
    if not sep or not _SCHEME.fullmatch(scheme):
        raise UnsafeURL("not a URL (expected SCHEME://HOST/PATH)")
    scheme = scheme.lower()
    authority, slash, path = tail.partition("/")
    for mark in ("?", "#"):
        authority, found, _after = authority.partition(mark)
        if found:  # a query right after the host: no path
            path, slash = "", ""
    path = slash + path
    if repository:
        path = path.split("?", 1)[0].split("#", 1)[0]
    out_authority = _authority(scheme, authority, pattern=pattern)
    if not pattern:
        path = _decode_path(path)
        _check_segments(path.split("?", 1)[0].split("#", 1)[0])
    if repository:
        path = path.rstrip("/").removesuffix(".git")
    return f"{scheme}://{out_authority}{path}"


def without_scheme(url: str) -> str:
    """`https://host/path` -> `host/path` (what a pattern that names no scheme matches)."""
    _scheme, sep, tail = url.partition("://")
    return tail if sep else url


def normalise_pattern(pattern: str, *, repository: bool = False) -> str:
    """A URL pattern in the spelling its URLs are normalised to (a pattern without a
    scheme matches URLs of any scheme, so only its host is lower-cased)."""
    if "://" not in pattern.removeprefix("git+"):
        host, slash, path = pattern.partition("/")
        out = host.lower() + slash + path
        return out.rstrip("/").removesuffix(".git") if repository else out
    try:
        return normalise_url(pattern, repository=repository, pattern=True)
    except UnsafeURL:
        # A pattern outside URL syntax stays as written: it can only match less.
        return pattern.removeprefix("git+").rstrip("/").removesuffix(".git") if repository else pattern
