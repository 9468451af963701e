"""Image references, parsed and printed as Docker and cosign do.

Grammar (distribution's reference grammar, with the normalisation cosign applies):

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ domain "/" ] path
    domain     := host [ ":" port ]            host: DNS name, IPv4, or "[" IPv6 "]"
    path       := component ( "/" component )*
    component  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
    tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}

The first path element is a domain only when it contains "." or ":", is "localhost",
or is an IPv6 literal in brackets; otherwise the registry is Docker Hub, printed
`index.docker.io`, and a single-component name gets `library/`. `docker.io` is the
same registry and is printed `index.docker.io` too.

Canonical registry names (`canonical_registry`, `ImageRef.canonical_name`) are what
policies are chosen by: one registry has one name, however a reference spells it. The
host is lower-cased; the default ports 443 and 80 are dropped (a bare host is reached on
them); `docker.io`, `registry-1.docker.io` are `index.docker.io`; an IPv4 address in any
form a resolver accepts (`127.1`, `0x7f.0.0.1`, `2130706433`) is its dotted quad, an IPv6
address its compressed form; and every loopback spelling (`localhost`, `*.localhost`,
`127.0.0.0/8`, `0.0.0.0`, `[::1]`, `[::]`, `[::ffff:127.0.0.1]`) is `localhost`, with its
port. A reference keeps the spelling it was written with for connecting (`registry`):
`localhost` may resolve to `::1` where a registry listens on `127.0.0.1` only.

Layout references name an image in an OCI image layout directory:
`oci:DIR`, `oci:DIR:TAG`, `oci:DIR@sha256:<hex>`. DIR cannot contain ":".
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass, field, replace

from slsacheck.errors import InvalidReference
from slsacheck.models.digest import Digest, InvalidDigest

DOCKER_HUB = "index.docker.io"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
DEFAULT_TAG = "latest"
LAYOUT_PREFIX = "oci:"

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DOMAIN_LABEL = re.compile(r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])")
_IPV6 = re.compile(r"\[[0-9A-Fa-f:.%a-zA-Z]+\]")
_PORT = re.compile(r"[0-9]{1,5}")
_MAX_NAME = 255
LOOPBACK = "localhost"
_DEFAULT_PORTS = frozenset({"443", "80"})
_NUMERIC_LABEL = re.compile(r"0[xX][0-9A-Fa-f]+|[0-9]+")


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a resolver would read `host` as (inet_aton's forms for IPv4), else None."""
    if host.startswith("[") and host.endswith("]"):
        try:
            return ipaddress.IPv6Address(host[1:-1].split("%", 1)[0])
        except ValueError:
            return None
    labels = host.split(".")
    if not 1 <= len(labels) <= 4 or not all(_NUMERIC_LABEL.fullmatch(label) for label in labels):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _is_loopback(host: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
    if host == LOOPBACK or host.endswith("." + LOOPBACK):
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip is not None and (ip.is_loopback or ip.is_unspecified)


def canonical_registry(registry: str) -> str:
    """The one name of a registry host[:port] (see the module docstring); no I/O."""
    text = registry.lower()
    host, port = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end > 0 and text[end + 1 : end + 2] == ":":
            host, port = text[: end + 1], text[end + 2 :]
    elif ":" in text:
        host, _, port = text.rpartition(":")
    host = host.removesuffix(".") or host
    if port in _DEFAULT_PORTS:
        port = ""
    ip = _ip(host)
    if _is_loopback(host, ip):
        host = LOOPBACK
    elif isinstance(ip, ipaddress.IPv4Address):
        host = str(ip)
    elif isinstance(ip, ipaddress.IPv6Address):
        host = f"[{ip.compressed}]"
    elif host in _HUB_ALIASES:
        host = DOCKER_HUB
    return f"{host}:{port}" if port else host


def _bad(text: str, part: str, expected: str, found: str) -> InvalidReference:
    return InvalidReference(
        f"invalid image reference {text!r}: bad {part}",
        expected=expected,
        found=found,
        hint="write REGISTRY/REPOSITORY[:TAG][@sha256:<64 hex>], e.g. "
        "registry.example.com/team/app@sha256:..., or oci:DIR[:TAG] for a layout directory",
    )


def _looks_like_domain(first: str) -> bool:
    return "." in first or ":" in first or first == "localhost" or first.startswith("[")


def _check_domain(text: str, domain: str) -> str:
    host, port = domain, None
    if domain.startswith("["):
        end = domain.find("]")
        if end < 0 or not _IPV6.fullmatch(domain[: end + 1]):
            raise _bad(text, "IPv6 host", "[IPv6 address]", domain)
        host, rest = domain[: end + 1], domain[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise _bad(text, "registry", "[IPv6]:PORT", domain)
            port = rest[1:]
    elif ":" in domain:
        host, port = domain.rsplit(":", 1)
        if not all(_DOMAIN_LABEL.fullmatch(label) for label in host.split(".")):
            raise _bad(text, "registry host", "a DNS name or IP address", host)
    elif not all(_DOMAIN_LABEL.fullmatch(label) for label in domain.split(".")):
        raise _bad(text, "registry host", "a DNS name or IP address", domain)
    if port is not None and (not _PORT.fullmatch(port) or not 0 < int(port) < 65536):
        raise _bad(text, "registry port", "a port number 1-65535", port)
    if host.lower() in _HUB_ALIASES and port is None:
        return DOCKER_HUB
    return domain


def _parse_digest(text: str, digest_text: str) -> Digest:
    try:
        return Digest.parse(digest_text)
    except InvalidDigest as exc:
        raise _bad(text, "digest", "sha256:<64 hex> or sha512:<128 hex>", digest_text[:140]) from exc


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference: in a registry, or in an OCI layout directory (`layout`).

    `text` is what the user wrote (`parse` keeps it): surfaces print it next to the
    canonical name. It is no part of the reference's identity (equality, hash), so two
    spellings of one image are one key; pinning keeps it (the user still named this image),
    naming another tag drops it.
    """

    registry: str
    repository: str
    tag: str | None = None
    digest: Digest | None = None
    layout: str | None = None
    text: str | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        if not isinstance(text, str) or not text or text != text.strip():
            raise _bad(str(text), "reference", "a non-empty reference without spaces", repr(text))
        if text.startswith(LAYOUT_PREFIX):
            return cls._parse_layout(text)
        rest, digest = text, None
        if "@" in rest:
            rest, _, digest_text = rest.partition("@")
            if "@" in digest_text:
                raise _bad(text, "digest", "at most one '@'", digest_text)
            digest = _parse_digest(text, digest_text)
        tag = None
        slash = rest.rfind("/")
        colon = rest.rfind(":")
        if colon > slash:
            rest, tag = rest[:colon], rest[colon + 1 :]
            if not _TAG.fullmatch(tag):
                raise _bad(text, "tag", "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag)
        if not rest:
            raise _bad(text, "name", "a repository name", "nothing")
        first, sep, remainder = rest.partition("/")
        if sep and _looks_like_domain(first):
            registry = _check_domain(text, first)
            path = remainder
        else:
            registry, path = DOCKER_HUB, rest
        if not path:
            raise _bad(text, "repository", "a repository path after the registry", "nothing")
        for component in path.split("/"):
            if not _COMPONENT.fullmatch(component):
                raise _bad(
                    text,
                    "repository component",
                    "lower-case letters and digits, separated by '.', '_', '__' or '-'",
                    repr(component),
                )
        if registry == DOCKER_HUB and "/" not in path:
            path = f"library/{path}"
        if len(f"{registry}/{path}") > _MAX_NAME:
            raise _bad(text, "name", f"at most {_MAX_NAME} characters", str(len(rest)))
        return cls(registry, path, tag, digest, text=text)

    @classmethod
    def _parse_layout(cls, text: str) -> ImageRef:
        rest = text[len(LAYOUT_PREFIX) :]
        digest = tag = None
        if "@" in rest:
            rest, _, digest_text = rest.rpartition("@")
            digest = _parse_digest(text, digest_text)
        elif ":" in rest:
            rest, _, tag = rest.partition(":")
            if not tag:
                raise _bad(text, "layout tag", "oci:DIR:TAG with a non-empty TAG", "an empty tag")
        if not rest:
            raise _bad(text, "layout directory", "oci:DIR", "an empty directory")
        return cls("", "", tag, digest, layout=rest, text=text)

    # -- derived forms ----------------------------------------------------------------

    @property
    def is_layout(self) -> bool:
        return self.layout is not None

    @property
    def name(self) -> str:
        """The repository with its registry (`index.docker.io/library/alpine`), or the layout."""
        if self.layout is not None:
            return f"{LAYOUT_PREFIX}{self.layout}"
        return f"{self.registry}/{self.repository}"

    @property
    def canonical_name(self) -> str:
        """`name` with the registry's canonical name: what policies are chosen by."""
        if self.layout is not None:
            return self.name
        registry = canonical_registry(self.registry)
        if registry == DOCKER_HUB and "/" not in self.repository:  # `docker.io:443/alpine`
            return f"{registry}/library/{self.repository}"
        return f"{registry}/{self.repository}"

    @property
    def identifier(self) -> str:
        """What to ask the store for: the digest if pinned, else the tag (default `latest`)."""
        if self.digest is not None:
            return str(self.digest)
        return self.tag or DEFAULT_TAG

    @property
    def display(self) -> str:
        """What the user wrote, else the printed reference: how surfaces name the image."""
        return self.text if self.text is not None else str(self)

    def written_as(self, text: str) -> ImageRef:
        """This reference, shown as `text` (a name the caller built, e.g. a copy pinned by digest)."""
        return replace(self, text=text)

    def with_digest(self, digest: Digest, *, keep_tag: bool = False) -> ImageRef:
        return replace(self, digest=digest, tag=self.tag if keep_tag else None)

    def with_tag(self, tag: str) -> ImageRef:
        if not _TAG.fullmatch(tag):
            raise _bad(tag, "tag", "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag)
        return replace(self, tag=tag, digest=None, text=None)

    def __str__(self) -> str:
        out = self.name
        if self.tag is not None:
            out += f":{self.tag}"
        if self.digest is not None:
            out += f"@{self.digest}"
        if self.tag is None and self.digest is None and self.layout is None:
            out += f":{DEFAULT_TAG}"
        return out
