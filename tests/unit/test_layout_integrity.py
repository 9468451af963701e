"""LayoutStore fails closed on damaged layouts: missing, tampered, truncated and oversize
content, bad index.json, and writes that fail or are killed half-way never leave a blob
whose name does not match its bytes."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys

import pytest

from slsacheck.errors import DigestMismatch, NotFound, StoreError, TooLarge
from slsacheck.models import Descriptor, Digest
from slsacheck.models import mediatypes as mt
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore, MissingBlob
from tests.support.env import ROOT
from tests.support.layout import blob_file, index_json, store

__all__ = ["store"]  # the fixture, imported for pytest


def test_missing_blob_names_blob_and_layout(store: LayoutStore) -> None:
    img = scratch.image({"f": b"1"})
    scratch.push(store, img, tag="t")
    layer, _ = img.blobs[1]
    blob_file(store.path, layer.digest).unlink()
    with pytest.raises(MissingBlob) as info:
        store.fetch_blob(layer)
    message = info.value.diagnostics()
    assert str(layer.digest) in message and str(store.path) in message and "hint:" in message
    with pytest.raises(MissingBlob), store.open_blob(layer):
        pass
    assert not store.blob_exists(layer.digest)
    blob_file(store.path, img.digest).unlink()
    with pytest.raises(NotFound, match=img.digest.hex):
        store.fetch_manifest("t")


def test_tampered_blob_and_manifest_are_refused(store: LayoutStore) -> None:
    img = scratch.image({"f": b"1"})
    scratch.push(store, img, tag="t")
    config, data = img.blobs[0]
    path = blob_file(store.path, config.digest)
    path.write_bytes(data.replace(b"amd64", b"arm64"))  # same size, other bytes
    with pytest.raises(DigestMismatch) as info:
        store.fetch_blob(config)
    assert info.value.expected is not None and info.value.expected.startswith(str(config.digest))
    assert info.value.found is not None and info.value.found.startswith("sha256:")
    with pytest.raises(DigestMismatch), store.open_blob(config) as f:
        f.read()
    manifest_path = blob_file(store.path, img.digest)
    manifest_path.write_bytes(img.manifest.replace(b'"schemaVersion":2', b'"schemaVersion":2 '))
    with pytest.raises(DigestMismatch):
        store.fetch_manifest("t")
    with pytest.raises(DigestMismatch):
        store.fetch_manifest(str(img.digest))


def test_truncated_and_extended_blobs_are_refused(store: LayoutStore) -> None:
    img = scratch.image({"f": b"1" * 5000})
    scratch.push(store, img, tag="t")
    layer, data = img.blobs[1]
    path = blob_file(store.path, layer.digest)
    path.write_bytes(data[:-10])
    with pytest.raises(DigestMismatch, match="digest mismatch"):
        store.fetch_blob(layer)
    with pytest.raises(DigestMismatch), store.open_blob(layer):
        pass
    path.write_bytes(data + b"extra")
    with pytest.raises(DigestMismatch):
        store.fetch_blob(layer)
    with pytest.raises(DigestMismatch), store.open_blob(layer):
        pass


def test_streamed_read_in_small_pieces_checks_at_the_end(store: LayoutStore) -> None:
    payload = os.urandom(300_000)
    d = Descriptor.of(payload, "application/octet-stream")
    store.push_blob(d, payload)
    with store.open_blob(d) as f:
        got = b"".join(iter(lambda: f.read(4096), b""))
    assert got == payload
    tampered = bytearray(payload)
    tampered[-1] ^= 1
    blob_file(store.path, d.digest).write_bytes(bytes(tampered))
    with store.open_blob(d) as f:
        f.read(1000)  # bytes before the end cannot be judged yet
        with pytest.raises(DigestMismatch):
            f.read()


def test_caps(store: LayoutStore) -> None:
    big = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "layers": [],
                      "annotations": {"pad": "x" * mt.MAX_MANIFEST_SIZE}}).encode()
    with pytest.raises(TooLarge):
        store.push_manifest(big, mt.OCI_MANIFEST)
    # An oversize manifest placed by another tool is refused before it is read whole.
    digest = Digest.of(big)
    blob_file(store.path, digest).write_bytes(big)
    with pytest.raises(TooLarge):
        store.fetch_manifest(str(digest))
    doc = index_json(store.path)
    doc["manifests"].append({"mediaType": mt.OCI_MANIFEST, "digest": str(digest), "size": len(big),
                             "annotations": {mt.ANN_REF_NAME: "big"}})
    (store.path / "index.json").write_text(json.dumps(doc))
    with pytest.raises(TooLarge, match="larger than allowed"):
        store.fetch_manifest("big")
    blob = b"y" * 2048
    d = Descriptor.of(blob, "application/octet-stream")
    store.push_blob(d, blob)
    with pytest.raises(TooLarge):
        store.fetch_blob(d, max_size=1024)
    assert store.fetch_blob(d, max_size=2048) == blob


def test_push_blob_checks_bytes_and_leaves_nothing_on_failure(store: LayoutStore) -> None:
    good = b"content" * 1000
    d = Descriptor.of(good, "application/octet-stream")
    with pytest.raises(DigestMismatch):
        store.push_blob(d, b"other!!" * 1000)
    with pytest.raises(DigestMismatch):
        store.push_blob(d, good[:-1])
    with pytest.raises(DigestMismatch):
        store.push_blob(d, io.BytesIO(good + b"more"))

    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.sent = False

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            if self.sent:
                raise KeyboardInterrupt  # the user pressed ^C mid-copy
            self.sent = True
            return good[:100]

    with pytest.raises(KeyboardInterrupt):
        store.push_blob(d, Broken())  # type: ignore[arg-type]
    assert not store.blob_exists(d.digest)
    assert os.listdir(store.path / "blobs" / "sha256") == []
    store.push_blob(d, io.BytesIO(good))
    assert store.fetch_blob(d) == good


_KILLED_WRITER = """
import sys, time
from slsacheck.models import Descriptor
from slsacheck.oci.layout import LayoutStore

class Slow:
    def __init__(self):
        self.n = 0
    def read(self, size=-1):
        self.n += 1
        if self.n == 1:
            return b"a" * 65536
        print("half-written", flush=True)
        time.sleep(60)
        return b""

data = b"a" * 131072
LayoutStore(sys.argv[1]).push_blob(Descriptor.of(data, "application/octet-stream"), Slow())
"""


def test_killed_writer_leaves_no_blob_under_the_digest_name(store: LayoutStore) -> None:
    data = b"a" * 131072
    d = Descriptor.of(data, "application/octet-stream")
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(store.path)],
                            stdout=subprocess.PIPE, cwd=ROOT, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "half-written"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert not store.blob_exists(d.digest)  # only a temporary file, never the digest's name
    assert os.listdir(store.path / "blobs" / "sha256") == []  # and not among the blobs
    store.push_blob(d, data)
    assert store.fetch_blob(d) == data


def test_corrupt_index_json(store: LayoutStore) -> None:
    (store.path / "index.json").write_text("{not json")
    with pytest.raises(StoreError, match=r"index\.json is not valid JSON"):
        list(store.tags())
    (store.path / "index.json").write_text('{"manifests":[{"digest":"sha256:zz"}]}')
    with pytest.raises(StoreError):
        store.resolve("x")
