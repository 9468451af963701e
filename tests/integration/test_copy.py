"""copy(): every child and blob arrives, byte-exact, in order; a second run sends nothing;
an interrupted copy completes when re-run; the destination digest equals the source's.

Layout-to-layout cases run everywhere; registry cases use the real registry fixtures of
tests/integration/conftest.py (plain HTTP, TLS, TLS + auth)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from slsacheck.cli import main
from slsacheck.errors import EXIT_INCOMPLETE, DigestMismatch, NotFound
from slsacheck.models import Descriptor, Digest, ImageRef, Platform
from slsacheck.models import mediatypes as mt
from slsacheck.oci import scratch
from slsacheck.oci.copy import copy
from slsacheck.oci.layout import LayoutStore
from slsacheck.oci.store import Store
from tests.support.images import BuildahImages, buildah_images, skopeo_copy, skopeo_registry_flags
from tests.support.registry import RunningRegistry

__all__ = ["buildah_images"]  # the fixture, imported so pytest finds it here


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


# -- registries (tests/integration/conftest.py starts them) -----------------------------


def _buildah_multi(buildah_images: BuildahImages) -> tuple[LayoutStore, str]:
    parsed = ImageRef.parse(buildah_images.multi)
    assert parsed.layout is not None
    return LayoutStore(parsed.layout), parsed.identifier


@pytest.mark.integration
def test_buildah_index_to_registry_then_mounted_to_another_repository(
    registry_http: RunningRegistry, repo_name: str, buildah_images: BuildahImages
) -> None:
    layout, reference = _buildah_multi(buildah_images)
    first = registry_http.store(f"{repo_name}/a")
    report = copy(layout, first, reference, tags=["v1"])
    index = layout.fetch_manifest(reference)
    assert report.digest == index.digest and len(report.manifests_copied) == 3
    assert first.fetch_manifest("v1").raw == index.raw
    for child in index.children:
        manifest = first.fetch_manifest(str(child.digest))
        assert manifest.raw == layout.fetch_manifest(str(child.digest)).raw
        for blob in manifest.blobs():
            with first.open_blob(blob) as f:
                assert f.read() == layout.fetch_blob(blob)

    second = registry_http.store(f"{repo_name}/b")
    mounted = copy(first, second, "v1")
    assert mounted.blobs_copied == () and len(mounted.blobs_mounted) == len(report.blobs_copied)
    assert mounted.bytes_sent == sum(len(first.fetch_manifest(str(d)).raw) for d in mounted.manifests_copied)
    assert second.resolve("v1").digest == index.digest
    again = copy(first, second, "v1")
    assert again.sent_nothing and again.bytes_sent == 0


@pytest.mark.integration
def test_mount_with_auth_and_tls(registry_auth: RunningRegistry, repo_name: str,
                                 source: tuple[LayoutStore, scratch.Built]) -> None:
    layout, built = source
    a, b = registry_auth.store(f"{repo_name}/a"), registry_auth.store(f"{repo_name}/b")
    copy(layout, a, "v1")
    report = copy(a, b, "v1")
    assert len(report.blobs_mounted) == 4 and report.blobs_copied == ()
    _assert_complete(b, built)


@pytest.mark.integration
def test_across_registries_and_back_through_a_layout(
    tmp_path: Path, registry_tls: RunningRegistry, registry_auth: RunningRegistry, repo_name: str,
    source: tuple[LayoutStore, scratch.Built],
) -> None:
    layout, built = source
    tls = registry_tls.store(repo_name)
    copy(layout, tls, "v1")
    auth = registry_auth.store(repo_name)
    report = copy(tls, auth, "v1")
    assert report.blobs_mounted == () and len(report.blobs_copied) == 4
    assert copy(tls, auth, "v1").sent_nothing
    # registry -> layout -> registry keeps the digest all the way.
    middle = LayoutStore(tmp_path / "middle", create=True)
    copy(auth, middle, "v1")
    back = registry_tls.store(f"{repo_name}/back")
    final = copy(middle, back, "v1", tags=["again"])
    assert final.digest == built.digest
    _assert_complete(back, built)


@pytest.mark.integration
def test_interrupted_registry_copy_completes(registry_http: RunningRegistry, repo_name: str,
                                             source: tuple[LayoutStore, scratch.Built]) -> None:
    layout, built = source
    dst = registry_http.store(repo_name)
    # As if a previous run died after the first child: one image there, no index, no tag.
    copy(layout, dst, str(built.children[0].digest))
    with pytest.raises(NotFound):
        dst.resolve("v1")
    report = copy(layout, dst, "v1")
    assert built.children[0].digest in report.manifests_present
    assert set(report.manifests_copied) == {built.digest, built.children[1].digest}
    assert len(report.blobs_copied) == 2  # only the second image's config and layer
    _assert_complete(dst, built)


@pytest.mark.integration
def test_large_blob_streams_through(tmp_path: Path, registry_http: RunningRegistry, repo_name: str) -> None:
    layout = LayoutStore(tmp_path / "big", create=True)
    big = scratch.image({"blob.bin": os.urandom(9 * 1024 * 1024)})  # over the 8 MiB chunk size
    scratch.push(layout, big, tag="big")
    dst = registry_http.store(repo_name)
    report = copy(layout, dst, "big")
    assert report.bytes_sent > 9 * 1024 * 1024
    back = LayoutStore(tmp_path / "back", create=True)
    copy(dst, back, "big")
    _assert_complete(back, big)


@pytest.mark.integration
def test_skopeo_reads_what_slsacheck_copied_to_a_registry(
    tmp_path: Path, registry_tls: RunningRegistry, repo_name: str, source: tuple[LayoutStore, scratch.Built]
) -> None:
    layout, built = source
    copy(layout, registry_tls.store(repo_name), "v1")
    out = tmp_path / "from-registry"
    skopeo_copy(f"docker://{registry_tls.host}/{repo_name}:v1", f"oci:{out}:v1", "--all",
                *skopeo_registry_flags(registry_tls, "src", tmp_path))
    assert LayoutStore(out).resolve("v1").digest == built.digest


@pytest.mark.integration
def test_slsacheck_reads_what_skopeo_pushed(
    tmp_path: Path, registry_auth: RunningRegistry, repo_name: str, buildah_images: BuildahImages
) -> None:
    skopeo_copy(buildah_images.multi, f"docker://{registry_auth.host}/{repo_name}:pushed", "--all",
                *skopeo_registry_flags(registry_auth, "dest", tmp_path))
    layout, reference = _buildah_multi(buildah_images)
    dst = LayoutStore(tmp_path / "pulled", create=True)
    report = copy(registry_auth.store(repo_name), dst, "pushed")
    assert report.digest == layout.resolve(reference).digest
    assert len(report.manifests_copied) == 3


@pytest.mark.integration
def test_cli_copy_with_registry_flags(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, registry_auth: RunningRegistry, repo_name: str,
    source: tuple[LayoutStore, scratch.Built],
) -> None:
    layout, built = source
    assert registry_auth.ca_path is not None
    flags = ["--ca-bundle", str(registry_auth.ca_path), "--docker-config", str(registry_auth.docker_config)]
    target = f"{registry_auth.host}/{repo_name}:cli"
    assert main(["copy", *flags, f"oci:{layout.path}:v1", target]) == 0
    assert "4 sent" in capsys.readouterr().out
    assert main(["inspect", *flags, "--output", "json", target]) == 0
    assert json.loads(capsys.readouterr().out)["digest"] == str(built.digest)
    # No credentials: the registry refuses, and the command says so (exit 3, not a crash).
    empty = tmp_path / "empty-config.json"
    empty.write_text("{}")
    code = main(["inspect", "--ca-bundle", str(registry_auth.ca_path), "--docker-config", str(empty), target])
    assert code == EXIT_INCOMPLETE
    assert "401" in capsys.readouterr().err


def test_rerun_heals_a_destination_missing_a_listed_manifest(
    tmp_path: Path, source: tuple[LayoutStore, scratch.Built]
) -> None:
    src, built = source
    dst = LayoutStore(tmp_path / "dst", create=True)
    copy(src, dst, "v1")
    (dst.path / "blobs" / "sha256" / built.digest.hex).unlink()  # index.json still lists it
    with pytest.raises(NotFound, match="missing"):
        dst.resolve("v1")
    report = copy(src, dst, "v1")
    assert report.manifests_copied == (built.digest,) and report.tags_present == ("v1",)
    assert len(dst.entries()) == 1
    _assert_complete(dst, built)


@pytest.mark.integration
def test_copy_from_a_lying_or_failing_registry(
    tmp_path: Path, registry_http: RunningRegistry, repo_name: str, source: tuple[LayoutStore, scratch.Built]
) -> None:
    from slsacheck.errors import RegistryError
    from slsacheck.oci._http import RegistryClient
    from slsacheck.oci.registry import RegistryStore
    from tests.support.proxy import run_proxy

    layout, built = source
    copy(layout, registry_http.store(repo_name), "v1")
    layer, _ = built.children[1].blobs[1]
    dst = LayoutStore(tmp_path / "dst", create=True)
    with run_proxy(registry_http.host) as proxy:
        through = RegistryStore(RegistryClient(proxy.host, registry_http.options), repo_name)
        proxy.tamper(f"/blobs/{layer.digest}")
        with pytest.raises(DigestMismatch):
            copy(through, dst, "v1")
        assert not dst.blob_exists(layer.digest) and list(dst.tags()) == []
        proxy.clear()
        proxy.truncate(f"/blobs/{layer.digest}", keep=10)
        with pytest.raises((RegistryError, DigestMismatch)):
            copy(through, dst, "v1")
        assert not dst.blob_exists(layer.digest) and list(dst.tags()) == []
        proxy.clear()
        report = copy(through, dst, "v1")
    # Only what the failed runs could not finish is sent now: the first image arrived
    # whole, the second one's config too; its layer, its manifest, the index and the tag did not.
    assert report.manifests_present == (built.children[0].digest,)
    assert report.blobs_present == (built.children[1].blobs[0][0].digest,)
    assert report.blobs_copied == (layer.digest,)
    assert set(report.manifests_copied) == {built.children[1].digest, built.digest}
    _assert_complete(dst, built)
