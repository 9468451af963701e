"""LayoutStore keeps the Store promises on a real directory: exact round trips, cosign-save
entry kinds, reachability of untagged manifests, referrers, deletes, concurrent writers.
Damaged layouts are in test_layout_integrity.py."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from slsacheck.errors import NotFound, StoreError
from slsacheck.models import Descriptor, Digest, Platform
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import MalformedManifest
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore, MissingBlob
from slsacheck.oci.store import Store
from tests.support.env import shared_file
from tests.support.images import COSIGN_SAVED, cosign_saved_layout
from tests.support.layout import blob_file, index_json, store

__all__ = ["store"]  # the fixture, imported for pytest


def test_create_writes_an_empty_layout(tmp_path: Path) -> None:
    s = LayoutStore(tmp_path / "new", create=True)
    assert isinstance(s, Store)
    assert json.loads((tmp_path / "new" / "oci-layout").read_bytes()) == {"imageLayoutVersion": "1.0.0"}
    assert index_json(tmp_path / "new")["manifests"] == []
    assert list(s.tags()) == []
    assert s.location == f"oci:{tmp_path / 'new'}"
    # Opening it again (with or without create) sees the same layout.
    assert list(LayoutStore(tmp_path / "new").tags()) == []
    assert list(LayoutStore(tmp_path / "new", create=True).tags()) == []


def test_not_a_layout_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is not an OCI image layout"):
        LayoutStore(tmp_path / "absent")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="not empty"):
        LayoutStore(tmp_path / "full", create=True)
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "oci-layout").write_text('{"imageLayoutVersion":"2.0.0"}')
    with pytest.raises(StoreError, match="unsupported OCI layout version"):
        LayoutStore(tmp_path / "v2")


def test_image_round_trip_is_byte_exact(store: LayoutStore) -> None:
    img = scratch.image({"hello.txt": b"hello\n"})
    pushed = scratch.push(store, img, tag="v1")
    assert pushed.digest == img.digest
    assert store.resolve("v1") == Descriptor(mt.OCI_MANIFEST, img.digest, len(img.manifest))
    assert store.resolve(str(img.digest)).digest == img.digest
    fetched = store.fetch_manifest("v1")
    assert fetched.raw == img.manifest
    assert fetched.config is not None
    assert store.fetch_blob(fetched.config) == img.blobs[0][1]
    with store.open_blob(fetched.layers[0]) as f:
        assert f.read() == img.blobs[1][1]
    assert list(store.tags()) == ["v1"]
    (entry,) = index_json(store.path)["manifests"]
    assert entry["annotations"] == {"kind": mt.KIND_IMAGE, mt.ANN_REF_NAME: "v1"}


def test_index_entry_kinds_follow_cosign_save(store: LayoutStore) -> None:
    idx = scratch.index(
        [scratch.image({"a": b"1"}, platform=Platform("linux", "amd64")),
         scratch.image({"a": b"2"}, platform=Platform("linux", "arm64"))]
    )
    scratch.push(store, idx, tag="multi")
    sig = scratch.image({"sig": b"s"})
    att = scratch.image({"att": b"a"})
    scratch.push(store, sig, tag=f"{idx.digest.tag_form}.sig")
    scratch.push(store, att, tag=f"{idx.digest.tag_form}.att")
    listed = index_json(store.path)["manifests"]
    kinds = {e["annotations"].get(mt.ANN_REF_NAME): e["annotations"]["kind"] for e in listed}
    # The children were pushed untagged first; the index now reaches them, so their
    # own entries are gone and index.json lists exactly the three tagged manifests.
    assert kinds == {
        "multi": mt.KIND_IMAGE_INDEX,
        f"{idx.digest.tag_form}.sig": mt.KIND_SIGS,
        f"{idx.digest.tag_form}.att": mt.KIND_ATTS,
    }
    children = store.fetch_manifest("multi").children
    assert [str(c.platform) for c in children] == ["linux/amd64", "linux/arm64"]
    assert store.fetch_manifest(str(children[1].digest)).raw == idx.children[1].manifest


def test_untagged_manifest_stays_reachable_until_tagged(store: LayoutStore) -> None:
    img = scratch.image({"f": b"x"})
    scratch.push(store, img)
    (entry,) = index_json(store.path)["manifests"]
    assert entry["digest"] == str(img.digest)
    assert mt.ANN_REF_NAME not in entry["annotations"]
    assert list(store.tags()) == []
    store.push_manifest(img.manifest, img.media_type, tag="now")
    (entry,) = index_json(store.path)["manifests"]
    assert entry["annotations"][mt.ANN_REF_NAME] == "now"
    # Re-pushing untagged adds nothing: the tagged entry already keeps it.
    store.push_manifest(img.manifest, img.media_type)
    assert len(index_json(store.path)["manifests"]) == 1


def test_retag_replaces_and_unknown_fields_survive(store: LayoutStore) -> None:
    first, second = scratch.image({"f": b"1"}), scratch.image({"f": b"2"})
    scratch.push(store, first, tag="t")
    doc = index_json(store.path)
    doc["manifests"][0]["annotations"]["com.example.note"] = "kept"
    doc["manifests"].append({"mediaType": mt.OCI_MANIFEST, "digest": str(first.digest), "size": len(first.manifest),
                             "annotations": {mt.ANN_REF_NAME: "other"}, "x-vendor": [1, 2]})
    doc["x-top"] = True
    (store.path / "index.json").write_text(json.dumps(doc))
    scratch.push(store, second, tag="t")
    assert store.resolve("t").digest == second.digest
    after = index_json(store.path)
    assert after["x-top"] is True
    vendor = next(e for e in after["manifests"] if e.get("x-vendor") == [1, 2])
    assert vendor["annotations"][mt.ANN_REF_NAME] == "other"
    assert sorted(store.tags()) == ["other", "t"]


def test_manifest_naming_absent_blobs_is_refused(store: LayoutStore) -> None:
    img = scratch.image({"f": b"1"})
    with pytest.raises(MissingBlob, match="not in the layout") as info:
        store.push_manifest(img.manifest, img.media_type, tag="t")
    assert isinstance(info.value, NotFound) and isinstance(info.value, StoreError)
    assert info.value.hint is not None and "push blobs" in info.value.hint
    idx = scratch.index([img])
    for d, data in img.blobs:
        store.push_blob(d, data)
    with pytest.raises(MissingBlob, match=str(img.digest)):
        store.push_manifest(idx.manifest, idx.media_type, tag="t")
    assert list(store.tags()) == []


def test_manifest_media_type_must_agree(store: LayoutStore) -> None:
    img = scratch.image({"f": b"1"})
    for d, data in img.blobs:
        store.push_blob(d, data)
    with pytest.raises(MalformedManifest, match="media type disagrees"):
        store.push_manifest(img.manifest, mt.DOCKER_MANIFEST)


def test_concurrent_tagging_loses_no_entry(tmp_path: Path) -> None:
    path = tmp_path / "layout"
    LayoutStore(path, create=True)
    images = [scratch.image({"f": str(i).encode()}) for i in range(12)]
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            scratch.push(LayoutStore(path), images[i], tag=f"t{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(images))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    store = LayoutStore(path)
    assert sorted(store.tags()) == sorted(f"t{i}" for i in range(12))
    for i, img in enumerate(images):
        assert store.resolve(f"t{i}").digest == img.digest


def test_referrers_by_subject_and_fallback_tag(store: LayoutStore) -> None:
    img = scratch.image({"f": b"1"})
    subject = scratch.push(store, img, tag="app")
    bundle = scratch.artifact(subject, "application/vnd.dev.sigstore.bundle.v0.3+json", b"{}",
                              mt.SIGSTORE_BUNDLE_V03, annotations={"k": "v"})
    sbom = scratch.artifact(subject, "application/spdx+json", b"{ }", "application/spdx+json")
    scratch.push(store, bundle)
    scratch.push(store, sbom)
    other = scratch.artifact(Descriptor.of(b"nope", mt.OCI_MANIFEST), "application/spdx+json", b"[]",
                             "application/spdx+json")
    scratch.push(store, other)
    found = store.referrers(subject.digest)
    assert {d.digest for d in found} == {bundle.digest, sbom.digest}
    (only,) = store.referrers(subject.digest, artifact_type=mt.SIGSTORE_BUNDLE_V03)
    assert only.digest == bundle.digest and only.annotations == {"k": "v"}
    assert store.referrers(Digest.of(b"unrelated")) == []

    # A registry without the referrers API keeps them in an index tagged sha256-<hex>.
    listed = Descriptor("application/vnd.oci.image.manifest.v1+json", Digest.of(b"listed"), 3,
                        artifact_type="application/example")
    fallback = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}).encode()
    d = store.push_manifest(fallback, mt.OCI_INDEX, tag=subject.digest.tag_form)
    assert d.digest == Digest.of(fallback)
    fallback_listing = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
                                   "manifests": [listed.to_json()]}).encode()
    # Write it as another tool would: the listed manifest itself is not in the layout.
    blob_file(store.path, Digest.of(fallback_listing)).write_bytes(fallback_listing)
    doc = index_json(store.path)
    for e in doc["manifests"]:
        if e["annotations"].get(mt.ANN_REF_NAME) == subject.digest.tag_form:
            e["digest"], e["size"] = str(Digest.of(fallback_listing)), len(fallback_listing)
    (store.path / "index.json").write_text(json.dumps(doc))
    assert listed.digest in {x.digest for x in store.referrers(subject.digest)}
    assert [x.digest for x in store.referrers(subject.digest, artifact_type="application/example")] == [listed.digest]


def test_delete_manifest_keeps_what_an_index_still_needs(store: LayoutStore) -> None:
    a, b = scratch.image({"f": b"a"}), scratch.image({"f": b"b"})
    idx = scratch.index([a, b])
    scratch.push(store, idx, tag="multi")
    solo = scratch.image({"f": b"solo"})
    scratch.push(store, solo, tag="solo")
    store.delete_manifest(solo.digest)
    assert list(store.tags()) == ["multi"]
    assert not store.blob_exists(solo.digest)
    store.delete_manifest(a.digest)  # listed by "multi": the bytes must stay
    assert store.fetch_manifest(str(a.digest)).raw == a.manifest
    with pytest.raises(NotFound):
        store.delete_manifest(Digest.of(b"never there"))


def test_cosign_save_layout_without_tags(tmp_path: Path) -> None:
    path = tmp_path / "saved"
    store = LayoutStore(path, create=True)
    img, sig = scratch.image({"f": b"1"}), scratch.image({"sig": b"1"})
    for built in (img, sig):
        for d, data in built.blobs:
            store.push_blob(d, data)
        store.push_blob(built.descriptor, built.manifest)
    doc = index_json(path)
    doc["manifests"] = [
        {"mediaType": mt.OCI_MANIFEST, "digest": str(img.digest), "size": len(img.manifest),
         "annotations": {"kind": mt.KIND_IMAGE}},
        {"mediaType": mt.OCI_MANIFEST, "digest": str(sig.digest), "size": len(sig.manifest),
         "annotations": {"kind": mt.KIND_SIGS}},
    ]
    (path / "index.json").write_text(json.dumps(doc))
    assert store.default_reference() == str(img.digest)
    assert store.resolve("latest").digest == img.digest  # `oci:DIR` names the saved image
    assert [e.annotations["kind"] for e in store.entries()] == [mt.KIND_IMAGE, mt.KIND_SIGS]
    doc["manifests"][1]["annotations"]["kind"] = mt.KIND_IMAGE
    (path / "index.json").write_text(json.dumps(doc))
    with pytest.raises(StoreError, match="which one"):
        store.resolve("latest")


def test_ambiguous_tag_and_unknown_tag(store: LayoutStore) -> None:
    a, b = scratch.image({"f": b"a"}), scratch.image({"f": b"b"})
    scratch.push(store, a, tag="t")
    scratch.push(store, b, tag="u")
    doc = index_json(store.path)
    doc["manifests"][1]["annotations"][mt.ANN_REF_NAME] = "t"
    (store.path / "index.json").write_text(json.dumps(doc))
    with pytest.raises(StoreError, match="more than one manifest"):
        store.resolve("t")
    with pytest.raises(NotFound, match="'nope' not found"):
        store.resolve("nope")


def test_reads_a_real_cosign_save_layout(tmp_path: Path) -> None:
    path = cosign_saved_layout(tmp_path)
    digest = Digest.parse(shared_file("anchors", "verify", f"{COSIGN_SAVED}.digest").read_text().strip())
    store = LayoutStore(path)
    assert store.default_reference() == str(digest)
    index = store.fetch_manifest("latest")
    assert index.digest == digest and index.is_index
    kinds = {e.annotations["kind"]: e for e in store.entries()}
    assert set(kinds) == {mt.KIND_IMAGE_INDEX, mt.KIND_ATTS}
    att = store.fetch_manifest(str(kinds[mt.KIND_ATTS].digest))
    (layer,) = att.layers
    assert layer.media_type == mt.DSSE_ENVELOPE
    assert json.loads(store.fetch_blob(layer))["payloadType"] == mt.IN_TOTO_PAYLOAD
    assert list(store.tags()) == []
    # The image's own manifests were not kept: a clear error naming blob and layout.
    with pytest.raises(MissingBlob) as info:
        store.fetch_manifest(str(index.children[0].digest))
    assert index.children[0].digest.hex in str(info.value) and str(path) in str(info.value)
