"""What a promotion carries: evidence about the promoted digest, and nothing else.

Whoever can push to the source repository can list anything as evidence: a whole
unsigned image in the `sha256-<hex>` referrers fallback index, a `.sig` manifest padded
with tar layers, a bundle whose listing claims one artifact type and whose manifest
another. Promotion copies into a place that trusts what arrives, so it copies only what
it can name as evidence of the promoted digest, decided from the manifests themselves
(fetched by digest, size-capped), never from a listing's say-so. These rules are pure:
they read manifests and decide; `slsacheck.promote.evidence` does the I/O.

A referrer is carried only if

- its listing names an OCI image manifest (no index, no Docker manifest), and its
  listed `artifactType`, where there is one, is a kind below;
- its manifest's `subject` is the digest it was listed for, its `artifactType` (or, for
  artifacts written before OCI 1.1, its config media type) is a kind below and agrees
  with the listing, its config is the empty descriptor (or a small one of that type);
- it has at least one layer, no more than the kind allows, every layer of a media type
  the kind holds and no larger than the evidence cap.

Kinds carried: Sigstore bundles (what `slsacheck verify` reads as signatures and
attestations), SPDX and CycloneDX SBOMs. Referrers of referrers are not carried: no
verification reads them.

A `.sig`/`.att` manifest keeps only its simple-signing (`.sig`) or DSSE envelope
(`.att`) layers no larger than the evidence cap. It is copied byte for byte only when
nothing was dropped and it is exactly what cosign writes (an OCI manifest of those
layers with cosign's config); otherwise the layers kept are written as a new cosign
manifest (`slsacheck.attach.cosign_tags`), so no padding rides along.

Every layer or referrer left behind is reported with the reason; none is dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from slsacheck.attach import cosign_tags as ct
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Descriptor, Manifest
from slsacheck.models.digest import Digest

TagKind = Literal["signatures", "attestations"]

SPDX_JSON = "application/spdx+json"
CYCLONEDX_JSON = "application/vnd.cyclonedx+json"
_BUNDLE_LAYERS = frozenset({
    mt.SIGSTORE_BUNDLE_V03,
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
})


@dataclass(frozen=True)
class ReferrerKind:
    """An artifact type promotion carries: the layer media types it holds, how many."""

    name: str
    layers: frozenset[str]
    max_layers: int


REFERRER_KINDS: Mapping[str, ReferrerKind] = {
    mt.SIGSTORE_BUNDLE_V03: ReferrerKind("Sigstore bundle", _BUNDLE_LAYERS, 1),
    SPDX_JSON: ReferrerKind("SPDX SBOM", frozenset({SPDX_JSON}), 16),
    CYCLONEDX_JSON: ReferrerKind("CycloneDX SBOM", frozenset({CYCLONEDX_JSON}), 16),
}
TAG_LAYER_TYPES: Mapping[TagKind, str] = {"signatures": mt.SIMPLE_SIGNING, "attestations": mt.DSSE_ENVELOPE}
MAX_CONFIG_SIZE = 4096  # a pre-1.1 artifact's config: a marker, not content
_COSIGN_MANIFEST_KEYS = frozenset({"schemaVersion", "mediaType", "config", "layers", "annotations"})


def listing_problem(entry: Descriptor) -> str | None:
    """Why a listed referrer is not worth fetching (None: fetch it and look)."""
    if entry.media_type != mt.OCI_MANIFEST:
        return f"listed as {entry.media_type!r}, not an OCI image manifest"
    if entry.artifact_type is not None and entry.artifact_type not in REFERRER_KINDS:
        return f"artifact type {entry.artifact_type!r} is not evidence promotion carries ({_kinds()})"
    return None


def _kinds() -> str:
    return ", ".join(k.name for k in REFERRER_KINDS.values())


def artifact_type(manifest: Manifest) -> str | None:
    """The OCI 1.1 rule: `artifactType`, else the config's media type unless it is empty."""
    if manifest.descriptor.artifact_type:
        return manifest.descriptor.artifact_type
    config = manifest.config
    if config is not None and config.media_type != mt.OCI_EMPTY:
        return config.media_type
    return None


def referrer_problem(manifest: Manifest, subject: Digest, entry: Descriptor) -> str | None:
    """Why a fetched referrer is not evidence about `subject` (None: carry it)."""
    if manifest.media_type != mt.OCI_MANIFEST or "manifests" in manifest.json:
        return f"a {manifest.media_type!r}, not an OCI image manifest"
    about = manifest.subject
    if about is None:
        return "it has no subject: it is not about any image"
    if about.digest != subject:
        return f"its subject is {about.digest}, not the promoted {subject}"
    kind_name = artifact_type(manifest)
    kind = REFERRER_KINDS.get(kind_name or "")
    if kind is None:
        return f"artifact type {kind_name!r} is not evidence promotion carries ({_kinds()})"
    if entry.artifact_type is not None and entry.artifact_type != kind_name:
        return f"listed as {entry.artifact_type!r} but the manifest says {kind_name!r}"
    config = manifest.config
    if config is None or config.media_type not in {mt.OCI_EMPTY, kind_name} or config.size > MAX_CONFIG_SIZE:
        found = "none" if config is None else f"{config.media_type!r} of {config.size} bytes"
        return f"its config is {found}, not the empty descriptor"
    return _layers_problem(manifest.layers, kind)


def _layers_problem(layers: list[Descriptor], kind: ReferrerKind) -> str | None:
    if not layers:
        return f"a {kind.name} with no layer"
    if len(layers) > kind.max_layers:
        return f"a {kind.name} with {len(layers)} layers (at most {kind.max_layers})"
    for index, layer in enumerate(layers):
        if layer.media_type not in kind.layers:
            return f"layer {index} is {layer.media_type!r}, not what a {kind.name} holds"
        if layer.size > mt.MAX_EVIDENCE_SIZE:
            return f"layer {index} is {layer.size} bytes, over the {mt.MAX_EVIDENCE_SIZE}-byte evidence cap"
    return None


@dataclass(frozen=True)
class SkippedLayer:
    """A layer of a `.sig`/`.att` manifest left behind, and why."""

    index: int
    digest: Digest
    media_type: str
    reason: str

    def to_json(self) -> dict[str, object]:
        return {"index": self.index, "digest": str(self.digest), "mediaType": self.media_type, "reason": self.reason}


@dataclass(frozen=True)
class TagEvidence:
    """A `.sig`/`.att` manifest sorted: the layers carried, those left, and whether the
    manifest may be copied as it is (`exact`) or must be rewritten from `kept`."""

    kept: tuple[Descriptor, ...]
    skipped: tuple[SkippedLayer, ...]
    exact: bool
    why_rewritten: str | None = None


def sort_tag_layers(manifest: Manifest, kind: TagKind) -> TagEvidence:
    """Keep the layers of the one media type `kind` verifies, each within the cap."""
    wanted = TAG_LAYER_TYPES[kind]
    kept: list[Descriptor] = []
    skipped: list[SkippedLayer] = []
    for index, layer in enumerate(manifest.layers):
        if layer.media_type != wanted:
            skipped.append(SkippedLayer(index, layer.digest, layer.media_type, f"not a {wanted} layer"))
        elif layer.size > mt.MAX_EVIDENCE_SIZE:
            skipped.append(SkippedLayer(index, layer.digest, layer.media_type,
                                        f"{layer.size} bytes, over the {mt.MAX_EVIDENCE_SIZE}-byte evidence cap"))
        else:
            kept.append(layer)
    why = _not_cosign(manifest, kept, skipped)
    return TagEvidence(tuple(kept), tuple(skipped), why is None, why)


def _not_cosign(manifest: Manifest, kept: list[Descriptor], skipped: list[SkippedLayer]) -> str | None:
    """Why `manifest` is not byte for byte what cosign writes for `kept` (None: it is)."""
    if skipped:
        return f"{len(skipped)} layer(s) that are not evidence were left behind"
    if manifest.media_type != mt.OCI_MANIFEST or "manifests" in manifest.json:
        return f"the manifest is a {manifest.media_type!r}, not an OCI image manifest"
    extra = sorted(set(manifest.json) - _COSIGN_MANIFEST_KEYS)
    if extra:
        return f"the manifest carries fields cosign does not write: {', '.join(extra)}"
    expected = Descriptor.of(ct.cosign_config([str(d.digest) for d in kept]), mt.OCI_CONFIG)
    config = manifest.config
    if config is None or (config.media_type, config.digest, config.size) != (
        expected.media_type, expected.digest, expected.size
    ):
        return "its config is not the one cosign writes for these layers"
    return None
