"""The one interface to where images live: a repository in a registry, or a layout dir.

A `Store` is scoped to one repository (`registry/repo`, or one OCI image layout
directory). Every implementation keeps the same promises:

- every manifest and blob it returns has been checked against the digest asked for
  (`DigestMismatch` otherwise) and is within its size cap (`TooLarge` otherwise);
- a manifest is always handled as its exact bytes, so digests survive a copy;
- writes are ordered so that nothing points at content that is not there yet: blobs
  before the manifests naming them, children before their index, the tag last.

What only some stores can do is declared, not probed: each optional capability is a small
runtime-checkable protocol below (`BlobMounting`, `ReferrerPushing`, `WriterLocked`,
`SavedLayout`), and the functions next to them are the one place that asks a store whether
it has one. A new kind of store implements `Store` and whichever of these it offers; code
outside `oci` calls the functions and never tests a store's class.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import BinaryIO, Protocol, runtime_checkable

from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Descriptor, Manifest
from slsacheck.models.digest import Digest


@runtime_checkable
class Store(Protocol):
    """One repository's manifests, blobs, tags and referrers."""

    @property
    def location(self) -> str:
        """Where this store points, for messages: `registry/repo` or `oci:DIR`."""
        ...

    @property
    def registry(self) -> str | None:
        """The registry host this store reads and writes (`host[:port]`), None for a layout."""
        ...

    @property
    def repository(self) -> str | None:
        """The repository on `registry` this store is scoped to, None for a layout."""
        ...

    def resolve(self, reference: str) -> Descriptor:
        """Tag or `sha256:` digest -> the manifest's descriptor (media type, digest, size)."""
        ...

    def fetch_manifest(self, reference: str, *, max_size: int = mt.MAX_MANIFEST_SIZE) -> Manifest:
        """Get a manifest or index by tag or digest, checked against its digest."""
        ...

    def push_manifest(self, manifest: bytes, media_type: str, *, tag: str | None = None) -> Descriptor:
        """Store exact manifest bytes, by digest, and under `tag` when given."""
        ...

    def blob_exists(self, digest: Digest) -> bool: ...

    def fetch_blob(self, descriptor: Descriptor, *, max_size: int = mt.MAX_EVIDENCE_SIZE) -> bytes:
        """Read a whole blob into memory, checked against its digest and size."""
        ...

    def open_blob(self, descriptor: Descriptor) -> AbstractContextManager[BinaryIO]:
        """Stream a blob of any size. The digest is checked as the stream is read;
        reading to the end raises `DigestMismatch` if the bytes were wrong."""
        ...

    def push_blob(self, descriptor: Descriptor, data: bytes | BinaryIO, *, fresh: bool = False) -> None:
        """Store a blob whose digest and size are known in advance. No-op if present.
        `fresh`: the caller built these bytes just now (a new signature's layer, a merged
        config), so the store almost certainly lacks them; a registry then uploads without
        asking first, since storing a blob again is idempotent and the question costs a
        round trip every time to save an upload that is almost never saved."""
        ...

    def tags(self) -> Iterator[str]:
        """Every tag of the repository (all pages)."""
        ...

    def referrers(self, subject: Digest, *, artifact_type: str | None = None) -> list[Descriptor]:
        """Manifests whose `subject` is `subject`: the referrers API, or the
        `sha256-<hex>` tag-schema index where the store has no such API."""
        ...


@runtime_checkable
class BlobMounting(Protocol):
    """Links a blob from another repository of the same registry instead of uploading it."""

    def mount_blob(self, descriptor: Descriptor, from_repository: str) -> bool:
        """True when the blob is now in this repository; False when the registry declined."""
        ...


@runtime_checkable
class ReferrerPushing(Protocol):
    """Pushes a manifest with a `subject` and keeps it findable as a referrer of it
    (the registry's own index, or the `sha256-<hex>` fallback index maintained here)."""

    def push_referrer(self, manifest: bytes, media_type: str, *, tag: str | None = None) -> Descriptor: ...


@runtime_checkable
class WriterLocked(Protocol):
    """Has a writer lock that makes read-modify-write of a tag exact across processes."""

    def writer_lock(self) -> AbstractContextManager[None]: ...


@runtime_checkable
class SavedLayout(Protocol):
    """An OCI layout directory: its index entries as listed (with the `kind` annotations
    `cosign save` writes) and what the bare `oci:DIR` names."""

    def entries(self) -> list[Descriptor]: ...

    def default_reference(self) -> str: ...


def mount_source(src: Store, dst: Store) -> tuple[BlobMounting, str] | None:
    """The mounting destination and the source repository to mount from, when both stores
    are different repositories of one registry and the destination can mount."""
    if not isinstance(dst, BlobMounting) or src.registry is None or src.repository is None:
        return None
    if src.registry != dst.registry or src.repository == dst.repository:
        return None
    return dst, src.repository


def referrer_pusher(store: Store) -> ReferrerPushing | None:
    """`store` when it maintains referrer indexes itself, else None (the caller does)."""
    return store if isinstance(store, ReferrerPushing) else None


def exclusive(store: Store) -> AbstractContextManager[None]:
    """The store's writer lock where it has one (an OCI layout), else nothing: a registry
    offers no lock, and reading back what was written is all that can be done there."""
    return store.writer_lock() if isinstance(store, WriterLocked) else contextlib.nullcontext()


def saved_layout(store: Store) -> SavedLayout | None:
    """`store` when it is an OCI layout directory (possibly written by `cosign save`)."""
    return store if isinstance(store, SavedLayout) else None


def saved_evidence(store: Store, subject: Digest, kind: str) -> list[Descriptor] | None:
    """The manifests a `cosign save` layout marks with `kind` (`mt.KIND_SIGS` or
    `mt.KIND_ATTS`) instead of a tag, when `subject` is the layout's one image.

    None when `store` is not a layout or its one image is not `subject` (the marks
    belong to that one image: they say nothing about any other). Entries that also
    carry a tag name are skipped: the tag is how they are found already."""
    layout = saved_layout(store)
    if layout is None:
        return None
    entries = layout.entries()
    images = {e.digest for e in entries if e.annotations.get(mt.ANN_KIND) in {mt.KIND_IMAGE, mt.KIND_IMAGE_INDEX}}
    if images != {subject}:
        return None
    return [e for e in entries if e.annotations.get(mt.ANN_KIND) == kind and mt.ANN_REF_NAME not in e.annotations]
