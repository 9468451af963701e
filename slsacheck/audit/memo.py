"""A Store that remembers what it read, for the span of one image's audit.

The gate collects an image's evidence, and the inventory reads the same evidence again
to describe it (who signed, what the provenance says). Over `MemoStore` the second pass
costs no request: manifests (by tag and by digest), blobs and referrer listings are kept,
and so are "not found" answers. Everything cached was already checked against its digest
by the store underneath. One `MemoStore` lives as long as one image's audit, so memory is
bounded by one image's evidence. Writes are refused: an audit only reads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import BinaryIO, TypeVar

from slsacheck.errors import Error, NotFound
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Descriptor, Manifest
from slsacheck.models.digest import Digest
from slsacheck.oci.store import Store

T = TypeVar("T")


class MemoStore:
    """Read-through cache over `inner` (a registry repository)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self._cache: dict[tuple[str, ...], object] = {}
        self._lock = threading.Lock()
        self.requests_saved = 0

    @property
    def location(self) -> str:
        return self.inner.location

    @property
    def registry(self) -> str | None:
        return self.inner.registry

    @property
    def repository(self) -> str | None:
        return self.inner.repository

    def _memo(self, key: tuple[str, ...], load: Callable[[], T]) -> T:
        with self._lock:
            if key in self._cache:
                self.requests_saved += 1
                found = self._cache[key]
                if isinstance(found, NotFound):
                    raise found
                return found  # type: ignore[return-value]
        try:
            value: object = load()
        except NotFound as exc:
            value = exc
        with self._lock:
            self._cache[key] = value
        if isinstance(value, NotFound):
            raise value
        return value  # type: ignore[return-value]

    def remember(self, manifest: Manifest, *references: str) -> None:
        """Keep a manifest read elsewhere (by tag, before dedup) under its digest and references."""
        with self._lock:
            for reference in (str(manifest.digest), *references):
                self._cache[("manifest", reference)] = manifest

    def resolve(self, reference: str) -> Descriptor:
        return self.fetch_manifest(reference).descriptor

    def fetch_manifest(self, reference: str, *, max_size: int = mt.MAX_MANIFEST_SIZE) -> Manifest:
        manifest = self._memo(("manifest", reference), lambda: self.inner.fetch_manifest(reference, max_size=max_size))
        return manifest

    def fetch_blob(self, descriptor: Descriptor, *, max_size: int = mt.MAX_EVIDENCE_SIZE) -> bytes:
        key = ("blob", str(descriptor.digest), str(descriptor.size))
        return self._memo(key, lambda: self.inner.fetch_blob(descriptor, max_size=max_size))

    def referrers(self, subject: Digest, *, artifact_type: str | None = None) -> list[Descriptor]:
        key = ("referrers", str(subject), artifact_type or "")
        return list(self._memo(key, lambda: self.inner.referrers(subject, artifact_type=artifact_type)))

    def blob_exists(self, digest: Digest) -> bool:
        return self.inner.blob_exists(digest)

    def open_blob(self, descriptor: Descriptor) -> AbstractContextManager[BinaryIO]:
        return self.inner.open_blob(descriptor)

    def tags(self) -> Iterator[str]:
        return self.inner.tags()

    def _read_only(self, what: str) -> Error:
        return Error(f"{self.location}: an audit does not write ({what})", hint="this is a bug in slsacheck")

    def push_manifest(self, manifest: bytes, media_type: str, *, tag: str | None = None) -> Descriptor:
        raise self._read_only("push_manifest")

    def push_blob(self, descriptor: Descriptor, data: bytes | BinaryIO, *, fresh: bool = False) -> None:
        raise self._read_only("push_blob")

