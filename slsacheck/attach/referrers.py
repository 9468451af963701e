"""Sigstore bundles attached to an image as OCI 1.1 referrers (cosign's BUNDLE_SPEC).

A bundle is one artifact manifest: `artifactType` = the bundle v0.3 media type, the
empty config (`{}`), one layer holding the bundle JSON, `subject` = the image, and the
annotations `dev.sigstore.bundle.content` (`message-signature` | `dsse-envelope`),
`dev.sigstore.bundle.predicateType` (DSSE only) and `org.opencontainers.image.created`.

Registries with the referrers API index such a manifest by itself. Registries without
it (Distribution 2.8, most layouts) need the referrers tag schema: an image index
tagged `sha256-<hex>` that lists every referrer of that digest. `push_bundle` asks the
store for the subject's referrers after pushing; if ours is not listed, it maintains the
fallback index itself with the same read-merge-write-read-back loop as the cosign tags
(same guarantees, same limits: see `slsacheck.attach.cosign_tags`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from slsacheck.attach.tag_names import ConcurrentUpdate, list_bundles
from slsacheck.errors import NotFound
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Descriptor, Manifest
from slsacheck.models.digest import Digest
from slsacheck.oci.store import Store, exclusive, referrer_pusher

BundleContent = Literal["message-signature", "dsse-envelope"]
# Finding bundles is the read side (`tag_names`, which verifying loads without this module).
__all__ = ["EMPTY_CONFIG", "BundleArtifact", "PushedBundle", "bundle_artifact", "fallback_tag", "list_bundles",
           "merge_fallback_index", "push_bundle"]

EMPTY_CONFIG = Descriptor.of(mt.EMPTY_JSON, mt.OCI_EMPTY)


def _descriptor_json(desc: Descriptor) -> dict[str, Any]:
    out: dict[str, Any] = {"mediaType": desc.media_type, "digest": str(desc.digest), "size": desc.size}
    if desc.artifact_type:
        out["artifactType"] = desc.artifact_type
    if desc.annotations:
        out["annotations"] = dict(desc.annotations)
    return out


@dataclass(frozen=True)
class BundleArtifact:
    """The manifest (exact bytes) and the bundle blob to push for one bundle."""

    manifest: bytes
    bundle: bytes
    annotations: Mapping[str, str]

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor.of(
            self.manifest, mt.OCI_MANIFEST, annotations=self.annotations, artifact_type=mt.SIGSTORE_BUNDLE_V03
        )

    @property
    def layer(self) -> Descriptor:
        return Descriptor.of(self.bundle, mt.SIGSTORE_BUNDLE_V03)


def bundle_artifact(
    bundle: Mapping[str, Any] | bytes,
    subject: Descriptor,
    content: BundleContent,
    *,
    predicate_type: str | None = None,
    created: datetime | None = None,
) -> BundleArtifact:
    """Build the referrer manifest for `bundle` about `subject` (pure)."""
    data = bundle if isinstance(bundle, bytes) else json.dumps(bundle, separators=(",", ":")).encode()
    when = (created or datetime.now(UTC)).astimezone(UTC)
    annotations: dict[str, str] = {mt.ANN_BUNDLE_CONTENT: content}
    if predicate_type:
        annotations[mt.ANN_BUNDLE_PREDICATE_TYPE] = predicate_type
    annotations[mt.ANN_CREATED] = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": mt.SIGSTORE_BUNDLE_V03,
        "config": _descriptor_json(EMPTY_CONFIG),
        "layers": [_descriptor_json(Descriptor.of(data, mt.SIGSTORE_BUNDLE_V03))],
        "subject": {"mediaType": subject.media_type, "digest": str(subject.digest), "size": subject.size},
        "annotations": annotations,
    }
    return BundleArtifact(json.dumps(manifest, separators=(",", ":")).encode(), data, annotations)


def fallback_tag(subject: Digest) -> str:
    """The referrers tag schema: `<alg>-<hex>` (truncated as the distribution spec says)."""
    return f"{subject.algorithm[:32]}-{subject.hex[:64]}"


def merge_fallback_index(existing: Manifest | None, entry: Descriptor) -> bytes | None:
    """The fallback index with `entry` added, or None if it is already listed (pure)."""
    manifests: list[dict[str, Any]] = []
    top: dict[str, Any] = {}
    if existing is not None:
        top = {k: v for k, v in existing.json.items() if k not in {"manifests", "schemaVersion", "mediaType"}}
        manifests = [dict(m) for m in existing.json.get("manifests") or []]
    if any(m.get("digest") == str(entry.digest) for m in manifests):
        return None
    manifests.append(_descriptor_json(entry))
    index: dict[str, Any] = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": manifests}
    index.update(top)
    return json.dumps(index, separators=(",", ":")).encode()


@dataclass(frozen=True)
class PushedBundle:
    manifest: Descriptor
    via: Literal["referrers", "fallback-tag", "registry"]


def _listed(store: Store, subject: Digest, digest: Digest) -> bool:
    return any(d.digest == digest for d in store.referrers(subject, artifact_type=mt.SIGSTORE_BUNDLE_V03))


def push_bundle(
    store: Store,
    subject: Descriptor,
    artifact: BundleArtifact,
    *,
    attempts: int = 5,
    backoff: float = 0.05,
) -> PushedBundle:
    """Push the bundle blob, the empty config, the manifest, and make it findable."""
    # The bundle carries a new signature, so the registry cannot have it; "{}" it usually has.
    store.push_blob(artifact.layer, artifact.bundle, fresh=True)
    store.push_blob(EMPTY_CONFIG, mt.EMPTY_JSON)
    native = referrer_pusher(store)
    if native is not None:
        # The registry store knows whether the registry indexes referrers (OCI-Subject)
        # and maintains the fallback index itself when it does not.
        return PushedBundle(native.push_referrer(artifact.manifest, mt.OCI_MANIFEST), "registry")
    written = store.push_manifest(artifact.manifest, mt.OCI_MANIFEST)
    if _listed(store, subject.digest, written.digest):
        return PushedBundle(written, "referrers")
    tag = fallback_tag(subject.digest)
    entry = artifact.descriptor
    for attempt in range(1, attempts + 1):
        with exclusive(store):
            try:
                current: Manifest | None = store.fetch_manifest(tag)
            except NotFound:
                current = None
            index = merge_fallback_index(current, entry)
            if index is not None:
                store.push_manifest(index, mt.OCI_INDEX, tag=tag)
            if _listed(store, subject.digest, written.digest):
                return PushedBundle(written, "fallback-tag")
        time.sleep(backoff * attempt)
    raise ConcurrentUpdate(
        f"{store.location}:{tag}: the referrers index kept losing our bundle ({attempts} attempts)",
        expected=f"{written.digest} listed among the referrers of {subject.digest}",
        found="another writer's index without it",
        hint="several signers are attaching bundles at once; attach again when they are done",
    )
