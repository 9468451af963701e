"""Copy an image's evidence to a destination: cosign `.sig`/`.att` tags and referrers.

What is evidence of an image with digest D (and of every manifest an index lists):

- the `sha256-<hex>.sig` and `sha256-<hex>.att` manifests (one layer per signature or
  attestation), with their config and layer blobs; from a `cosign save` layout, the
  manifests its index.json marks `kind: dev.cosignproject.cosign/sigs|atts` (they get the
  cosign tags at the destination);
- the referrers of D (Sigstore bundles, SBOMs, ...), and the referrers of those referrers
  one level down, each with its blobs.

Rules, so that a destination's evidence only ever grows:

- a cosign tag absent at the destination is copied byte-exact (same digest as the source);
  one present with other content is MERGED: the destination's layers are kept as they are
  and the source's layers it lacks are appended (`slsacheck.attach.cosign_tags`), so
  signatures another signer left there survive; identical layers are not added twice;
- a referrer is copied as its exact manifest, then made findable: a destination with the
  referrers API (or a layout, which finds referrers by their `subject`) lists it by itself;
  elsewhere the `sha256-<hex>` fallback index is read, the entry merged in (never twice),
  and written back, then read back (the same bounded loop `attach.referrers` uses);
- blobs first, then the manifest naming them, then any tag: an interrupted copy leaves at
  most unreferenced blobs, and a re-run finishes it sending only what is missing.

Nothing here moves the image's own tags: that is the caller's last step.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from slsacheck.attach import cosign_tags as ct
from slsacheck.attach.referrers import fallback_tag, merge_fallback_index
from slsacheck.errors import NotFound
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Descriptor, Manifest
from slsacheck.models.digest import Digest
from slsacheck.oci.copy import CopyReport, copy
from slsacheck.oci.layout import LayoutStore
from slsacheck.oci.store import Store

Kind = Literal["signatures", "attestations", "referrer"]
Action = Literal["copied", "merged", "present"]
# Bounds on the work one promotion may cause.
MAX_SUBJECTS = 1024  # manifests under one index whose evidence is looked for
MAX_REFERRERS = 256  # referrers copied per destination
REFERRER_DEPTH = 2  # referrers of the image, and their own referrers
_LIST_ATTEMPTS = 5
_TAG_KINDS: tuple[Kind, ...] = ("signatures", "attestations")


@dataclass(frozen=True)
class EvidenceItem:
    """One piece of evidence and what happened to it at one destination."""

    kind: Kind
    subject: Digest  # the manifest it is about
    reference: str  # the cosign tag, or the referrer's digest
    action: Action
    layers_added: int = 0  # merged: layers appended to the destination's manifest
    listed: bool = False  # referrer: entry added to the destination's fallback index
    report: CopyReport | None = None  # copied: what went over

    @property
    def sent_nothing(self) -> bool:
        return self.action == "present" and not self.listed

    def describe(self, *, dry_run: bool = False) -> str:
        what = {"signatures": ".sig", "attestations": ".att", "referrer": "referrer"}[self.kind]
        verbs = {"copied": ("copied", "to copy"), "merged": ("merged", "to merge"),
                 "present": ("already there", "already there")}
        text = f"{what} {self.reference}: {verbs[self.action][dry_run]}"
        if self.action == "merged":
            text += f" ({self.layers_added} new layer(s))"
        if self.listed:
            text += "; " + ("to list" if dry_run else "listed") + " in the referrers fallback index"
        return text

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "subject": str(self.subject),
            "reference": self.reference,
            "action": self.action,
        }
        if self.action == "merged":
            out["layersAdded"] = self.layers_added
        if self.kind == "referrer":
            out["listedInFallbackIndex"] = self.listed
        if self.report is not None:
            out["blobsCopied"] = len(self.report.blobs_copied)
            out["blobsMounted"] = len(self.report.blobs_mounted)
            out["bytesSent"] = self.report.bytes_sent
        return out


def _read(store: Store, reference: str) -> Manifest | None:
    try:
        return store.fetch_manifest(reference)
    except NotFound:
        return None


def subjects(src: Store, top: Manifest) -> list[Digest]:
    """`top` and every manifest under it (nested indexes walked, each once, bounded)."""
    out = [top.digest]
    seen = {top.digest}
    stack = [top]
    while stack:
        for child in stack.pop().children:
            if child.digest in seen or child.media_type not in mt.MANIFEST_TYPES:
                continue
            if len(seen) >= MAX_SUBJECTS:
                return out
            seen.add(child.digest)
            out.append(child.digest)
            if child.media_type in mt.INDEX_TYPES:
                stack.append(src.fetch_manifest(str(child.digest)))
    return out


def _saved_layout(src: Store, subject: Digest, kind: Kind) -> list[Manifest]:
    """A `cosign save` layout marks its `.sig`/`.att` manifests with a `kind` annotation
    instead of a tag; they are the evidence of the layout's one image."""
    if not isinstance(src, LayoutStore):
        return []
    entries = src.entries()
    images = {e.digest for e in entries if e.annotations.get(mt.ANN_KIND) in {mt.KIND_IMAGE, mt.KIND_IMAGE_INDEX}}
    if images != {subject}:
        return []
    wanted = mt.KIND_SIGS if kind == "signatures" else mt.KIND_ATTS
    return [src.fetch_manifest(str(e.digest)) for e in entries
            if e.annotations.get(mt.ANN_KIND) == wanted and mt.ANN_REF_NAME not in e.annotations]


def copy_cosign_tag(src: Store, dst: Store, subject: Digest, kind: Kind, *, dry_run: bool) -> list[EvidenceItem]:
    """The `.sig` (kind `signatures`) or `.att` manifest of `subject`: copied, merged or present."""
    tag = ct.signature_tag(subject) if kind == "signatures" else ct.attestation_tag(subject)
    found = _read(src, tag)
    sources = [found] if found is not None else _saved_layout(src, subject, kind)
    return [_copy_or_merge(src, dst, subject, kind, tag=tag, source=source, dry_run=dry_run) for source in sources]


def _copy_or_merge(
    src: Store, dst: Store, subject: Digest, kind: Kind, *, tag: str, source: Manifest, dry_run: bool
) -> EvidenceItem:
    existing = _read(dst, tag)
    if existing is None:
        # By digest, tagged: what we copy is what we read, even if the source tag moves.
        report = copy(src, dst, str(source.digest), tags=(tag,), dry_run=dry_run)
        return EvidenceItem(kind, subject, tag, "copied", report=report)
    if existing.digest == source.digest:
        return EvidenceItem(kind, subject, tag, "present")
    merged = ct.merge_layers(existing, source.layers)
    if not merged.changed:
        return EvidenceItem(kind, subject, tag, "present")
    if dry_run:
        return EvidenceItem(kind, subject, tag, "merged", layers_added=len(merged.added),
                            report=CopyReport(src.location, dst.location, source.digest, source.media_type,
                                              dry_run=True))
    wanted = {d.digest for d in merged.added}
    layers = [ct.Layer(src.fetch_blob(layer), layer.media_type, layer.annotations)
              for layer in source.layers if layer.digest in wanted]
    result = ct.append_layers(dst, tag, layers)
    return EvidenceItem(kind, subject, tag, "merged" if result.added else "present", layers_added=result.added)


def _listed(store: Store, subject: Digest, digest: Digest) -> bool:
    try:
        return any(d.digest == digest for d in store.referrers(subject))
    except NotFound:
        return False


def ensure_listed(dst: Store, subject: Digest, entry: Descriptor, *, dry_run: bool) -> bool:
    """Make `entry` findable among the referrers of `subject` at `dst`; True if we had to
    add it to the `sha256-<hex>` fallback index (False: already listed)."""
    if _listed(dst, subject, entry.digest):
        return False
    if dry_run:
        return True
    tag = fallback_tag(subject)
    for attempt in range(1, _LIST_ATTEMPTS + 1):
        index = merge_fallback_index(_read(dst, tag), entry)
        if index is not None:
            dst.push_manifest(index, mt.OCI_INDEX, tag=tag)
        if _listed(dst, subject, entry.digest):
            return True
        time.sleep(0.05 * attempt)
    raise ct.ConcurrentUpdate(
        f"{dst.location}:{tag}: the referrers index kept losing {entry.digest} ({_LIST_ATTEMPTS} attempts)",
        expected=f"{entry.digest} listed among the referrers of {subject}",
        found="another writer's index without it",
        hint="another tool is attaching referrers to this image at the same time; run the promotion again",
    )


def _referrers(store: Store, subject: Digest) -> list[Descriptor]:
    try:
        return store.referrers(subject)
    except NotFound:
        return []


def copy_referrers(src: Store, dst: Store, subject: Digest, *, dry_run: bool) -> Iterator[EvidenceItem]:
    """Every referrer of `subject` (and of those, down to `REFERRER_DEPTH`), copied and listed."""
    seen: set[Digest] = set()
    todo: list[tuple[Digest, int]] = [(subject, 1)]
    while todo:
        about, depth = todo.pop(0)
        for entry in _referrers(src, about):
            if entry.digest in seen:
                continue
            if len(seen) >= MAX_REFERRERS:
                return
            seen.add(entry.digest)
            report = copy(src, dst, str(entry.digest), dry_run=dry_run)
            listed = ensure_listed(dst, about, entry, dry_run=dry_run)
            action: Action = "present" if report.sent_nothing else "copied"
            yield EvidenceItem("referrer", about, str(entry.digest), action, listed=listed,
                               report=report if action == "copied" else None)
            if depth < REFERRER_DEPTH:
                todo.append((entry.digest, depth + 1))


def copy_evidence(src: Store, dst: Store, top: Manifest, *, dry_run: bool = False) -> tuple[EvidenceItem, ...]:
    """All evidence of `top` and of every manifest under it, from `src` to `dst`."""
    items: list[EvidenceItem] = []
    for subject in subjects(src, top):
        for kind in _TAG_KINDS:
            items.extend(copy_cosign_tag(src, dst, subject, kind, dry_run=dry_run))
        items.extend(copy_referrers(src, dst, subject, dry_run=dry_run))
    return tuple(items)
