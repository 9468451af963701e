"""Every candidate signature and attestation of one image, from every place at once.

cosign keeps evidence in the `sha256-<hex>.sig` / `.att` tags; the Sigstore clients and
newer cosign attach bundles as OCI 1.1 referrers. A verifier that looks in one place
and stops misses evidence, so `collect_candidates` always reads all three (the `.sig`
tag, the `.att` tag, the bundle referrers) and returns everything it found.

Nothing here decides trust. A `Candidate` is raw material for `slsacheck.verify`, one
small type per place evidence lives (`TagSignature`, `TagAttestation`, `BundleReferrer`),
each holding only what that place carries and where it came from. The rules:

- every manifest and blob is read through the Store, so it has been checked against its
  digest and capped in size; a payload blob whose bytes do not match its descriptor is
  rejected here, with the reason, before anyone looks at its signature;
- reads go through one `EvidenceReader` per collection (`slsacheck.attach.reading`): each
  digest fetched once, all of them within the verification's byte budget;
- what can be refused without a read is refused first: a tag layer of a media type that
  carries no signature is rejected unread, a referrer that is not a Sigstore bundle is
  never fetched, and a bundle referrer's subject is checked before its blob is fetched;
- a malformed layer, manifest or bundle becomes a `Rejected` with the reason (never a
  crash, never silently dropped); JSON is parsed within depth and size bounds, and a
  signed document (DSSE envelope, bundle, Rekor SET) with a duplicate key is rejected;
- a registry error other than "not found", and any limit that leaves evidence unread
  (layers or bundles past `Limits.candidates_per_place`, bytes past the budget, a
  manifest, referrers listing or blob past its size cap), is recorded in `incomplete`,
  which makes any verdict over these candidates fail closed.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from slsacheck._json import load_object
from slsacheck._reason import one_line
from slsacheck.attach.reading import DEFAULT_LIMITS, MAX_CANDIDATES, EvidenceReader, Limits, OverBudget
from slsacheck.attach.tag_names import attestation_tag, list_bundles, signature_tag
from slsacheck.errors import InputError, IntegrityError, NotFound, RegistryError, TooLarge
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Descriptor, Manifest
from slsacheck.models.digest import Digest
from slsacheck.models.evidence import Rejected
from slsacheck.models.predicates import COSIGN_SIGN_PREDICATE
from slsacheck.oci.store import Store, saved_evidence

Kind = Literal["signature", "attestation"]
Origin = Literal["tag", "referrer"]
__all__ = [
    "COSIGN_SIGN_PREDICATE", "MAX_CANDIDATES", "BundleReferrer", "Candidate", "Candidates", "LayerMaterial",
    "TagAttestation", "TagSignature", "collect_candidates",
]


@dataclass(frozen=True)
class LayerMaterial:
    """What cosign's annotations add to a tag layer's signature; each piece is optional in the
    format itself (a key-signed layer has no certificate, an offline one no Rekor SET)."""

    certificate: bytes | None = None  # PEM
    chain: bytes | None = None  # PEM, intermediates then root
    rekor_bundle: Mapping[str, Any] | None = None  # the `dev.sigstore.cosign/bundle` SET, parsed
    rfc3161_timestamp: bytes | None = None  # DER


@dataclass(frozen=True)
class TagSignature:
    """A simple-signing layer of the `.sig` tag (or a `cosign save` sigs manifest), not yet trusted."""

    source: str  # "<repo>:sha256-<hex>.sig layer 0"
    layer: Descriptor
    payload: bytes  # the simple-signing payload, checked against its descriptor
    signature: bytes  # decoded `dev.cosignproject.cosign/signature`
    material: LayerMaterial = LayerMaterial()
    kind: ClassVar[Kind] = "signature"
    origin: ClassVar[Origin] = "tag"


@dataclass(frozen=True)
class TagAttestation:
    """A DSSE layer of the `.att` tag (or a `cosign save` atts manifest), not yet trusted."""

    source: str
    layer: Descriptor
    envelope: Mapping[str, Any]  # the DSSE envelope JSON, parsed strictly
    envelope_blob: bytes  # the layer as stored: what cosign's log entry and RFC 3161 timestamp cover
    predicate_type: str | None  # what the annotation claims; the statement decides
    material: LayerMaterial = LayerMaterial()
    kind: ClassVar[Kind] = "attestation"
    origin: ClassVar[Origin] = "tag"


@dataclass(frozen=True)
class BundleReferrer:
    """A Sigstore bundle attached as an OCI 1.1 referrer, not yet trusted. `kind` is what the
    bundle's shape and annotations claim; verifying its statement decides."""

    kind: Kind
    source: str  # "<repo> referrer sha256:<hex>"
    layer: Descriptor
    bundle: Mapping[str, Any]  # the Sigstore bundle JSON, parsed strictly
    predicate_type: str | None
    origin: ClassVar[Origin] = "referrer"


Candidate = TagSignature | TagAttestation | BundleReferrer


@dataclass(frozen=True)
class Candidates:
    digest: Digest
    signatures: tuple[TagSignature | BundleReferrer, ...] = ()
    attestations: tuple[TagAttestation | BundleReferrer, ...] = ()
    rejected: tuple[Rejected, ...] = ()
    incomplete: tuple[str, ...] = ()
    # Where we looked, for the output ("searched: .sig tag, .att tag, referrers").
    searched: tuple[str, ...] = ()
    # The limits applied and what was read under them, for the output.
    limits: Mapping[str, int] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Candidate]:
        yield from self.signatures
        yield from self.attestations


class _Malformed(Exception):
    """A layer or bundle that cannot be a candidate; the message is the reason."""


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _Malformed(f"{what} is not valid base64") from None


def _json_object(data: bytes | str, what: str, *, strict: bool = False) -> dict[str, Any]:
    return load_object(
        data,
        not_json=lambda exc: _Malformed(f"{what} is not valid JSON ({exc})"),
        not_object=lambda _: _Malformed(f"{what} is not a JSON object"),
        strict=strict,
    )


def _material(layer: Descriptor) -> LayerMaterial:
    ann = layer.annotations
    certificate = ann[mt.ANN_CERTIFICATE].encode() if ann.get(mt.ANN_CERTIFICATE) else None
    chain = ann[mt.ANN_CHAIN].encode() if ann.get(mt.ANN_CHAIN) else None
    rekor_bundle = None
    if ann.get(mt.ANN_BUNDLE):
        rekor_bundle = _json_object(ann[mt.ANN_BUNDLE], f"the {mt.ANN_BUNDLE} annotation", strict=True)
    stamp = None
    if ann.get(mt.ANN_RFC3161):
        ts = _json_object(ann[mt.ANN_RFC3161], f"the {mt.ANN_RFC3161} annotation", strict=True)
        value = ts.get("SignedRFC3161Timestamp")
        if not isinstance(value, str):
            raise _Malformed(f"the {mt.ANN_RFC3161} annotation has no SignedRFC3161Timestamp")
        stamp = _b64(value, "the RFC 3161 timestamp")
    return LayerMaterial(certificate, chain, rekor_bundle, stamp)


def _parsed(reader: EvidenceReader, digest: Digest, blob: bytes, what: str) -> dict[str, Any]:
    """A signed JSON blob parsed strictly, once per digest: a blob listed many times is one
    object in memory, not one per listing."""
    cached = reader.parsed.get(digest)
    if cached is None:
        try:
            cached = _json_object(blob, what, strict=True)
        except _Malformed as exc:
            cached = str(exc)
        reader.parsed[digest] = cached
    if isinstance(cached, str):
        raise _Malformed(cached)
    return cached


def _signature_layer(reader: EvidenceReader, layer: Descriptor, source: str) -> TagSignature:
    if layer.media_type != mt.SIMPLE_SIGNING:
        raise _Malformed(f"layer media type is {layer.media_type!r}, not {mt.SIMPLE_SIGNING}")
    sig_text = layer.annotations.get(mt.ANN_SIGNATURE)
    if not sig_text:
        raise _Malformed(f"the layer has no {mt.ANN_SIGNATURE} annotation")
    signature = _b64(sig_text, f"the {mt.ANN_SIGNATURE} annotation")
    material = _material(layer)
    payload = reader.blob(layer, source)
    return TagSignature(source, layer, payload, signature, material)


def _attestation_layer(reader: EvidenceReader, layer: Descriptor, source: str) -> TagAttestation:
    if layer.media_type != mt.DSSE_ENVELOPE:
        raise _Malformed(f"layer media type is {layer.media_type!r}, not {mt.DSSE_ENVELOPE}")
    material = _material(layer)
    blob = reader.blob(layer, source)
    # Strict, as `Envelope.from_json` parses bytes: the verifier sees this parsed object.
    envelope = _parsed(reader, layer.digest, blob, "the DSSE envelope")
    return TagAttestation(source, layer, envelope, blob, layer.annotations.get(mt.ANN_PREDICATE_TYPE), material)


class _Collector:
    def __init__(self, store: Store, digest: Digest, limits: Limits) -> None:
        self.store = store
        self.reader = EvidenceReader(store, limits)
        self.limits = limits
        self.digest = digest
        self.signatures: list[TagSignature | BundleReferrer] = []
        self.attestations: list[TagAttestation | BundleReferrer] = []
        self.rejected: list[Rejected] = []
        self.incomplete: list[str] = []
        self.searched: list[str] = []
        self.unread = 0  # reads refused by the byte budget

    def over_budget(self, exc: OverBudget) -> None:
        """The first refused read says why; the later ones only add to the count."""
        self.unread += 1
        if self.unread == 1:
            self.incomplete.append(f"{exc}; evidence was left unread (raise the evidence budget if it is legitimate)")

    def too_large(self, where: str, exc: TooLarge) -> None:
        """Content past its size cap is evidence left unread: it may be the one that decides
        (a trusted scan too large to read), so it makes the collection incomplete."""
        self.incomplete.append(f"{where} was not read: {one_line(exc)}")

    def reject(self, kind: Kind, source: str, reason: str, predicate_type: str | None = None) -> None:
        self.rejected.append(Rejected(kind, source, reason, predicate_type=predicate_type))

    def unusable(
        self, exc: Exception, kind: Kind, source: str, ptype: str | None, *, mismatch: str, missing: str
    ) -> None:
        """Record why a layer or bundle is no candidate: a reason of its own, or, when the
        registry failed us, a gap that makes the collection incomplete."""
        if isinstance(exc, _Malformed):
            self.reject(kind, source, str(exc), ptype)
        elif isinstance(exc, OverBudget):
            self.over_budget(exc)
        elif isinstance(exc, TooLarge):
            self.too_large(source, exc)
        elif isinstance(exc, IntegrityError):
            self.reject(kind, source, f"{mismatch}: {one_line(exc)}", ptype)
        elif isinstance(exc, NotFound):
            self.reject(kind, source, f"{missing}: {one_line(exc)}", ptype)
        elif isinstance(exc, RegistryError):
            self.incomplete.append(f"reading {source}: {one_line(exc)}")
        else:
            assert isinstance(exc, InputError)
            self.reject(kind, source, one_line(exc), ptype)

    def tag(self, tag: str, kind: Kind) -> None:
        where = f"{self.store.location}:{tag}"
        self.searched.append(where)
        try:
            manifest = self.evidence_manifest(kind, tag, where)
        except NotFound:
            self.saved_layout(kind)
            return
        if manifest is not None:
            self.layers(kind, manifest, where)

    def evidence_manifest(self, kind: Kind, reference: str, where: str) -> Manifest | None:
        """The `.sig`/`.att` manifest at `reference`, or None once why it cannot be used is
        recorded (a rejection, or a gap that makes the collection incomplete). `NotFound` is
        left to the caller: a missing tag is no evidence, a missing listed manifest a bad listing."""
        try:
            return self.reader.manifest(reference, where)
        except NotFound:
            raise
        except OverBudget as exc:
            self.over_budget(exc)
        except TooLarge as exc:
            self.too_large(where, exc)
        except (IntegrityError, InputError) as exc:
            self.reject(kind, where, f"the {kind} manifest is unusable: {one_line(exc)}")
        except RegistryError as exc:
            self.incomplete.append(f"reading {where}: {one_line(exc)}")
        return None

    def layers(self, kind: Kind, manifest: Manifest, where: str) -> None:
        layers = manifest.layers
        cap = self.limits.candidates_per_place
        if len(layers) > cap:
            # Reading the first `cap` would let whoever orders the layers choose what is judged.
            self.incomplete.append(
                f"{where} lists {len(layers)} layers, more than the {cap} read per manifest; "
                "none were judged (rewrite the tag without the extra layers: any of them may be the evidence "
                "that decides)"
            )
            return
        for index, layer in enumerate(layers):
            self.layer(kind, layer, f"{where} layer {index}")

    def saved_layout(self, kind: Kind) -> None:
        """`cosign save` layouts hold one image and mark its `.sig`/`.att` manifests
        with a `kind` annotation instead of a tag; read those when the image is ours."""
        wanted = mt.KIND_SIGS if kind == "signature" else mt.KIND_ATTS
        try:
            entries = saved_evidence(self.store, self.digest, wanted)
        except RegistryError as exc:
            self.incomplete.append(f"reading {self.store.location}/index.json: {one_line(exc)}")
            return
        for entry in entries or ():
            where = f"{self.store.location} {wanted} {entry.digest}"
            try:
                manifest = self.evidence_manifest(kind, str(entry.digest), where)
            except NotFound as exc:
                self.reject(kind, where, f"the {kind} manifest is unusable: {one_line(exc)}")
                continue
            if manifest is not None:
                self.layers(kind, manifest, where)

    def layer(self, kind: Kind, layer: Descriptor, source: str) -> None:
        ptype = layer.annotations.get(mt.ANN_PREDICATE_TYPE) if kind == "attestation" else None
        try:
            if kind == "signature":
                self.signatures.append(_signature_layer(self.reader, layer, source))
            else:
                self.attestations.append(_attestation_layer(self.reader, layer, source))
        except (_Malformed, OverBudget, IntegrityError, RegistryError, InputError) as exc:
            self.unusable(exc, kind, source, ptype, mismatch="the layer blob does not match its descriptor",
                          missing="the layer blob is missing")

    def referrers(self) -> None:
        self.searched.append(f"{self.store.location} referrers of {self.digest}")
        try:
            found = list_bundles(self.store, self.digest)
        except NotFound:
            return
        except TooLarge as exc:
            self.too_large(f"the referrers of {self.digest}", exc)
            return
        except (IntegrityError, InputError) as exc:
            self.reject("signature", f"referrers of {self.digest}", f"the referrers index is unusable: {one_line(exc)}")
            return
        except RegistryError as exc:
            self.incomplete.append(f"listing referrers of {self.digest}: {one_line(exc)}")
            return
        # The same referrer listed twice is one referrer (read once, judged once).
        unique = list({desc.digest: desc for desc in found}.values())
        cap = self.limits.candidates_per_place
        if len(unique) > cap:
            # Whichever `cap` were read, the attacker chose them (upload order, listing
            # order): the verdict cannot rest on a part of the evidence.
            self.incomplete.append(
                f"{self.store.location} has {len(unique)} Sigstore bundle referrers of {self.digest}, more than "
                f"the {cap} read per image; none were judged (delete the junk referrers: they may hide the evidence "
                "that decides)"
            )
            return
        for desc in unique:
            self.bundle(desc)

    def bundle(self, desc: Descriptor) -> None:
        source = f"{self.store.location} referrer {desc.digest}"
        claimed = desc.annotations.get(mt.ANN_BUNDLE_CONTENT)
        ptype = desc.annotations.get(mt.ANN_BUNDLE_PREDICATE_TYPE)
        kind: Kind = "attestation" if claimed == "dsse-envelope" and ptype != COSIGN_SIGN_PREDICATE else "signature"
        try:
            manifest: Manifest = self.reader.manifest(str(desc.digest), source)
            ptype = manifest.annotations.get(mt.ANN_BUNDLE_PREDICATE_TYPE, ptype)
            subject = manifest.subject
            if subject is None or subject.digest != self.digest:
                raise _Malformed(
                    f"the referrer's subject is {subject.digest if subject else 'missing'}, not {self.digest}"
                )
            layers = [x for x in manifest.layers if x.media_type.startswith("application/vnd.dev.sigstore.bundle")]
            if len(layers) != 1:
                raise _Malformed(f"expected one Sigstore bundle layer, found {len(layers)}")
            bundle = _parsed(self.reader, layers[0].digest, self.reader.blob(layers[0], source), "the Sigstore bundle")
            if "dsseEnvelope" in bundle:
                # cosign 3 signs images as DSSE statements of this type; what the
                # statement really says is checked when it is verified.
                kind = "signature" if ptype == COSIGN_SIGN_PREDICATE else "attestation"
            elif "messageSignature" in bundle:
                kind = "signature"
            else:
                raise _Malformed("the bundle has neither messageSignature nor dsseEnvelope")
            candidate = BundleReferrer(kind, source, layers[0], bundle, ptype)
            if kind == "attestation":
                self.attestations.append(candidate)
            else:
                self.signatures.append(candidate)
        except (_Malformed, OverBudget, IntegrityError, RegistryError, InputError) as exc:
            self.unusable(exc, kind, source, ptype, mismatch="content does not match its digest",
                          missing="listed but missing")


def collect_candidates(
    store: Store,
    digest: Digest,
    *,
    signatures: bool = True,
    attestations: bool = True,
    limits: Limits = DEFAULT_LIMITS,
) -> Candidates:
    """Read every candidate for `digest` from the `.sig` and `.att` tags and the referrers,
    within `limits` (crossing one makes the result incomplete, never partial)."""
    c = _Collector(store, digest, limits)
    if signatures:
        c.tag(signature_tag(digest), "signature")
    if attestations:
        c.tag(attestation_tag(digest), "attestation")
    c.referrers()
    if not signatures:
        c.signatures.clear()
    if not attestations:
        c.attestations.clear()
    if c.unread > 1:
        c.incomplete.append(f"{c.unread} reads in all were refused by the evidence budget")
    wanted = {k for k, on in (("signature", signatures), ("attestation", attestations)) if on}
    return Candidates(
        digest,
        tuple(c.signatures),
        tuple(c.attestations),
        tuple(r for r in c.rejected if r.kind in wanted),
        tuple(c.incomplete),
        tuple(c.searched),
        c.reader.summary(),
    )
