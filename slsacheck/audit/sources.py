"""Where an audit's images come from: references, lists, repositories, registries, layouts.

Every source is a lazy iterator of `Target`s, so that a registry of 10,000 tags is listed
page by page while the first images are already being verified. A source that cannot be
listed (a repository answering 500, a registry without `_catalog`) yields a `Target` with
`error` set: the audit reports it as that entry's outcome and goes on.

Tags that hold evidence rather than images are skipped when listing: cosign's
`sha256-<hex>.sig`/`.att`/`.sbom` and the referrers fallback index `sha256-<hex>`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from slsacheck._json import parse
from slsacheck._reason import one_line
from slsacheck.errors import Error, InputError, RegistryError
from slsacheck.models.reference import ImageRef
from slsacheck.oci._io import read_capped
from slsacheck.oci.layout import LayoutStore
from slsacheck.oci.registry import RegistryStore

if TYPE_CHECKING:
    from slsacheck.oci._http import RegistryClient

ClientFor = Callable[[str], "RegistryClient"]

# cosign's evidence tags and the OCI referrers tag schema: never images to audit.
_EVIDENCE_TAG = re.compile(r"sha256-[0-9a-f]{64}(\.[a-z]+)?|sha512-[0-9a-f]{128}(\.[a-z]+)?")
_MAX_PAGES = 10_000
_MAX_LISTING = 16 * 1024 * 1024


@dataclass(frozen=True)
class Deployed:
    """Where an image from a Kubernetes inventory runs (`slsacheck.audit.kube`)."""

    running: bool  # some container runs this digest (else: only named in specs)
    workloads: tuple[dict[str, Any], ...]  # cluster, namespace, kind, name, container, running[, note]
    tags: tuple[str, ...] = ()  # tags the running containers were started from

    def to_json(self) -> dict[str, Any]:
        return {"running": self.running, "workloads": list(self.workloads)}


@dataclass(frozen=True)
class Target:
    """One image to audit (`ref` parsed from `text`), or a source that failed (`error`)."""

    text: str
    ref: ImageRef | None
    error: str | None = None
    deployed: Deployed | None = None


def is_evidence_tag(tag: str) -> bool:
    return _EVIDENCE_TAG.fullmatch(tag) is not None


def parse_target(text: str) -> Target:
    try:
        return Target(text, ImageRef.parse(text))
    except InputError as exc:
        return Target(text, None, f"not an image reference: {one_line(exc)}")


def from_lines(stream: IO[str], where: str) -> Iterator[Target]:
    """One reference per line; blank lines and `#` comments (whole-line or trailing) skipped."""
    for number, line in enumerate(stream, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        target = parse_target(text)
        if target.error is not None:
            target = Target(text, None, f"{where}:{number}: {target.error}")
        yield target


def _layout_targets(text: str, ref: ImageRef) -> Iterator[Target]:
    """`oci:DIR` without tag or digest: every tagged image in the layout (else its default)."""

    assert ref.layout is not None
    try:
        store = LayoutStore(ref.layout)
        tags = [t for t in store.tags() if not is_evidence_tag(t)]
        if not tags:
            tags = [store.default_reference()]
    except Error as exc:
        yield Target(text, None, f"reading layout {ref.layout}: {one_line(exc)}")
        return
    for tag in tags:
        if ":" in tag:
            yield Target(f"{text}@{tag}", ImageRef.parse(f"{text}@{tag}"))
        else:
            yield Target(f"{text}:{tag}", ref.with_tag(tag))


def explicit(texts: Iterable[str]) -> Iterator[Target]:
    for text in texts:
        target = parse_target(text)
        ref = target.ref
        if ref is not None and ref.is_layout and ref.tag is None and ref.digest is None:
            yield from _layout_targets(text, ref)
        else:
            yield target


def repository_tags(repository: str, client_for: ClientFor) -> Iterator[Target]:
    """Every image tag of `REG/REPO` (all pages), as `REG/REPO:TAG`."""

    try:
        ref = ImageRef.parse(repository)
    except InputError as exc:
        yield Target(repository, None, f"--repository {repository}: {one_line(exc)}")
        return
    if ref.tag is not None or ref.digest is not None or ref.is_layout:
        yield Target(repository, None, f"--repository {repository}: name a repository, without tag or digest")
        return
    store = RegistryStore(client_for(ref.registry), ref.repository)
    try:
        for tag in store.tags():
            if not is_evidence_tag(tag):
                yield Target(f"{ref.name}:{tag}", ref.with_tag(tag))
    except Error as exc:
        yield Target(ref.name, None, f"listing the tags of {ref.name}: {one_line(exc)}")


def catalog(registry: str, client_for: ClientFor, page_size: int = 1000) -> Iterator[str]:
    """Every repository `registry` lists in `/v2/_catalog` (all pages, `Link: rel=next`)."""

    client = client_for(registry)
    path: str | None = f"/v2/_catalog?n={page_size}"
    for _ in range(_MAX_PAGES):
        if path is None:
            return
        # The token scope for listings is `registry:catalog:*`; the repository scope the
        # client always adds names no repository and grants nothing.
        response = client.request("GET", path, repository="", scopes=("registry:catalog:*",), stream=True,
                                  headers={"Accept": "application/json"}, what="list repositories (_catalog)")
        body = read_capped(response, _MAX_LISTING, f"the catalog of {registry}", _broken(registry))
        try:
            repositories = parse(body).get("repositories") or []
        except (ValueError, AttributeError):
            repositories = None
        if not isinstance(repositories, list) or not all(isinstance(r, str) for r in repositories):
            raise RegistryError(f"{registry}: the registry sent a malformed _catalog answer", registry=registry,
                                expected='{"repositories": [names]}', found=body[:200].decode("utf-8", "replace"),
                                hint="the registry is misbehaving; list repositories with --repository instead")
        yield from repositories
        path = response.links.get("next", {}).get("url")
    raise RegistryError(f"{registry}: the _catalog answer has more than {_MAX_PAGES} pages", registry=registry)


def _broken(registry: str) -> Any:
    def make(what: str, seen: int, cause: BaseException) -> RegistryError:
        return RegistryError(f"{registry}: the connection broke off while reading {what} after {seen} bytes",
                             registry=registry, found=f"{type(cause).__name__}: {cause}",
                             hint="the registry or a proxy in between cut the transfer; try again")

    return make


def registry_repositories(registry: str, client_for: ClientFor) -> Iterator[Target]:
    """Every image tag of every repository of `registry` (through `_catalog`)."""
    registry = registry.strip().rstrip("/")
    try:
        names = catalog(registry, client_for)
        for name in names:
            yield from repository_tags(f"{registry}/{name}", client_for)
    except Error as exc:
        yield Target(registry, None, f"listing the repositories of {registry}: {one_line(exc)}")
