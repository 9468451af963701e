"""cosign's tag scheme: `<repo>:sha256-<hex>.sig` and `<repo>:sha256-<hex>.att`.

Each tag names ONE OCI image manifest; every signature (or attestation) is one more
layer of it, described by annotations (`dev.cosignproject.cosign/signature`, and for
keyless the certificate, chain and Rekor bundle). The config blob is what cosign writes
for these images: an empty-platform image config whose `rootfs.diff_ids` lists the
layer digests, so the manifest we write is the one cosign would write.

The pure half (`signature_layer`, `attestation_layer`, `merge_layers`) builds manifests
and never touches a store. The I/O half (`append_layers`) writes through a `Store`.

What appending guarantees, and what it cannot:

- every layer already in the tag is kept, byte for byte (unknown fields included);
  a layer identical to one already there (same media type, digest and annotations)
  is not added twice, so re-running `sign` with a deterministic signature is a no-op;
- blobs are pushed before the manifest naming them, and the manifest before the tag;
- after writing, the tag is read back; if our layers are missing (another signer
  wrote the tag between our read and our write), we merge again and retry, a bounded
  number of times, then fail with `ConcurrentUpdate`.
- on an OCI layout the whole read-merge-write runs under the layout's writer lock
  (`LayoutStore.writer_lock`, held across processes), so appends there are exact;
- NOT guaranteed: a registry has no compare-and-swap on tags, so a concurrent writer
  that read the tag before our write and writes after our read-back can still drop our
  layer later. The read-back narrows the window; it cannot close it. A signer that
  must be certain re-verifies (`slsacheck verify`) after signing.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slsacheck.attach.tag_names import ATT_SUFFIX, SIG_SUFFIX, ConcurrentUpdate, attestation_tag, signature_tag
from slsacheck.errors import NotFound
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Descriptor, Manifest
from slsacheck.oci.store import Store, exclusive

if TYPE_CHECKING:
    from slsacheck.signing.signer import Material, SignedEnvelope, SignedMessage

# The tag names live in `tag_names` (the read side, which verifying loads without this
# module); writers find them here too.
__all__ = [
    "ATT_SUFFIX", "DEFAULT_ATTEMPTS", "SIG_SUFFIX", "AppendResult", "ConcurrentUpdate", "Layer", "Merged",
    "append_layers", "attestation_layer", "attestation_tag", "cosign_config", "envelope_bytes", "merge_layers",
    "signature_layer", "signature_tag",
]
DEFAULT_ATTEMPTS = 5


@dataclass(frozen=True)
class Layer:
    """One signature or attestation: the blob and the annotations describing it."""

    data: bytes
    media_type: str
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor.of(self.data, self.media_type, annotations=self.annotations)


def _material_annotations(material: Material) -> dict[str, str]:
    out: dict[str, str] = {}
    if material.certificate:
        out[mt.ANN_CERTIFICATE] = material.certificate.decode()
    if material.chain:
        out[mt.ANN_CHAIN] = material.chain.decode()
    if material.rekor_bundle is not None:
        # cosign writes Go's default encoding of its bundle struct: compact, keys in
        # struct order (SignedEntryTimestamp, Payload{body, integratedTime, logIndex, logID}).
        out[mt.ANN_BUNDLE] = json.dumps(material.rekor_bundle, separators=(",", ":"))
    if material.rfc3161_timestamp:
        out[mt.ANN_RFC3161] = json.dumps(
            {"SignedRFC3161Timestamp": base64.b64encode(material.rfc3161_timestamp).decode()},
            separators=(",", ":"),
        )
    return out


def signature_layer(signed: SignedMessage) -> Layer:
    """The `.sig` layer for a simple-signing payload and its signature."""
    annotations = {mt.ANN_SIGNATURE: base64.b64encode(signed.signature).decode()}
    annotations.update(_material_annotations(signed.material))
    return Layer(signed.payload, mt.SIMPLE_SIGNING, annotations)


def envelope_bytes(envelope: Mapping[str, Any]) -> bytes:
    """A DSSE envelope as stored in a layer: compact JSON, fields in DSSE order."""
    return json.dumps(envelope, separators=(",", ":")).encode()


def attestation_layer(signed: SignedEnvelope, predicate_type: str) -> Layer:
    """The `.att` layer for a DSSE envelope; the signature lives inside the envelope,
    so the signature annotation is empty, as cosign writes it."""
    annotations = {mt.ANN_SIGNATURE: "", mt.ANN_PREDICATE_TYPE: predicate_type}
    annotations.update(_material_annotations(signed.material))
    return Layer(envelope_bytes(signed.envelope), mt.DSSE_ENVELOPE, annotations)


def cosign_config(layer_digests: Sequence[str]) -> bytes:
    """The image config cosign writes for a signature/attestation image."""
    config = (
        '{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],'
        '"os":"","rootfs":{"type":"layers","diff_ids":' + json.dumps(list(layer_digests), separators=(",", ":"))
        + '},"config":{}}'
    )
    return config.encode()


def _descriptor_json(desc: Descriptor) -> dict[str, Any]:
    # go-containerregistry's field order: mediaType, size, digest, annotations.
    out: dict[str, Any] = {"mediaType": desc.media_type, "size": desc.size, "digest": str(desc.digest)}
    if desc.annotations:
        out["annotations"] = dict(desc.annotations)
    return out


def _same_layer(existing: Mapping[str, Any], new: Descriptor) -> bool:
    return (
        existing.get("digest") == str(new.digest)
        and existing.get("mediaType") == new.media_type
        and dict(existing.get("annotations") or {}) == dict(new.annotations)
    )


@dataclass(frozen=True)
class Merged:
    """The manifest to write: exact bytes, its config blob, and which layers are new."""

    manifest: bytes
    config: bytes
    added: tuple[Descriptor, ...]

    @property
    def changed(self) -> bool:
        return bool(self.added)


def merge_layers(existing: Manifest | None, layers: Sequence[Descriptor]) -> Merged:
    """Append `layers` to the manifest a cosign tag points at (or to a new one).

    Existing layers are kept as the JSON they were (unknown fields and all); a new layer
    identical to an existing one, or to an earlier new one, is skipped. The config is
    recomputed because its `diff_ids` list every layer.
    """
    old_layers: list[dict[str, Any]] = []
    top: dict[str, Any] = {}
    if existing is not None:
        top = {k: v for k, v in existing.json.items() if k not in {"config", "layers"}}
        old_layers = [dict(layer) for layer in existing.json.get("layers") or []]
    added: list[Descriptor] = []
    merged = list(old_layers)
    for desc in layers:
        if any(_same_layer(layer, desc) for layer in merged):
            continue
        merged.append(_descriptor_json(desc))
        added.append(desc)
    config = cosign_config([str(layer.get("digest")) for layer in merged])
    config_desc = Descriptor.of(config, mt.OCI_CONFIG)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": top.pop("mediaType", mt.OCI_MANIFEST),
        "config": _descriptor_json(config_desc),
        "layers": merged,
    }
    top.pop("schemaVersion", None)
    manifest.update(top)
    return Merged(json.dumps(manifest, separators=(",", ":")).encode(), config, tuple(added))


# -- I/O ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppendResult:
    tag: str
    manifest: Descriptor
    added: int  # layers that were new (0: everything was already there)
    attempts: int


def _read(store: Store, tag: str) -> Manifest | None:
    try:
        return store.fetch_manifest(tag)
    except NotFound:
        return None


def _present(manifest: Manifest | None, layers: Sequence[Descriptor]) -> bool:
    if manifest is None:
        return not layers
    existing = [dict(layer) for layer in manifest.json.get("layers") or []]
    return all(any(_same_layer(old, new) for old in existing) for new in layers)


def append_layers(
    store: Store,
    tag: str,
    layers: Sequence[Layer],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    backoff: float = 0.05,
) -> AppendResult:
    """Add `layers` to the manifest at `tag`, keeping what is there; see the module
    docstring for what this guarantees under concurrent writers."""
    descriptors = [layer.descriptor for layer in layers]
    blobs = {str(d.digest): (d, layer.data) for d, layer in zip(descriptors, layers, strict=True)}
    pushed: set[str] = set()
    for attempt in range(1, attempts + 1):
        with exclusive(store):
            current = _read(store, tag)
            merged = merge_layers(current, descriptors)
            if not merged.changed and current is not None:
                return AppendResult(tag, current.descriptor, 0, attempt)
            for desc in merged.added:
                key = str(desc.digest)
                if key not in pushed:
                    store.push_blob(blobs[key][0], blobs[key][1], fresh=True)
                    pushed.add(key)
            store.push_blob(Descriptor.of(merged.config, mt.OCI_CONFIG), merged.config, fresh=True)
            written = store.push_manifest(merged.manifest, mt.OCI_MANIFEST, tag=tag)
            if _present(_read(store, tag), descriptors):
                return AppendResult(tag, written, len(merged.added), attempt)
        time.sleep(backoff * attempt)
    raise ConcurrentUpdate(
        f"{store.location}:{tag}: our layer was overwritten by another writer {attempts} times",
        expected="the tag to keep our signature after writing it",
        found="another writer's manifest without it",
        hint="several signers are updating this tag at once; sign again when they are done",
    )
