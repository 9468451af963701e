"""index.json of an OCI image layout as data: load, look up, edit, dump (no blob I/O).

Entries are kept as the raw JSON objects they were read as, so fields slsacheck does
not know (written by skopeo, buildah or cosign) survive an edit of another entry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from slsacheck._json import parse
from slsacheck.errors import StoreError
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Descriptor, MalformedManifest, Manifest
from slsacheck.models.digest import Digest

OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'
MAX_INDEX_SIZE = 64 * 1024 * 1024
DEFAULT_TAG = "latest"


def check_marker(path: Path, location: str) -> None:
    try:
        obj = parse(path.read_bytes()[:4096])
    except (OSError, ValueError) as exc:
        raise StoreError(f"{location}: unreadable oci-layout file ({exc})", repository=location) from None
    version = obj.get("imageLayoutVersion") if isinstance(obj, dict) else None
    if not isinstance(version, str) or not version.startswith("1."):
        raise StoreError(
            f"{location}: unsupported OCI layout version",
            expected="imageLayoutVersion 1.x",
            found=repr(version),
            repository=location,
        )


def new_index() -> dict[str, Any]:
    return {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}


def load_index(path: Path, location: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_INDEX_SIZE + 1)
    except FileNotFoundError:
        raise StoreError(
            f"{location}: index.json is missing",
            hint="the directory is not a complete OCI layout; copy the image into it again",
            repository=location,
        ) from None
    except OSError as exc:
        raise StoreError(f"{location}: cannot read index.json: {exc.strerror}", repository=location) from None
    if len(raw) > MAX_INDEX_SIZE:
        raise StoreError(f"{location}: index.json is larger than {MAX_INDEX_SIZE} bytes", repository=location)
    try:
        obj = parse(raw, max_bytes=MAX_INDEX_SIZE)
    except ValueError as exc:
        raise StoreError(f"{location}: index.json is not valid JSON ({exc})", repository=location) from None
    if not isinstance(obj, dict) or not isinstance(obj.get("manifests", []), list):
        raise StoreError(
            f"{location}: index.json is not an image index",
            expected='an object with a "manifests" list',
            repository=location,
        )
    obj.setdefault("manifests", [])
    return obj


def dump_index(index: dict[str, Any]) -> bytes:
    return json.dumps(index, separators=(",", ":"), ensure_ascii=False).encode()


def entries(index: dict[str, Any], location: str) -> list[Descriptor]:
    out = []
    for i, raw in enumerate(index["manifests"]):
        try:
            out.append(Descriptor.from_json(raw, f"{location} index.json manifests[{i}]"))
        except MalformedManifest as exc:
            raise StoreError(exc.message, found=exc.found, repository=location) from None
    return out


def ref_name(entry: Descriptor) -> str | None:
    return entry.annotations.get(mt.ANN_REF_NAME)


def plain(entry: Descriptor) -> Descriptor:
    """The manifest's own descriptor, without index.json's annotations."""
    return Descriptor(entry.media_type, entry.digest, entry.size, artifact_type=entry.artifact_type)


def tags(index: dict[str, Any], location: str) -> list[str]:
    seen: dict[str, None] = {}
    for entry in entries(index, location):
        name = ref_name(entry)
        if name:
            seen.setdefault(name)
    return list(seen)


def find_tag(index: dict[str, Any], tag: str, location: str) -> Descriptor | None:
    hits = [e for e in entries(index, location) if ref_name(e) == tag]
    if len({e.digest for e in hits}) > 1:
        raise StoreError(
            f"{location}: tag {tag!r} names more than one manifest",
            found=", ".join(str(e.digest) for e in hits),
            hint="the layout's index.json is ambiguous; name the image by digest",
            repository=location,
        )
    return hits[0] if hits else None


def kind_for(media_type: str, tag: str | None) -> str:
    """The `kind` annotation `cosign save` gives an entry."""
    if tag is not None and tag.endswith(".sig"):
        return mt.KIND_SIGS
    if tag is not None and tag.endswith(".att"):
        return mt.KIND_ATTS
    return mt.KIND_IMAGE_INDEX if media_type in mt.INDEX_TYPES else mt.KIND_IMAGE


def _entry_json(descriptor: Descriptor, tag: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "mediaType": descriptor.media_type,
        "digest": str(descriptor.digest),
        "size": descriptor.size,
    }
    if descriptor.artifact_type:
        out["artifactType"] = descriptor.artifact_type
    annotations = {mt.ANN_KIND: kind_for(descriptor.media_type, tag)}
    if tag is not None:
        annotations[mt.ANN_REF_NAME] = tag
    out["annotations"] = annotations
    return out


def _raw_digest(raw: Any) -> str | None:
    return raw.get("digest") if isinstance(raw, dict) else None


def _raw_tag(raw: Any) -> str | None:
    ann = raw.get("annotations") if isinstance(raw, dict) else None
    return ann.get(mt.ANN_REF_NAME) if isinstance(ann, dict) else None


def record(
    index: dict[str, Any], descriptor: Descriptor, tag: str | None, children: set[Digest], location: str
) -> None:
    """Add the entry for a pushed manifest: tagged, or untagged to keep it reachable.

    Untagged entries of the manifest's own children are dropped: the new entry reaches them.
    """
    digest = str(descriptor.digest)
    child_digests = {str(c) for c in children}
    kept = [
        raw
        for raw in index["manifests"]
        if not (_raw_tag(raw) is None and _raw_digest(raw) in child_digests)
        and not (tag is not None and _raw_tag(raw) == tag)
        and not (tag is not None and _raw_tag(raw) is None and _raw_digest(raw) == digest)
    ]
    if tag is not None or not any(_raw_digest(raw) == digest for raw in kept):
        kept.append(_entry_json(descriptor, tag))
    index["manifests"] = kept


def remove_digest(index: dict[str, Any], digest: Digest) -> bool:
    before = len(index["manifests"])
    index["manifests"] = [raw for raw in index["manifests"] if _raw_digest(raw) != str(digest)]
    return len(index["manifests"]) != before


def referrer_descriptor(manifest: Manifest) -> Descriptor:
    """A referrer as the referrers API lists it: artifactType (else the config's media
    type) and the manifest's annotations."""
    artifact_type = manifest.descriptor.artifact_type
    if artifact_type is None and manifest.config is not None:
        artifact_type = manifest.config.media_type
    return Descriptor(
        manifest.media_type,
        manifest.digest,
        manifest.descriptor.size,
        annotations=dict(manifest.annotations),
        artifact_type=artifact_type,
    )


def default_reference(index: dict[str, Any], location: str) -> str:
    listed = entries(index, location)
    if any(ref_name(e) == DEFAULT_TAG for e in listed):
        return DEFAULT_TAG
    candidates = listed
    if len(candidates) != 1:
        candidates = [
            e for e in listed if e.annotations.get(mt.ANN_KIND) in {mt.KIND_IMAGE, mt.KIND_IMAGE_INDEX}
        ]
    if len(candidates) == 1:
        return ref_name(candidates[0]) or str(candidates[0].digest)
    raise StoreError(
        f"{location} holds {len(listed)} manifests and no 'latest' tag: which one?",
        found=", ".join(ref_name(e) or str(e.digest) for e in listed) or "an empty layout",
        hint="name one as oci:DIR:TAG or oci:DIR@sha256:<hex>",
        repository=location,
    )
