"""The one interface to where images live: a repository in a registry, or a layout dir.

A `Store` is scoped to one repository (`registry/repo`, or one OCI image layout
directory). Every implementation keeps the same promises:

- every manifest and blob it returns has been checked against the digest asked for
  (`DigestMismatch` otherwise) and is within its size cap (`TooLarge` otherwise);
- a manifest is always handled as its exact bytes, so digests survive a copy;
- writes are ordered so that nothing points at content that is not there yet: blobs
  before the manifests naming them, children before their index, the tag last.
"""

from __future__ import annotations

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

    def push_blob(self, descriptor: Descriptor, data: bytes | BinaryIO) -> None:
        """Store a blob whose digest and size are known in advance. No-op if present."""
        ...

    def tags(self) -> Iterator[str]:
        """Every tag of the repository (all pages)."""
        ...

    def referrers(self, subject: Digest, *, artifact_type: str | None = None) -> list[Descriptor]:
        """Manifests whose `subject` is `subject`: the referrers API, or the
        `sha256-<hex>` tag-schema index where the store has no such API."""
        ...

    def delete_manifest(self, digest: Digest) -> None: ...
