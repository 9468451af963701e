"""RegistryStore round trips against the real Distribution registry on loopback."""

from __future__ import annotations

import io
import json
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest

from slsacheck.errors import DigestMismatch, NotFound, RegistryError
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Descriptor
from slsacheck.models.digest import Digest
from slsacheck.models.reference import ImageRef
from slsacheck.oci import RegistryClient, RegistryOptions, RegistryStore, Store, open_store
from tests.support.registry import PushedImage, RunningRegistry, free_port, image_manifest

pytestmark = pytest.mark.integration


def test_store_protocol(registry_http: RunningRegistry) -> None:
    assert isinstance(registry_http.store("a/b"), Store)
    assert registry_http.store("a/b").location == f"{registry_http.host}/a/b"


def test_image_round_trip_by_tag_and_digest(
    registry_tls: RunningRegistry, repo_name: str, pushed_image: Callable[..., PushedImage]
) -> None:
    image = pushed_image(registry_tls, repo_name, "v1")
    store = registry_tls.store(repo_name)
    for reference in ("v1", str(image.manifest.digest)):
        desc = store.resolve(reference)
        assert (desc.media_type, desc.digest, desc.size) == (mt.OCI_MANIFEST, image.manifest.digest,
                                                             len(image.manifest_bytes))
        manifest = store.fetch_manifest(reference)
        assert manifest.raw == image.manifest_bytes
        assert manifest.digest == image.manifest.digest
        assert manifest.config == image.config
    assert store.fetch_blob(image.config) == image.config_bytes
    assert store.blob_exists(image.layer.digest)
    with store.open_blob(image.layer) as fh:
        assert fh.read() == image.layer_bytes


def test_manifest_bytes_are_kept_exactly(registry_http: RunningRegistry, repo_name: str,
                                         pushed_image: Callable[..., PushedImage]) -> None:
    image = pushed_image(registry_http, repo_name, "base")
    store = registry_http.store(repo_name)
    # Odd but valid JSON: spacing and key order a re-serialisation would change.
    raw = b'{ "schemaVersion" :2,\n  "mediaType":"' + mt.OCI_MANIFEST.encode() + b'", "layers":[' + json.dumps(
        image.layer.to_json()).encode() + b'],"config":' + json.dumps(image.config.to_json()).encode() + b"}\n"
    desc = store.push_manifest(raw, mt.OCI_MANIFEST, tag="odd")
    assert desc.digest == Digest.of(raw)
    assert store.fetch_manifest("odd").raw == raw
    assert store.fetch_manifest(str(desc.digest)).raw == raw


def test_index_round_trip(registry_http: RunningRegistry, repo_name: str,
                          pushed_image: Callable[..., PushedImage]) -> None:
    store = registry_http.store(repo_name)
    children = [pushed_image(registry_http, repo_name, None, seed=arch) for arch in ("amd64", "arm64")]
    index = json.dumps({
        "schemaVersion": 2, "mediaType": mt.OCI_INDEX,
        "manifests": [dict(c.manifest.to_json(), platform={"os": "linux", "architecture": arch})
                      for c, arch in zip(children, ("amd64", "arm64"), strict=True)],
    }).encode()
    desc = store.push_manifest(index, mt.OCI_INDEX, tag="multi")
    assert store.resolve("multi") == Descriptor(mt.OCI_INDEX, desc.digest, len(index))
    fetched = store.fetch_manifest("multi")
    assert fetched.is_index
    assert [str(c.platform) for c in fetched.children] == ["linux/amd64", "linux/arm64"]


def test_blob_push_is_idempotent_and_chunked_for_large_blobs(registry_http: RunningRegistry, repo_name: str) -> None:
    options = RegistryOptions(docker_config=registry_http.options.docker_config, chunk_size=64 * 1024)
    store = registry_http.store(repo_name, options)
    data = secrets.token_bytes(300 * 1024 + 17)  # five chunks, the last one short
    desc = Descriptor.of(data, mt.OCI_LAYER)
    store.push_blob(desc, data)
    assert store.fetch_blob(desc) == data
    store.push_blob(desc, data)  # present: no-op
    # Streamed from a file, chunked too.
    other = secrets.token_bytes(200 * 1024)
    other_desc = Descriptor.of(other, mt.OCI_LAYER)
    store.push_blob(other_desc, io.BytesIO(other))
    with store.open_blob(other_desc) as fh:
        assert fh.read() == other
    # Small and streamed: monolithic.
    small = b"small blob"
    store.push_blob(Descriptor.of(small, mt.OCI_LAYER), io.BytesIO(small))
    assert store.fetch_blob(Descriptor.of(small, mt.OCI_LAYER)) == small


def test_push_refuses_bytes_that_do_not_match_the_descriptor(registry_http: RunningRegistry, repo_name: str) -> None:
    store = registry_http.store(repo_name, RegistryOptions(chunk_size=1024))
    good = secrets.token_bytes(4096)
    desc = Descriptor.of(good, mt.OCI_LAYER)
    bad = good[:-1] + b"\x00"
    with pytest.raises(DigestMismatch):
        store.push_blob(desc, bad)
    with pytest.raises(DigestMismatch):
        store.push_blob(desc, io.BytesIO(bad))  # chunked stream: checked before the commit
    small = Descriptor.of(b"abc", mt.OCI_LAYER)
    with pytest.raises(DigestMismatch):
        store.push_blob(small, io.BytesIO(b"abd"))
    assert not store.blob_exists(desc.digest)
    assert not store.blob_exists(small.digest)


def test_missing_things_are_not_found(registry_http: RunningRegistry, repo_name: str,
                                      pushed_image: Callable[..., PushedImage]) -> None:
    store = registry_http.store(repo_name)
    with pytest.raises(NotFound) as err:
        store.resolve("nope")
    assert err.value.status == 404 and err.value.registry == registry_http.host
    pushed_image(registry_http, repo_name, "v1")
    with pytest.raises(NotFound) as err:
        store.fetch_manifest("nope")
    assert "MANIFEST_UNKNOWN" in err.value.codes and repo_name in err.value.message
    absent = Descriptor.of(b"never pushed", mt.OCI_LAYER)
    assert not store.blob_exists(absent.digest)
    with pytest.raises(NotFound) as err:
        store.fetch_blob(absent)
    assert "BLOB_UNKNOWN" in err.value.codes
    assert err.value.hint


def test_tags_lists_every_tag(registry_http: RunningRegistry, repo_name: str,
                              pushed_image: Callable[..., PushedImage]) -> None:
    # Distribution 2.8 answers in one page whatever `n` says; paging is tested through the
    # proxy in test_registry_faults.py.
    image = pushed_image(registry_http, repo_name, "t00")
    store = registry_http.store(repo_name, RegistryOptions(tags_page_size=3))
    names = [f"t{i:02d}" for i in range(1, 11)]
    for name in names:
        store.push_manifest(image.manifest_bytes, mt.OCI_MANIFEST, tag=name)
    assert sorted(store.tags()) == ["t00", *names]


def test_mount_blob_across_repositories(registry_auth: RunningRegistry, repo_name: str,
                                        pushed_image: Callable[..., PushedImage]) -> None:
    image = pushed_image(registry_auth, repo_name, "v1")
    target = registry_auth.store(repo_name + "-copy")
    assert not target.blob_exists(image.layer.digest)
    assert target.mount_blob(image.layer, repo_name)
    assert target.fetch_blob(image.layer) == image.layer_bytes
    # A blob the source does not have: the registry declines and no upload is left open.
    absent = Descriptor.of(b"not there", mt.OCI_LAYER)
    assert not target.mount_blob(absent, repo_name)


def _referrer(store: RegistryStore, subject: PushedImage, artifact_type: str, note: str) -> bytes:
    payload = note.encode()
    layer = Descriptor.of(payload, "application/vnd.example.note")
    empty = Descriptor.of(mt.EMPTY_JSON, mt.OCI_EMPTY)
    store.push_blob(layer, payload)
    store.push_blob(empty, mt.EMPTY_JSON)
    return image_manifest(empty, [layer], artifactType=artifact_type, subject=subject.manifest.to_json(),
                          annotations={"note": note})


def test_referrers_fallback_tag_schema(registry_http: RunningRegistry, repo_name: str,
                                       pushed_image: Callable[..., PushedImage]) -> None:
    """Distribution 2.8 has no referrers API: the `sha256-<hex>` index is written and read."""
    image = pushed_image(registry_http, repo_name, "v1")
    store = registry_http.store(repo_name)
    assert store.referrers(image.manifest.digest) == []
    first = store.push_referrer(_referrer(store, image, "application/vnd.example.a", "one"), mt.OCI_MANIFEST)
    second = store.push_referrer(_referrer(store, image, "application/vnd.example.b", "two"), mt.OCI_MANIFEST)
    store.push_referrer(_referrer(store, image, "application/vnd.example.a", "one"), mt.OCI_MANIFEST)  # again
    found = store.referrers(image.manifest.digest)
    assert [d.digest for d in found] == [first.digest, second.digest]
    assert found[0].artifact_type == "application/vnd.example.a"
    assert found[0].annotations == {"note": "one"}
    only_b = store.referrers(image.manifest.digest, artifact_type="application/vnd.example.b")
    assert [d.digest for d in only_b] == [second.digest]
    index = store.fetch_manifest(image.manifest.digest.tag_form)
    assert index.media_type == mt.OCI_INDEX and len(index.children) == 2


def test_push_referrer_needs_a_subject(registry_http: RunningRegistry, repo_name: str,
                                       pushed_image: Callable[..., PushedImage]) -> None:
    image = pushed_image(registry_http, repo_name, "v1")
    with pytest.raises(Exception, match="no 'subject'"):
        registry_http.store(repo_name).push_referrer(image.manifest_bytes, mt.OCI_MANIFEST)


def test_open_store(registry_http: RunningRegistry, repo_name: str, pushed_image: Callable[..., PushedImage]) -> None:
    image = pushed_image(registry_http, repo_name, "v1")
    store = open_store(registry_http.ref(repo_name, "v1"), registry_http.options)
    assert isinstance(store, RegistryStore)
    assert store.resolve("v1").digest == image.manifest.digest
    again = open_store(registry_http.ref(repo_name), registry_http.options)
    assert isinstance(again, RegistryStore) and again.client is store.client  # one client per registry


def test_open_store_layout(tmp_path: Path) -> None:
    path = tmp_path / "layout"
    store = open_store(ImageRef.parse(f"oci:{path}"), create=True)
    assert not isinstance(store, RegistryStore)
    assert isinstance(store, Store)
    assert (path / "oci-layout").exists()


def test_unreachable_registry_is_a_registry_error() -> None:
    store = RegistryStore(RegistryClient(f"127.0.0.1:{free_port()}", RegistryOptions(retries=1, timeout=2)), "x")
    with pytest.raises(RegistryError, match="cannot reach") as err:
        store.resolve("v1")
    assert err.value.hint
