"""OCI descriptors, platforms and manifests as immutable data (no I/O).

Unknown fields are kept (`extra`) and written back unchanged, so a descriptor read from
a registry and written again is the same JSON. Raw manifest bytes are always kept next
to their parsed form: a manifest's identity is its bytes, never a re-serialisation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from slsacheck._json import load_object, without_lone_surrogates
from slsacheck.errors import InputError
from slsacheck.models import mediatypes as mt
from slsacheck.models.digest import Digest

_DESCRIPTOR_KEYS = frozenset(
    {"mediaType", "digest", "size", "annotations", "artifactType", "platform", "urls"}
)


class MalformedManifest(InputError):
    """A manifest or descriptor that is not valid OCI/Docker JSON."""


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None

    @classmethod
    def from_json(cls, obj: Any, where: str) -> Platform:
        if not isinstance(obj, dict) or not isinstance(obj.get("os"), str) or not isinstance(
            obj.get("architecture"), str
        ):
            raise MalformedManifest(
                f"{where}: platform needs string 'os' and 'architecture'", found=repr(obj)[:200]
            )
        return cls(obj["os"], obj["architecture"], obj.get("variant"), obj.get("os.version"))

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise InputError(
                f"malformed platform {text!r}", expected="os/arch[/variant], e.g. linux/arm64/v8"
            )
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        if self.os_version:
            out["os.version"] = self.os_version
        return out

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)
    artifact_type: str | None = None
    platform: Platform | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        data: bytes,
        media_type: str,
        *,
        annotations: Mapping[str, str] | None = None,
        artifact_type: str | None = None,
    ) -> Descriptor:
        return cls(media_type, Digest.of(data), len(data), dict(annotations or {}), artifact_type)

    @classmethod
    def from_json(cls, obj: Any, where: str = "descriptor") -> Descriptor:
        if not isinstance(obj, dict):
            raise MalformedManifest(f"{where}: a descriptor must be a JSON object", found=repr(obj)[:200])
        # Listings (referrers, index.json) too: annotations are read as Go reads them.
        obj = without_lone_surrogates(obj)
        media_type, digest, size = obj.get("mediaType"), obj.get("digest"), obj.get("size")
        if not isinstance(media_type, str) or not isinstance(digest, str):
            raise MalformedManifest(f"{where}: descriptor needs string 'mediaType' and 'digest'")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise MalformedManifest(
                f"{where}: descriptor 'size' must be a non-negative integer", found=repr(size)
            )
        annotations = obj.get("annotations") or {}
        if not isinstance(annotations, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
        ):
            raise MalformedManifest(f"{where}: 'annotations' must map strings to strings")
        artifact_type = obj.get("artifactType")
        if artifact_type is not None and not isinstance(artifact_type, str):
            raise MalformedManifest(f"{where}: 'artifactType' must be a string")
        platform = Platform.from_json(obj["platform"], where) if "platform" in obj else None
        extra = {k: v for k, v in obj.items() if k not in _DESCRIPTOR_KEYS}
        if "urls" in obj:
            extra["urls"] = obj["urls"]
        return cls(media_type, Digest.parse(digest), size, annotations, artifact_type, platform, extra)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": str(self.digest), "size": self.size}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform:
            out["platform"] = self.platform.to_json()
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class Manifest:
    """A manifest or index: its descriptor, its exact bytes, and the parsed JSON."""

    descriptor: Descriptor
    raw: bytes
    json: Mapping[str, Any]

    @classmethod
    def parse(cls, raw: bytes, media_type: str | None = None, *, where: str = "manifest") -> Manifest:
        """Parse manifest bytes. `media_type` is what the server said (Content-Type)."""
        obj = load_object(
            raw,
            not_json=lambda exc: MalformedManifest(
                f"{where}: not valid JSON ({exc})", hint="the content is not a manifest"
            ),
            not_object=lambda _: MalformedManifest(f"{where}: a manifest must be a JSON object"),
        )
        obj = without_lone_surrogates(obj)  # annotations are read as Go reads them
        declared = obj.get("mediaType")
        if declared is not None and not isinstance(declared, str):
            raise MalformedManifest(f"{where}: 'mediaType' must be a string")
        kind = declared or media_type
        if kind is None:
            # An OCI manifest may omit mediaType; tell manifest from index by shape.
            kind = mt.OCI_INDEX if "manifests" in obj else mt.OCI_MANIFEST
        if obj.get("schemaVersion") != 2:
            raise MalformedManifest(
                f"{where}: unsupported schemaVersion",
                expected="2",
                found=repr(obj.get("schemaVersion")),
                hint="Docker schema 1 manifests are not supported; re-push the image with a current tool",
            )
        descriptor = Descriptor(
            kind,
            Digest.of(raw),
            len(raw),
            artifact_type=obj.get("artifactType") if isinstance(obj.get("artifactType"), str) else None,
        )
        manifest = cls(descriptor, raw, obj)
        # Validate the shape eagerly so that accessors cannot fail later.
        manifest.children  # noqa: B018
        manifest.layers  # noqa: B018
        manifest.subject  # noqa: B018
        manifest.config  # noqa: B018
        return manifest

    @property
    def media_type(self) -> str:
        return self.descriptor.media_type

    @property
    def digest(self) -> Digest:
        return self.descriptor.digest

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEX_TYPES

    @property
    def children(self) -> list[Descriptor]:
        """Manifests listed by an index (empty for an image manifest)."""
        items = self.json.get("manifests") or []
        if not isinstance(items, list):
            raise MalformedManifest("index 'manifests' must be a list")
        return [Descriptor.from_json(d, f"manifests[{i}]") for i, d in enumerate(items)]

    @property
    def layers(self) -> list[Descriptor]:
        items = self.json.get("layers") or []
        if not isinstance(items, list):
            raise MalformedManifest("manifest 'layers' must be a list")
        return [Descriptor.from_json(d, f"layers[{i}]") for i, d in enumerate(items)]

    @property
    def config(self) -> Descriptor | None:
        cfg = self.json.get("config")
        return Descriptor.from_json(cfg, "config") if cfg is not None else None

    @property
    def subject(self) -> Descriptor | None:
        sub = self.json.get("subject")
        return Descriptor.from_json(sub, "subject") if sub is not None else None

    @property
    def annotations(self) -> Mapping[str, str]:
        ann = self.json.get("annotations") or {}
        return ann if isinstance(ann, dict) else {}

    def blobs(self) -> list[Descriptor]:
        """Every blob this manifest references directly (config first, then layers)."""
        cfg = self.config
        return ([cfg] if cfg else []) + self.layers
