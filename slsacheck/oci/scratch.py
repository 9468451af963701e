"""Small `FROM scratch` images made in Python: a tar layer of files, an OCI config, a
manifest, and indexes of several platforms. Pure functions; `push` writes one into a Store.

Output is deterministic (fixed timestamps, sorted entries, gzip without a name or
mtime), so the same files always give the same digests. The demo and the tests use these
where an image needs no outside tool; tests that need an image built by another tool use
buildah (tests/support/images.py).
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Descriptor, Platform
from slsacheck.models.digest import Digest
from slsacheck.oci.store import Store

EPOCH = "1970-01-01T00:00:00Z"


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True)
class Built:
    """A manifest (exact bytes) with the blobs and child manifests it needs."""

    manifest: bytes
    media_type: str
    blobs: tuple[tuple[Descriptor, bytes], ...] = ()
    children: tuple[Built, ...] = ()
    platform: Platform | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def digest(self) -> Digest:
        return Digest.of(self.manifest)

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.manifest), platform=self.platform)


def layer_tar(files: Mapping[str, bytes]) -> bytes:
    """An uncompressed tar of `files` (path -> content), root-owned, mode 0644, mtime 0."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name.lstrip("/"))
            info.size = len(files[name])
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(files[name]))
    return out.getvalue()


def image(
    files: Mapping[str, bytes],
    *,
    platform: Platform | None = None,
    created: str = EPOCH,
    annotations: Mapping[str, str] | None = None,
) -> Built:
    """A one-layer OCI image of `files` (gzip layer) for `platform` (default linux/amd64)."""
    platform = platform or Platform("linux", "amd64")
    tar = layer_tar(files)
    layer = gzip.compress(tar, mtime=0)
    config_json: dict[str, Any] = {
        "architecture": platform.architecture,
        "os": platform.os,
        "created": created,
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [str(Digest.of(tar))]},
        "history": [{"created": created, "created_by": "slsacheck scratch image"}],
    }
    if platform.variant:
        config_json["variant"] = platform.variant
    config = _canonical(config_json)
    config_desc = Descriptor.of(config, mt.OCI_CONFIG)
    layer_desc = Descriptor.of(layer, mt.OCI_LAYER_GZIP)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": config_desc.to_json(),
        "layers": [layer_desc.to_json()],
    }
    if annotations:
        manifest["annotations"] = dict(annotations)
    return Built(_canonical(manifest), mt.OCI_MANIFEST, ((config_desc, config), (layer_desc, layer)), platform=platform)


def index(images: Sequence[Built], *, annotations: Mapping[str, str] | None = None) -> Built:
    """An OCI image index listing `images` (each with its platform)."""
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [img.descriptor.to_json() for img in images],
    }
    if annotations:
        doc["annotations"] = dict(annotations)
    return Built(_canonical(doc), mt.OCI_INDEX, children=tuple(images))


def artifact(
    subject: Descriptor,
    artifact_type: str,
    payload: bytes,
    payload_media_type: str,
    *,
    annotations: Mapping[str, str] | None = None,
) -> Built:
    """An OCI 1.1 artifact manifest (empty config, one layer) whose subject is `subject`."""
    empty = Descriptor.of(mt.EMPTY_JSON, mt.OCI_EMPTY)
    layer = Descriptor.of(payload, payload_media_type)
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": empty.to_json(),
        "layers": [layer.to_json()],
        "subject": Descriptor(subject.media_type, subject.digest, subject.size).to_json(),
    }
    if annotations:
        doc["annotations"] = dict(annotations)
    return Built(_canonical(doc), mt.OCI_MANIFEST, ((empty, mt.EMPTY_JSON), (layer, payload)))


def push(store: Store, built: Built, *, tag: str | None = None) -> Descriptor:
    """Write `built` into `store`: blobs, then child manifests, then the manifest (tagged last)."""
    for descriptor, data in built.blobs:
        store.push_blob(descriptor, data)
    for child in built.children:
        push(store, child)
    return store.push_manifest(built.manifest, built.media_type, tag=tag)
