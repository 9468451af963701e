"""Copy an image or an index, with every child manifest and blob, from one Store to another.

Order is what makes a copy safe to interrupt: blobs first, then child manifests, then
the manifest naming them, and the tags last, so a destination never shows a tag whose
content is not all there. Re-running completes an interrupted copy and sends nothing
that is already present: a manifest present at the destination is trusted to have its
content (registries and `LayoutStore` refuse manifests whose blobs are missing), and a
blob present is not re-sent. Manifests travel as their exact bytes, and the destination
must resolve to the source's digest at the end (`DigestMismatch` otherwise).

Between two repositories of one registry, blobs are mounted rather than uploaded when the
destination store is `BlobMounting`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from slsacheck.errors import DigestMismatch, NotFound
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Descriptor, Manifest
from slsacheck.models.digest import Digest
from slsacheck.oci.store import Store, mount_source, saved_layout

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CopyReport:
    """What a copy did (or, with `dry_run`, would do)."""

    source: str
    destination: str
    digest: Digest
    media_type: str
    manifests_copied: tuple[Digest, ...] = ()
    manifests_present: tuple[Digest, ...] = ()
    blobs_copied: tuple[Digest, ...] = ()
    blobs_mounted: tuple[Digest, ...] = ()
    blobs_present: tuple[Digest, ...] = ()
    tags_set: tuple[str, ...] = ()
    tags_present: tuple[str, ...] = ()
    bytes_sent: int = 0
    dry_run: bool = False

    @property
    def sent_nothing(self) -> bool:
        return not (self.manifests_copied or self.blobs_copied or self.blobs_mounted or self.tags_set)

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "destination": self.destination,
            "digest": str(self.digest),
            "mediaType": self.media_type,
            "manifestsCopied": [str(d) for d in self.manifests_copied],
            "manifestsPresent": [str(d) for d in self.manifests_present],
            "blobsCopied": [str(d) for d in self.blobs_copied],
            "blobsMounted": [str(d) for d in self.blobs_mounted],
            "blobsPresent": [str(d) for d in self.blobs_present],
            "tagsSet": list(self.tags_set),
            "tagsPresent": list(self.tags_present),
            "bytesSent": self.bytes_sent,
            "dryRun": self.dry_run,
        }


@dataclass
class _Progress:
    manifests_copied: list[Digest] = field(default_factory=list)
    manifests_present: list[Digest] = field(default_factory=list)
    blobs_copied: list[Digest] = field(default_factory=list)
    blobs_mounted: list[Digest] = field(default_factory=list)
    blobs_present: list[Digest] = field(default_factory=list)
    seen: set[Digest] = field(default_factory=set)
    bytes_sent: int = 0


def tagged(store: Store, tag: str) -> Digest | None:
    """What `tag` names in `store` now, exactly, or None: a layout's `resolve("latest")`
    also answers for a bare `oci:DIR` (its only image), which must not count as the tag
    being set."""
    if saved_layout(store) is not None and tag not in set(store.tags()):
        return None
    try:
        return store.resolve(tag).digest
    except NotFound:
        return None


def _has_manifest(store: Store, digest: Digest) -> bool:
    try:
        return store.resolve(str(digest)).digest == digest
    except NotFound:
        return False


class _Copier:
    def __init__(self, src: Store, dst: Store, dry_run: bool) -> None:
        self.src, self.dst, self.dry_run = src, dst, dry_run
        self.mount = mount_source(src, dst)
        self.progress = _Progress()

    def manifest(self, manifest: Manifest, tag: str | None = None) -> None:
        p = self.progress
        if manifest.digest in p.seen:
            return
        p.seen.add(manifest.digest)
        if _has_manifest(self.dst, manifest.digest):
            p.manifests_present.append(manifest.digest)
            return
        if manifest.is_index:
            for child in manifest.children:
                if child.digest in p.seen:
                    continue
                self.manifest(self.src.fetch_manifest(str(child.digest)))
        for blob in manifest.blobs():
            self.blob(blob)
        if not self.dry_run:
            self.dst.push_manifest(manifest.raw, manifest.media_type, tag=tag)
        p.manifests_copied.append(manifest.digest)
        p.bytes_sent += len(manifest.raw)

    def blob(self, descriptor: Descriptor) -> None:
        p = self.progress
        if descriptor.digest in p.seen:
            return
        p.seen.add(descriptor.digest)
        if self.dst.blob_exists(descriptor.digest):
            p.blobs_present.append(descriptor.digest)
            return
        if "urls" in descriptor.extra and not self.src.blob_exists(descriptor.digest):
            log.info("skipping non-distributable layer %s (fetched from its URLs)", descriptor.digest)
            return
        if self.dry_run:
            p.blobs_copied.append(descriptor.digest)
            p.bytes_sent += descriptor.size
            return
        if self.mount is not None:
            mounting, from_repository = self.mount
            if mounting.mount_blob(descriptor, from_repository):
                p.blobs_mounted.append(descriptor.digest)
                return
        with self.src.open_blob(descriptor) as stream:
            self.dst.push_blob(descriptor, stream)
        p.blobs_copied.append(descriptor.digest)
        p.bytes_sent += descriptor.size


def _is_digest(reference: str) -> bool:
    return ":" in reference


def copy(
    src: Store, dst: Store, reference: str, *, tags: Sequence[str] = (), dry_run: bool = False
) -> CopyReport:
    """Copy what `reference` (tag or digest) names in `src` into `dst`, tagged `tags`.

    With no `tags`, a tag reference is copied under the same tag and a digest reference
    untagged.
    """
    top = src.fetch_manifest(reference)
    if top.media_type not in mt.MANIFEST_TYPES:
        log.info("copying %s of media type %s", top.digest, top.media_type)
    wanted = tuple(tags) if tags else (() if _is_digest(reference) else (reference,))
    copier = _Copier(src, dst, dry_run)
    copier.manifest(top)
    tags_set: list[str] = []
    tags_present: list[str] = []
    for tag in wanted:
        if tagged(dst, tag) == top.digest:
            tags_present.append(tag)
            continue
        if not dry_run:
            dst.push_manifest(top.raw, top.media_type, tag=tag)
        tags_set.append(tag)
    if not dry_run:
        _check_destination(dst, top.digest, wanted)
    p = copier.progress
    return CopyReport(
        source=src.location,
        destination=dst.location,
        digest=top.digest,
        media_type=top.media_type,
        manifests_copied=tuple(p.manifests_copied),
        manifests_present=tuple(p.manifests_present),
        blobs_copied=tuple(p.blobs_copied),
        blobs_mounted=tuple(p.blobs_mounted),
        blobs_present=tuple(p.blobs_present),
        tags_set=tuple(tags_set),
        tags_present=tuple(tags_present),
        bytes_sent=p.bytes_sent,
        dry_run=dry_run,
    )


def _check_destination(dst: Store, digest: Digest, tags: Sequence[str]) -> None:
    checks = [(tag, tagged(dst, tag)) for tag in tags]
    checks.append((str(digest), digest if _has_manifest(dst, digest) else None))
    for reference, found in checks:
        if found != digest:
            raise DigestMismatch(
                f"{dst.location} {reference} after the copy",
                expected=str(digest),
                found=str(found) if found else "no such manifest",
                hint="the destination rewrote the manifest (or another writer moved the tag); "
                "slsacheck copies byte-exact manifests, so the destination cannot be trusted to keep them",
            )
