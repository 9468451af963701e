"""`LayoutStore`: the `Store` protocol over an OCI image layout directory.

A layout is `oci-layout` (`{"imageLayoutVersion":"1.0.0"}`), `index.json` (an image
index whose entries carry tags in `org.opencontainers.image.ref.name`) and
`blobs/<alg>/<hex>`. It reads what skopeo, buildah and `cosign save` write, and writes
entries as `cosign save` annotates them (`kind: dev.cosignproject.cosign/...`).

Invariants:
- every read is checked against the digest asked for and capped (`verifying`);
- a blob file is only ever created by renaming a fully written, fsynced temporary file
  whose bytes were checked against the name, so an interrupted write never leaves a
  blob whose name does not match its bytes; `index.json` is replaced the same way;
- a manifest is accepted only when every blob and child it names is already present,
  and an untagged manifest gets an index.json entry of its own (so it is not garbage)
  until an index that lists it, or a tag, makes it reachable;
- every read-modify-write of index.json (push, delete, create) holds the layout's writer
  lock (`_layout_lock`): one per directory across threads and, through flock on
  `.slsacheck.lock` in the directory, across processes; readers take no lock (index.json
  and blobs only ever change by rename) and so need no write access to the layout.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

from slsacheck.errors import DigestMismatch, NotFound, StoreError
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Descriptor, MalformedManifest, Manifest
from slsacheck.models.digest import Digest
from slsacheck.oci import _layout_index as lx
from slsacheck.oci import _layout_lock
from slsacheck.oci.verifying import VerifyingReader, read_capped, size_mismatch, too_large

_CHUNK = 1 << 20
# Tags cosign's scheme and the referrers fallback give evidence: never an image to name.
_EVIDENCE_TAG = re.compile(r"sha(256|512)-[0-9a-f]{64,128}(\.[a-z]+)?")
_STREAM_BUFFER = 1 << 16
# What `create` may find in a directory besides a layout's own files: the lock file and the
# temporary files of a writer that is creating the same layout at this moment.
_OURS = {"blobs", "index.json", _layout_lock.LOCK_NAME}


class MissingBlob(NotFound, StoreError):
    """A blob the layout should hold (named by index.json or a manifest) is not there."""


def _fsync_dir(path: Path) -> None:
    # Makes the rename itself durable; some filesystems refuse to open a directory.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _unwritable(location: str, target: Path, exc: OSError) -> StoreError:
    return StoreError(
        f"{location}: cannot write {target}: {exc.strerror}",
        hint="the layout directory must be writable (and its disk not full) to add to it; "
        "reading it needs no write access",
        repository=location,
    )


@contextlib.contextmanager
def _replacing(tmp: Path, target: Path, location: str) -> Iterator[BinaryIO]:
    """A file written at `tmp` that becomes `target` only if the block ends normally:
    fsynced, renamed over `target` (atomic on one filesystem), the rename made durable.
    On any failure, `tmp` is removed and `target` is untouched. The layout's own I/O
    failures become `StoreError`; whatever the block raises (a bad source) passes as is."""
    try:
        out = open(tmp, "wb")  # noqa: SIM115 - closed below, on every path
    except OSError as exc:
        raise _unwritable(location, target, exc) from None
    try:
        with out:
            yield out
            try:
                out.flush()
                os.fsync(out.fileno())
            except OSError as exc:
                raise _unwritable(location, target, exc) from None
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise _unwritable(location, target, exc) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(target.parent)


class LayoutStore:
    """One OCI image layout directory, as a `Store`.

    `lock_timeout` bounds the wait (seconds) for other writers of the same layout."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        create: bool = False,
        lock_timeout: float = _layout_lock.DEFAULT_TIMEOUT,
    ) -> None:
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        marker = self.path / "oci-layout"
        if not marker.is_file():
            if not create:
                raise StoreError(
                    f"{self.location} is not an OCI image layout",
                    expected="a directory with oci-layout, index.json and blobs/",
                    found="no such directory" if not self.path.exists() else "no oci-layout file",
                    hint="check the path, or write an image there first (skopeo copy ... oci:DIR:TAG)",
                )
            self._create()
        else:
            lx.check_marker(marker, self.location)

    def _create(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"cannot create layout {self.location}: a file is in the way")
        # Checked before the lock file is made, so a foreign directory is left untouched.
        self._refuse_foreign_files()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create layout {self.location}: {exc.strerror}", repository=self.location
            ) from None
        with self.writer_lock():
            marker = self.path / "oci-layout"
            if marker.is_file():
                # Another writer made the layout while this one waited: use it as it is
                # (writing a fresh index.json now would drop what that writer has pushed).
                lx.check_marker(marker, self.location)
                return
            self._refuse_foreign_files()
            (self.path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
            if not (self.path / "index.json").exists():
                self._write_file(self.path / "index.json", lx.dump_index(lx.new_index()))
            self._write_file(self.path / "oci-layout", lx.OCI_LAYOUT)

    def _refuse_foreign_files(self) -> None:
        if not self.path.is_dir():
            return
        ours = {*_OURS, "oci-layout"} if (self.path / "oci-layout").is_file() else _OURS
        if any(p.name not in ours and not p.name.startswith(".tmp-") for p in self.path.iterdir()):
            raise StoreError(
                f"cannot create layout {self.location}: the directory is not empty",
                hint="name an empty or new directory for the layout",
            )

    def writer_lock(self) -> contextlib.AbstractContextManager[None]:
        """The layout's writer lock, held by every read-modify-write of index.json.

        Callers hold it across several calls that must not interleave with another
        writer, in this process or another (read a tag, merge into it, push it back).
        Re-entrant in one thread; bounded by `lock_timeout`; needs a writable layout."""
        return _layout_lock.writing(self.path, self.location, self.lock_timeout)

    # -- the Store protocol ------------------------------------------------------------

    @property
    def location(self) -> str:
        return f"oci:{self.path}"

    @property
    def registry(self) -> None:
        return None

    @property
    def repository(self) -> None:
        return None

    def resolve(self, reference: str) -> Descriptor:
        index = self._read_index()
        if ":" in reference:
            digest = Digest.parse(reference)
            for entry in lx.entries(index, self.location):
                if entry.digest == digest:
                    return self._present(lx.plain(entry))
            manifest = self._read_manifest_blob(digest, None, mt.MAX_MANIFEST_SIZE)
            return manifest.descriptor
        found = lx.find_tag(index, reference, self.location)
        if found is None and reference == lx.DEFAULT_TAG and index["manifests"]:
            # `oci:DIR` without a tag names the layout's only image, as skopeo reads it.
            return self.resolve(lx.default_reference(index, self.location))
        if found is None:
            raise self._missing_tag(reference, lx.tags(index, self.location))
        return self._present(lx.plain(found))

    def _missing_tag(self, reference: str, tags: list[str]) -> NotFound:
        # The evidence tags (sha256-<hex>.sig/.att, referrer fallbacks) are not images a user
        # would name: list the image tags, and only count the others.
        images = [tag for tag in tags if not _EVIDENCE_TAG.fullmatch(tag)]
        shown = ", ".join(repr(tag) for tag in images[:20])
        if len(images) > 20:
            shown += f" and {len(images) - 20} more"
        others = len(tags) - len(images)
        found = (f"image tags {shown}" if images else "no image tags") + (
            f" (and {others} evidence tag{'s' if others != 1 else ''})" if others else "")
        return NotFound(
            f"tag {reference!r} not found in {self.location}",
            repository=self.location,
            expected=f"a tag of the layout, or a digest (oci:{self.path}@sha256:...)",
            found=found,
            hint=f"name one of the image tags (oci:{self.path}:{images[0]})" if images
            else "write an image there first (skopeo copy ... oci:DIR:TAG), or name the image by digest",
        )

    def _present(self, descriptor: Descriptor) -> Descriptor:
        """`descriptor` if its manifest is in blobs/; an index.json entry alone is not enough."""
        if not self.blob_exists(descriptor.digest):
            digest = descriptor.digest
            raise MissingBlob(
                f"manifest {digest} in {self.location} is missing: no file blobs/{digest.algorithm}/{digest.hex}",
                repository=self.location,
                hint="index.json names a manifest the layout does not hold; copy the image into it again",
            )
        return descriptor

    def fetch_manifest(self, reference: str, *, max_size: int = mt.MAX_MANIFEST_SIZE) -> Manifest:
        descriptor = self.resolve(reference)
        return self._read_manifest_blob(descriptor.digest, descriptor, max_size)

    def push_manifest(self, manifest: bytes, media_type: str, *, tag: str | None = None) -> Descriptor:
        if len(manifest) > mt.MAX_MANIFEST_SIZE:
            raise too_large(f"manifest pushed to {self.location}", len(manifest), mt.MAX_MANIFEST_SIZE)
        parsed = Manifest.parse(manifest, media_type, where=f"manifest pushed to {self.location}")
        declared = parsed.json.get("mediaType")
        if declared is not None and declared != media_type:
            raise MalformedManifest(
                f"manifest pushed to {self.location}: media type disagrees with the manifest",
                expected=str(declared),
                found=media_type,
            )
        descriptor = Descriptor(media_type, parsed.digest, len(manifest), artifact_type=parsed.descriptor.artifact_type)
        with self.writer_lock():
            needed = parsed.children if parsed.is_index else parsed.blobs()
            for item in needed:
                if "urls" in item.extra:
                    continue  # non-distributable layer, fetched from its URLs by runtimes
                if not self.blob_exists(item.digest):
                    raise MissingBlob(
                        f"{self.location}: manifest {parsed.digest} names {item.digest}, which is not in the layout",
                        repository=self.location,
                        hint="push blobs and child manifests before the manifest that names them",
                    )
            self.push_blob(descriptor, manifest)
            index = self._read_index()
            children = {c.digest for c in parsed.children} if parsed.is_index else set()
            lx.record(index, descriptor, tag, children, self.location)
            self._write_file(self.path / "index.json", lx.dump_index(index))
        return descriptor

    def blob_exists(self, digest: Digest) -> bool:
        return self._blob_path(digest).is_file()

    def fetch_blob(self, descriptor: Descriptor, *, max_size: int = mt.MAX_EVIDENCE_SIZE) -> bytes:
        what = f"blob {descriptor.digest} in {self.location}"
        with self._open(descriptor.digest, what) as f:
            return read_capped(f, descriptor.digest, size=descriptor.size, max_size=max_size, what=what)

    @contextlib.contextmanager
    def _open_blob(self, descriptor: Descriptor) -> Iterator[BinaryIO]:
        what = f"blob {descriptor.digest} in {self.location}"
        f = self._open(descriptor.digest, what)
        on_disk = os.fstat(f.fileno()).st_size
        if on_disk != descriptor.size:
            f.close()
            raise size_mismatch(what, descriptor, on_disk)
        reader = io.BufferedReader(VerifyingReader(f, descriptor, what), _STREAM_BUFFER)
        try:
            yield cast(BinaryIO, reader)
        finally:
            reader.close()

    def open_blob(self, descriptor: Descriptor) -> contextlib.AbstractContextManager[BinaryIO]:
        return self._open_blob(descriptor)

    def push_blob(self, descriptor: Descriptor, data: bytes | BinaryIO, *, fresh: bool = False) -> None:
        # `fresh` changes nothing here: asking a layout whether a file exists costs no round trip.
        target = self._blob_path(descriptor.digest)
        if target.is_file():
            return
        what = f"blob {descriptor.digest} written to {self.location}"
        stream: BinaryIO = io.BytesIO(data) if isinstance(data, bytes) else data
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _unwritable(self.location, target.parent, exc) from None
        # The temporary file sits at the layout root (same filesystem, so the rename is
        # atomic) rather than in blobs/, where every name must be a digest.
        tmp = self.path / f".tmp-blob-{descriptor.digest.hex[:16]}-{os.getpid()}-{threading.get_ident()}"
        hasher = descriptor.digest.hasher()
        written = 0
        with _replacing(tmp, target, self.location) as out:
            while True:
                chunk = stream.read(min(_CHUNK, descriptor.size - written + 1))
                if not chunk:
                    break
                written += len(chunk)
                if written > descriptor.size:
                    raise size_mismatch(what, descriptor, f"more than {descriptor.size}")
                hasher.update(chunk)
                out.write(chunk)
            if written != descriptor.size:
                raise size_mismatch(what, descriptor, written)
            actual = f"{descriptor.digest.algorithm}:{hasher.hexdigest()}"
            if actual != str(descriptor.digest):
                raise DigestMismatch(what, expected=str(descriptor.digest), found=actual)

    def tags(self) -> Iterator[str]:
        return iter(lx.tags(self._read_index(), self.location))

    def referrers(self, subject: Digest, *, artifact_type: str | None = None) -> list[Descriptor]:
        found: dict[Digest, Descriptor] = {}
        index = self._read_index()
        for entry in lx.entries(index, self.location):
            if entry.media_type not in mt.MANIFEST_TYPES:
                continue
            manifest = self._read_manifest_blob(entry.digest, entry, mt.MAX_MANIFEST_SIZE)
            sub = manifest.subject
            if sub is not None and sub.digest == subject:
                found.setdefault(manifest.digest, lx.referrer_descriptor(manifest))
        # The tag-schema fallback: an index tagged `sha256-<hex>` listing the referrers.
        fallback = lx.find_tag(index, subject.tag_form, self.location)
        if fallback is not None and fallback.media_type in mt.INDEX_TYPES:
            for child in self._read_manifest_blob(fallback.digest, fallback, mt.MAX_MANIFEST_SIZE).children:
                found.setdefault(child.digest, child)
        result = list(found.values())
        if artifact_type is not None:
            result = [d for d in result if d.artifact_type == artifact_type]
        return result

    def delete_manifest(self, digest: Digest) -> None:
        with self.writer_lock():
            index = self._read_index()
            removed = lx.remove_digest(index, digest)
            if not removed and not self.blob_exists(digest):
                raise NotFound(f"manifest {digest} not found in {self.location}", repository=self.location)
            if removed:
                self._write_file(self.path / "index.json", lx.dump_index(index))
            if digest not in self._reachable_manifests(index):
                with contextlib.suppress(FileNotFoundError):
                    self._blob_path(digest).unlink()

    # -- layout-only conveniences --------------------------------------------------

    def entries(self) -> list[Descriptor]:
        """index.json's entries as listed (with their annotations: tag, kind)."""
        return lx.entries(self._read_index(), self.location)

    def default_reference(self) -> str:
        """What `oci:DIR` (no tag, no digest) names: the layout's only image, as skopeo
        picks it; `latest` when tagged; else the one entry `cosign save` marked as the image."""
        return lx.default_reference(self._read_index(), self.location)

    # -- internals -----------------------------------------------------------------

    def _blob_path(self, digest: Digest) -> Path:
        # Digest is validated on construction (registered algorithm, exact hex), so this
        # cannot leave blobs/.
        return self.path / "blobs" / digest.algorithm / digest.hex

    def _open(self, digest: Digest, what: str) -> BinaryIO:
        try:
            return open(self._blob_path(digest), "rb")
        except FileNotFoundError:
            raise MissingBlob(
                f"{what} is missing: no file blobs/{digest.algorithm}/{digest.hex}",
                repository=self.location,
                hint="the layout is incomplete; copy the image into it again",
            ) from None
        except OSError as exc:
            raise StoreError(f"cannot read {what}: {exc.strerror}", repository=self.location) from None

    def _read_manifest_blob(self, digest: Digest, descriptor: Descriptor | None, max_size: int) -> Manifest:
        what = f"manifest {digest} in {self.location}"
        with self._open(digest, what) as f:
            raw = read_capped(
                f, digest, size=descriptor.size if descriptor else None, max_size=max_size, what=what
            )
        return Manifest.parse(raw, descriptor.media_type if descriptor else None, where=what)

    def _read_index(self) -> dict[str, Any]:
        return lx.load_index(self.path / "index.json", self.location)

    def _reachable_manifests(self, index: dict[str, Any]) -> set[Digest]:
        seen: set[Digest] = set()
        todo = [e for e in lx.entries(index, self.location) if e.media_type in mt.INDEX_TYPES]
        seen.update(e.digest for e in lx.entries(index, self.location))
        while todo:
            entry = todo.pop()
            try:
                children = self._read_manifest_blob(entry.digest, entry, mt.MAX_MANIFEST_SIZE).children
            except MissingBlob:
                continue
            for child in children:
                if child.digest not in seen:
                    seen.add(child.digest)
                    if child.media_type in mt.INDEX_TYPES:
                        todo.append(child)
        return seen

    def _write_file(self, target: Path, data: bytes) -> None:
        tmp = target.with_name(f".tmp-{target.name}-{os.getpid()}-{threading.get_ident()}")
        with _replacing(tmp, target, self.location) as out:
            out.write(data)

    def __repr__(self) -> str:
        return f"LayoutStore({str(self.path)!r})"
