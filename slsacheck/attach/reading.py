"""Reading one image's evidence within limits: each digest once, all of it within one budget.

Whoever can push to a repository chooses how much evidence an image has: one 16 MiB blob
listed as a layer a hundred times, thousands of referrers, tag manifests of thousands of
layers. A verification must neither hold all of that in memory nor quietly read only part
of it and judge the part. So, for ONE verification:

- every manifest and blob is fetched at most once, by digest (`EvidenceReader` keeps
  what it read; the same digest listed again costs nothing more);
- the distinct bytes read (manifests and blobs) are capped by `Limits.evidence_bytes`;
  a read that would cross the cap is not made, and raises `OverBudget`;
- at most `Limits.candidates_per_place` layers of one tag manifest, and bundles among the
  referrers, are read.

Running into either limit (or into a store's size cap for one manifest or blob) leaves
evidence unread, and unread evidence might be the signature or the failing scan that
decides the verdict: the collector records it as `incomplete`, which fails the verdict
closed (exit 3, `verification.complete`). Never is the unread part skipped silently, and
no order of upload or listing changes the outcome: either everything relevant was read,
or the verdict is incomplete whatever was read first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from slsacheck.errors import TooLarge
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Descriptor, Manifest
from slsacheck.models.digest import Digest
from slsacheck.oci.store import Store

# Layers read per `.sig`/`.att` manifest, bundles read per image.
MAX_CANDIDATES = 256
MAX_EVIDENCE_BYTES = mt.MAX_VERIFICATION_EVIDENCE


@dataclass(frozen=True)
class Limits:
    """The caps of one verification (see the module docstring for what crossing one does)."""

    candidates_per_place: int = MAX_CANDIDATES
    evidence_bytes: int = MAX_EVIDENCE_BYTES

    def to_json(self) -> dict[str, int]:
        return {"candidatesPerPlace": self.candidates_per_place, "evidenceBytes": self.evidence_bytes}


DEFAULT_LIMITS = Limits()


class OverBudget(Exception):
    """Reading this would cross the verification's byte budget; the message says what."""


@dataclass
class EvidenceReader:
    """A Store's manifests and blobs for one verification, each digest fetched once and
    all of them within `limits.evidence_bytes`."""

    store: Store
    limits: Limits = DEFAULT_LIMITS
    bytes_read: int = 0
    _blobs: dict[Digest, bytes] = field(default_factory=dict)
    _manifests: dict[Digest, Manifest] = field(default_factory=dict)
    # Signed JSON blobs parsed once per digest by the collector: the object, or why not.
    parsed: dict[Digest, dict[str, Any] | str] = field(default_factory=dict)

    @property
    def location(self) -> str:
        return self.store.location

    @property
    def remaining(self) -> int:
        return self.limits.evidence_bytes - self.bytes_read

    def _over(self, what: str, size: int | None) -> OverBudget:
        amount = f"{size} more bytes" if size is not None else "more bytes"
        return OverBudget(
            f"reading {what} needs {amount}, past the {self.limits.evidence_bytes}-byte budget of one "
            f"verification ({self.bytes_read} bytes read)"
        )

    def blob(self, descriptor: Descriptor, what: str) -> bytes:
        """The blob's bytes (digest- and size-checked by the store), fetched once."""
        cached = self._blobs.get(descriptor.digest)
        if cached is not None and len(cached) == descriptor.size:
            return cached
        # A blob over the per-blob cap is the store's to refuse (TooLarge), unread and
        # uncharged; only reads that would happen count against the budget.
        if descriptor.size <= mt.MAX_EVIDENCE_SIZE and descriptor.size > self.remaining:
            raise self._over(what, descriptor.size)
        data = self.store.fetch_blob(descriptor)
        self.bytes_read += len(data)
        self._blobs[descriptor.digest] = data
        return data

    def manifest(self, reference: str, what: str) -> Manifest:
        """The manifest at `reference` (a tag, which has no ':', or a digest), a digest's
        fetched once."""
        cached = self._manifests.get(Digest.parse(reference)) if ":" in reference else None
        if cached is not None:
            return cached
        if self.remaining <= 0:
            raise self._over(what, None)
        cap = min(mt.MAX_MANIFEST_SIZE, self.remaining)
        try:
            manifest = self.store.fetch_manifest(reference, max_size=cap)
        except TooLarge:
            if cap < mt.MAX_MANIFEST_SIZE:
                raise self._over(what, None) from None
            raise
        self.bytes_read += len(manifest.raw)
        self._manifests[manifest.digest] = manifest
        return manifest

    def summary(self) -> dict[str, Any]:
        return {**self.limits.to_json(), "evidenceBytesRead": self.bytes_read}
