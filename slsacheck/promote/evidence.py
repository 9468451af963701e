"""Copy an image's evidence to a destination: cosign `.sig`/`.att` tags and referrers.

What is evidence of an image with digest D (and of every manifest an index lists), and
what of it is carried, is decided by `slsacheck.promote.carry`:

- the `sha256-<hex>.sig` and `sha256-<hex>.att` manifests, keeping only their signature
  or attestation layers; from a `cosign save` layout, the manifests its index.json marks
  `kind: dev.cosignproject.cosign/sigs|atts` (they get the cosign tags at the destination);
- the referrers of D whose manifest names D as its subject and is a Sigstore bundle or an
  SBOM of the expected shape. Anything else listed is reported as skipped, with why.

Rules, so that a destination's evidence only ever grows:

- a cosign tag absent at the destination is copied byte-exact when it is exactly what
  cosign writes, else written anew from the layers carried; one present with other
  content is MERGED: the destination's layers are kept as they are and the carried
  layers it lacks are appended (`slsacheck.attach.cosign_tags`), so signatures another
  signer left there survive; identical layers are not added twice;
- a referrer is copied as its exact manifest, then made findable: a destination with the
  referrers API (or a layout, which finds referrers by their `subject`) lists it by itself;
  elsewhere the `sha256-<hex>` fallback index is read, the entry merged in (never twice),
  and written back, then read back (the same bounded loop `attach.referrers` uses);
- blobs first, then the manifest naming them, then any tag: an interrupted copy leaves at
  most unreferenced blobs, and a re-run finishes it sending only what is missing;
- nothing is dropped silently: a subject listing more referrers than `MAX_REFERRERS`, or an
  index with more than `MAX_SUBJECTS` manifests, fails the destination (`EvidenceCapExceeded`,
  exit 3: its tags are never set) rather than promote part of its evidence.

Nothing here moves the image's own tags: that is the caller's last step.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from slsacheck._reason import one_line
from slsacheck.attach import cosign_tags as ct
from slsacheck.attach.referrers import fallback_tag, merge_fallback_index
from slsacheck.errors import EXIT_INCOMPLETE, Error, InputError, IntegrityError, NotFound
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Descriptor, Manifest
from slsacheck.models.digest import Digest
from slsacheck.oci.copy import CopyReport, copy
from slsacheck.oci.store import Store, saved_evidence
from slsacheck.promote.carry import (
    SkippedLayer,
    TagKind,
    artifact_type,
    listing_problem,
    referrer_problem,
    sort_tag_layers,
)

Kind = Literal["signatures", "attestations", "referrer"]
Action = Literal["copied", "merged", "present", "skipped"]
# Bounds on the work one promotion may cause; reaching one fails the destination.
MAX_SUBJECTS = 1024  # manifests under one index whose evidence is looked for
MAX_REFERRERS = 1024  # referrers listed for one subject
_LIST_ATTEMPTS = 5
_TAG_KINDS: tuple[TagKind, ...] = ("signatures", "attestations")


class EvidenceCapExceeded(Error):
    """More evidence is listed than a promotion reads: promoting part of it could leave
    behind the one piece that matters, so the destination is not finished."""

    exit_code = EXIT_INCOMPLETE


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
    reason: str | None = None  # skipped: why; a cosign manifest written anew: why not copied as it was
    layers_skipped: tuple[SkippedLayer, ...] = ()  # layers of a .sig/.att manifest left behind

    @property
    def sent_nothing(self) -> bool:
        return self.action in {"present", "skipped"} and not self.listed

    def describe(self, *, dry_run: bool = False) -> str:
        what = {"signatures": ".sig", "attestations": ".att", "referrer": "referrer"}[self.kind]
        verbs = {"copied": ("copied", "to copy"), "merged": ("merged", "to merge"),
                 "present": ("already there", "already there"), "skipped": ("skipped", "to skip")}
        text = f"{what} {self.reference}: {verbs[self.action][dry_run]}"
        if self.action == "merged":
            text += f" ({self.layers_added} new layer(s))"
        if self.reason is not None:
            text += f" ({self.reason})"
        for layer in self.layers_skipped:
            text += f"; layer {layer.index} {layer.digest} left behind: {layer.reason}"
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
        if self.reason is not None:
            out["reason"] = self.reason
        if self.layers_skipped:
            out["layersSkipped"] = [layer.to_json() for layer in self.layers_skipped]
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
                raise EvidenceCapExceeded(
                    f"{src.location}@{top.digest} lists more than {MAX_SUBJECTS} manifests",
                    expected=f"at most {MAX_SUBJECTS} manifests whose evidence a promotion looks for",
                    found=f"more than {MAX_SUBJECTS}",
                    hint="promote the child images one by one, by digest",
                )
            seen.add(child.digest)
            out.append(child.digest)
            if child.media_type in mt.INDEX_TYPES:
                stack.append(src.fetch_manifest(str(child.digest)))
    return out


def _saved_layout(src: Store, subject: Digest, kind: TagKind) -> list[Manifest]:
    """A `cosign save` layout marks its `.sig`/`.att` manifests with a `kind` annotation
    instead of a tag; they are the evidence of the layout's one image."""
    wanted = mt.KIND_SIGS if kind == "signatures" else mt.KIND_ATTS
    return [src.fetch_manifest(str(e.digest)) for e in saved_evidence(src, subject, wanted) or ()]


def copy_cosign_tag(src: Store, dst: Store, subject: Digest, kind: TagKind, *, dry_run: bool) -> list[EvidenceItem]:
    """The `.sig` (kind `signatures`) or `.att` manifest of `subject`: copied, merged or present."""
    tag = ct.signature_tag(subject) if kind == "signatures" else ct.attestation_tag(subject)
    try:
        found = _read(src, tag)
    except (InputError, IntegrityError) as exc:
        # Junk at the tag is not evidence (the gate rejected it too): say so and go on.
        return [EvidenceItem(kind, subject, tag, "skipped", reason=f"unreadable: {one_line(exc)}")]
    sources = [found] if found is not None else _saved_layout(src, subject, kind)
    return [_copy_or_merge(src, dst, subject, kind, tag=tag, source=source, dry_run=dry_run) for source in sources]


def _copy_or_merge(
    src: Store, dst: Store, subject: Digest, kind: TagKind, *, tag: str, source: Manifest, dry_run: bool
) -> EvidenceItem:
    sorted_ = sort_tag_layers(source, kind)
    skipped = sorted_.skipped
    if not sorted_.kept:
        return EvidenceItem(kind, subject, tag, "skipped", reason="no signature or attestation layer to carry",
                            layers_skipped=skipped)
    existing = _read(dst, tag)
    if existing is None and sorted_.exact:
        # By digest, tagged: what we copy is what we read, even if the source tag moves.
        report = copy(src, dst, str(source.digest), tags=(tag,), dry_run=dry_run)
        return EvidenceItem(kind, subject, tag, "copied", report=report)
    if existing is not None and existing.digest == source.digest and sorted_.exact:
        return EvidenceItem(kind, subject, tag, "present")
    # Written anew (nothing there yet) or merged (the destination has its own manifest):
    # either way only the carried layers go over, under cosign's own config.
    action: Action = "copied" if existing is None else "merged"
    why = sorted_.why_rewritten if existing is None else None
    merged = ct.merge_layers(existing, sorted_.kept)
    if not merged.changed and existing is not None:
        return EvidenceItem(kind, subject, tag, "present", layers_skipped=skipped)
    if dry_run:
        return EvidenceItem(kind, subject, tag, action, layers_added=len(merged.added), reason=why,
                            layers_skipped=skipped,
                            report=CopyReport(src.location, dst.location, source.digest, source.media_type,
                                              dry_run=True))
    wanted = {d.digest for d in merged.added}
    layers = [ct.Layer(src.fetch_blob(layer), layer.media_type, layer.annotations)
              for layer in sorted_.kept if layer.digest in wanted]
    result = ct.append_layers(dst, tag, layers)
    if not result.added:
        return EvidenceItem(kind, subject, tag, "present", layers_skipped=skipped)
    return EvidenceItem(kind, subject, tag, action, layers_added=result.added, reason=why, layers_skipped=skipped)


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
        found = store.referrers(subject)
    except NotFound:
        return []
    unique = list({d.digest: d for d in found}.values())
    if len(unique) > MAX_REFERRERS:
        raise EvidenceCapExceeded(
            f"{store.location}: {len(unique)} referrers listed for {subject}",
            expected=f"at most {MAX_REFERRERS} referrers per image, each read before it is carried",
            found=f"{len(unique)}",
            hint="someone attached more referrers than a promotion reads; remove the ones that are not "
            "evidence at the source (or promote from a copy without them), then run the promotion again",
        )
    return unique


def _entry(manifest: Manifest) -> Descriptor:
    """The descriptor the destination lists: the manifest's own artifact type and
    annotations, not what the source's listing claimed."""
    return Descriptor(manifest.media_type, manifest.digest, len(manifest.raw),
                      annotations=dict(manifest.annotations), artifact_type=artifact_type(manifest))


def copy_referrers(src: Store, dst: Store, subject: Digest, *, dry_run: bool) -> Iterator[EvidenceItem]:
    """Every referrer of `subject` that is evidence about it, copied and listed; the rest
    reported as skipped with the reason."""
    for listed in _referrers(src, subject):
        reference = str(listed.digest)
        why = listing_problem(listed)
        if why is not None:
            yield EvidenceItem("referrer", subject, reference, "skipped", reason=why)
            continue
        try:
            manifest = _read(src, reference)
        except (InputError, IntegrityError) as exc:
            # Junk is not evidence: say so and go on; a registry that failed us still stops.
            yield EvidenceItem("referrer", subject, reference, "skipped", reason=f"unreadable: {one_line(exc)}")
            continue
        if manifest is None:
            yield EvidenceItem("referrer", subject, reference, "skipped", reason="listed but not in the repository")
            continue
        why = referrer_problem(manifest, subject, listed)
        if why is not None:
            yield EvidenceItem("referrer", subject, reference, "skipped", reason=why)
            continue
        report = copy(src, dst, reference, dry_run=dry_run)
        added = ensure_listed(dst, subject, _entry(manifest), dry_run=dry_run)
        action: Action = "present" if report.sent_nothing else "copied"
        yield EvidenceItem("referrer", subject, reference, action, listed=added,
                           report=report if action == "copied" else None)


def copy_evidence(src: Store, dst: Store, top: Manifest, *, dry_run: bool = False) -> tuple[EvidenceItem, ...]:
    """All evidence of `top` and of every manifest under it, from `src` to `dst`."""
    items: list[EvidenceItem] = []
    for subject in subjects(src, top):
        for kind in _TAG_KINDS:
            items.extend(copy_cosign_tag(src, dst, subject, kind, dry_run=dry_run))
        items.extend(copy_referrers(src, dst, subject, dry_run=dry_run))
    return tuple(items)
