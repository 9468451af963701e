"""LayoutStore against the tools that write and read OCI layouts in the wild: it reads what
buildah and skopeo write, and what it writes skopeo reads back (inspect, copy out)."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from slsacheck.errors import DigestMismatch
from slsacheck.models import Digest, ImageRef, Platform
from slsacheck.models import mediatypes as mt
from slsacheck.oci import scratch
from slsacheck.oci.copy import copy
from slsacheck.oci.layout import LayoutStore
from tests.support.images import BuildahImages, buildah_images, layout_path, skopeo, skopeo_copy

__all__ = ["buildah_images"]  # the fixture, imported so pytest finds it here

pytestmark = pytest.mark.integration


def _store(ref: str) -> tuple[LayoutStore, str]:
    parsed = ImageRef.parse(ref)
    assert parsed.layout is not None
    return LayoutStore(parsed.layout), parsed.identifier


def _files_in_layer(store: LayoutStore, layer_digest: Digest) -> dict[str, bytes]:
    manifest_layer = next(
        d for m in [store.fetch_manifest(str(e.digest)) for e in store.entries()] if not m.is_index
        for d in m.layers if d.digest == layer_digest
    )
    with store.open_blob(manifest_layer) as f:
        data = f.read()
    raw = gzip.decompress(data) if manifest_layer.media_type.endswith("gzip") else data
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_reads_a_buildah_image(buildah_images: BuildahImages) -> None:
    store, reference = _store(buildah_images.single)
    manifest = store.fetch_manifest(reference)
    assert manifest.media_type == mt.OCI_MANIFEST and not manifest.is_index
    assert store.resolve(reference).digest == manifest.digest
    assert manifest.config is not None
    config = json.loads(store.fetch_blob(manifest.config))
    assert (config["os"], config["architecture"]) == ("linux", "amd64")
    (layer,) = manifest.layers
    files = _files_in_layer(store, layer.digest)
    assert files == {"hello.txt": b"hello from buildah\n"}
    assert list(store.tags()) == ["latest"]


def test_reads_a_buildah_multi_platform_index(buildah_images: BuildahImages) -> None:
    store, reference = _store(buildah_images.multi)
    index = store.fetch_manifest(reference)
    assert index.is_index
    platforms = {str(c.platform): c for c in index.children}
    assert set(platforms) == {"linux/amd64", "linux/arm64"}
    for platform, child in platforms.items():
        image = store.fetch_manifest(str(child.digest))
        assert image.raw  # verified against the child's digest on read
        assert image.config is not None
        config = json.loads(store.fetch_blob(image.config))
        assert f"{config['os']}/{config['architecture']}" == platform


def test_reads_what_skopeo_copies_into_a_layout(tmp_path: Path, buildah_images: BuildahImages) -> None:
    dst = tmp_path / "skopeo-out"
    skopeo_copy(buildah_images.multi, f"oci:{dst}:copied", "--all")
    source, reference = _store(buildah_images.multi)
    store = LayoutStore(dst)
    assert store.resolve("copied").digest == source.resolve(reference).digest
    copied = LayoutStore(tmp_path / "ours", create=True)
    report = copy(store, copied, "copied")
    assert len(report.manifests_copied) == 3


def test_skopeo_reads_what_slsacheck_writes(tmp_path: Path, buildah_images: BuildahImages) -> None:
    source, reference = _store(buildah_images.multi)
    ours = LayoutStore(tmp_path / "ours", create=True)
    report = copy(source, ours, reference, tags=["mine"])
    raw = skopeo("inspect", "--raw", f"oci:{ours.path}:mine")
    assert raw.encode() == ours.fetch_manifest("mine").raw
    for child in ours.fetch_manifest("mine").children:
        assert child.platform is not None
        info = json.loads(skopeo("--override-os", child.platform.os, "--override-arch", child.platform.architecture,
                                 "inspect", f"oci:{ours.path}:mine"))
        assert info["Digest"] == str(report.digest)  # skopeo names the index it started from
        assert info["Layers"] == [str(d.digest) for d in ours.fetch_manifest(str(child.digest)).layers]
        assert f"{info['Os']}/{info['Architecture']}" == str(child.platform)
    out = tmp_path / "out-again"
    skopeo_copy(f"oci:{ours.path}:mine", f"oci:{out}:again", "--all")
    assert LayoutStore(out).resolve("again").digest == report.digest


def test_skopeo_reads_scratch_images_and_sig_tags(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path / "made", create=True)
    img = scratch.image({"etc/motd": b"made in python\n"}, platform=Platform("linux", "arm64"))
    scratch.push(store, img, tag="py")
    sig = scratch.image({"sig": b"x"})
    scratch.push(store, sig, tag=f"{img.digest.tag_form}.sig")
    info = json.loads(skopeo("inspect", f"oci:{store.path}:py"))
    assert info["Digest"] == str(img.digest) and info["Architecture"] == "arm64"
    sig_info = json.loads(skopeo("inspect", f"oci:{store.path}:{img.digest.tag_form}.sig"))
    assert sig_info["Digest"] == str(sig.digest)
    skopeo_copy(f"oci:{store.path}:py", f"oci:{tmp_path / 'o'}:py")
    assert LayoutStore(tmp_path / "o").fetch_manifest("py").raw == img.manifest


def test_a_corrupted_buildah_layer_stops_a_copy(tmp_path: Path, buildah_images: BuildahImages) -> None:
    path = tmp_path / "damaged"
    shutil.copytree(layout_path(buildah_images.single), path)
    store = LayoutStore(path)
    (layer,) = store.fetch_manifest("latest").layers
    blob = path / "blobs" / "sha256" / layer.digest.hex
    blob.write_bytes(blob.read_bytes()[:-3])
    with pytest.raises(DigestMismatch):
        copy(store, LayoutStore(tmp_path / "dst", create=True), "latest")
    assert list(LayoutStore(tmp_path / "dst").tags()) == []
