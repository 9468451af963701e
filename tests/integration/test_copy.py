"""copy(): every child and blob arrives, byte-exact, in order; a second run sends nothing;
an interrupted copy completes when re-run; the destination digest equals the source's.

Layout-to-layout cases run everywhere; registry cases use the real registry fixtures of
tests/integration/conftest.py (plain HTTP, TLS, TLS + auth)."""

from __future__ import annotations

from pathlib import Path

import pytest

from slsacheck.errors import DigestMismatch, NotFound
from slsacheck.models import Descriptor, Digest, ImageRef, Platform
from slsacheck.models import mediatypes as mt
from slsacheck.oci import scratch
from slsacheck.oci.copy import copy
from slsacheck.oci.layout import LayoutStore
from slsacheck.oci.store import Store


def _two_platform_index() -> scratch.Built:
    return scratch.index(
        [
            scratch.image({"etc/hello": b"amd64\n"}, platform=Platform("linux", "amd64")),
            scratch.image({"etc/hello": b"arm64\n"}, platform=Platform("linux", "arm64", "v8")),
        ]
    )


def _assert_complete(store: Store, built: scratch.Built) -> None:
    """Every manifest byte-exact and every blob present and intact in `store`."""
    assert store.fetch_manifest(str(built.digest)).raw == built.manifest
    for descriptor, data in built.blobs:
        assert store.fetch_blob(descriptor) == data
    for child in built.children:
        _assert_complete(store, child)


@pytest.fixture
def source(tmp_path: Path) -> tuple[LayoutStore, scratch.Built]:
    store = LayoutStore(tmp_path / "src", create=True)
    built = _two_platform_index()
    scratch.push(store, built, tag="v1")
    return store, built


def test_layout_to_layout_index_with_children_then_nothing_resent(
    tmp_path: Path, source: tuple[LayoutStore, scratch.Built]
) -> None:
    src, built = source
    dst = LayoutStore(tmp_path / "dst", create=True)
    report = copy(src, dst, "v1")
    assert report.digest == built.digest and report.media_type == mt.OCI_INDEX
    assert set(report.manifests_copied) == {built.digest, *(c.digest for c in built.children)}
    # The layer content differs per platform, the configs too: 4 blobs in all.
    assert len(report.blobs_copied) == 4 and report.blobs_present == ()
    assert report.bytes_sent == sum(len(d) for c in built.children for _, d in c.blobs) + sum(
        len(m.manifest) for m in (built, *built.children)
    )
    assert report.tags_set == ("v1",)
    assert dst.resolve("v1").digest == built.digest
    _assert_complete(dst, built)

    again = copy(src, dst, "v1")
    assert again.sent_nothing and again.bytes_sent == 0
    assert again.manifests_present == (built.digest,)
    assert again.tags_present == ("v1",)


def test_copy_by_digest_with_new_tags_and_shared_blobs(tmp_path: Path) -> None:
    src = LayoutStore(tmp_path / "src", create=True)
    shared = {"etc/same": b"same\n"}
    a = scratch.image(shared, platform=Platform("linux", "amd64"))
    b = scratch.image(shared, platform=Platform("linux", "s390x"))
    idx = scratch.index([a, b])
    scratch.push(src, idx, tag="multi")
    dst = LayoutStore(tmp_path / "dst", create=True)
    report = copy(src, dst, str(idx.digest), tags=["x", "y"])
    # Both images share the layer: it is sent once.
    assert len(report.blobs_copied) == 3
    assert report.tags_set == ("x", "y")
    assert dst.resolve("x").digest == dst.resolve("y").digest == idx.digest
    untagged = copy(src, dst, str(idx.digest))
    assert untagged.tags_set == () and untagged.sent_nothing


def test_nested_index(tmp_path: Path, source: tuple[LayoutStore, scratch.Built]) -> None:
    src, inner = source
    outer = scratch.index([inner, scratch.image({"f": b"solo"})])
    scratch.push(src, outer, tag="outer")
    dst = LayoutStore(tmp_path / "dst", create=True)
    report = copy(src, dst, "outer")
    assert len(report.manifests_copied) == 5
    _assert_complete(dst, outer)
    assert list(dst.tags()) == ["outer"]


def test_dry_run_sends_nothing(tmp_path: Path, source: tuple[LayoutStore, scratch.Built]) -> None:
    src, built = source
    dst = LayoutStore(tmp_path / "dst", create=True)
    report = copy(src, dst, "v1", dry_run=True)
    assert report.dry_run and len(report.manifests_copied) == 3 and len(report.blobs_copied) == 4
    assert list(dst.tags()) == [] and not dst.blob_exists(built.children[0].blobs[0][0].digest)


class _FailingAfter(LayoutStore):
    """A real layout that breaks (like a full disk) after `budget` blob writes."""

    budget = 2

    def push_blob(self, descriptor: Descriptor, data: object) -> None:  # type: ignore[override]
        if not self.blob_exists(descriptor.digest):
            if self.budget == 0:
                raise OSError(28, "No space left on device")
            self.budget -= 1
        super().push_blob(descriptor, data)  # type: ignore[arg-type]


def test_interrupted_copy_completes_on_rerun(tmp_path: Path, source: tuple[LayoutStore, scratch.Built]) -> None:
    src, built = source
    broken = _FailingAfter(tmp_path / "dst", create=True)
    with pytest.raises(OSError, match="No space"):
        copy(src, broken, "v1")
    # The tag comes last: nothing names the half-copied image.
    assert list(broken.tags()) == []
    with pytest.raises(NotFound):
        broken.resolve("v1")
    dst = LayoutStore(tmp_path / "dst")
    report = copy(src, dst, "v1")
    assert len(report.blobs_present) == 2 and len(report.blobs_copied) == 2
    _assert_complete(dst, built)
    assert dst.resolve("v1").digest == built.digest


def test_a_tampered_source_blob_stops_the_copy(tmp_path: Path, source: tuple[LayoutStore, scratch.Built]) -> None:
    src, built = source
    layer, data = built.children[0].blobs[1]
    (src.path / "blobs" / "sha256" / layer.digest.hex).write_bytes(bytes(len(data)))
    dst = LayoutStore(tmp_path / "dst", create=True)
    with pytest.raises(DigestMismatch):
        copy(src, dst, "v1")
    assert not dst.blob_exists(layer.digest)
    assert list(dst.tags()) == []


class _Rewriting(LayoutStore):
    """A destination that re-serialises manifests (as some registries of old did)."""

    def push_manifest(self, manifest: bytes, media_type: str, *, tag: str | None = None) -> Descriptor:
        rewritten = manifest.replace(b'"schemaVersion":2', b'"schemaVersion": 2')
        return super().push_manifest(rewritten, media_type, tag=tag)


def test_destination_digest_must_equal_source(tmp_path: Path) -> None:
    src = LayoutStore(tmp_path / "src", create=True)
    img = scratch.image({"f": b"1"})
    scratch.push(src, img, tag="v1")
    dst = _Rewriting(tmp_path / "dst", create=True)
    with pytest.raises(DigestMismatch) as info:
        copy(src, dst, "v1")
    assert info.value.expected == str(img.digest)
    assert info.value.found == str(Digest.of(img.manifest.replace(b'"schemaVersion":2', b'"schemaVersion": 2')))


def test_layout_ref_round_trip_via_image_ref(tmp_path: Path, source: tuple[LayoutStore, scratch.Built]) -> None:
    src, built = source
    ref = ImageRef.parse(f"oci:{src.path}:v1")
    assert ref.layout == str(src.path) and ref.identifier == "v1"
    assert LayoutStore(ref.layout).resolve(ref.identifier).digest == built.digest
