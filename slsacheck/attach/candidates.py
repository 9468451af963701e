"""Every candidate signature and attestation of one image, from every place at once.

cosign keeps evidence in the `sha256-<hex>.sig` / `.att` tags; the Sigstore clients and
newer cosign attach bundles as OCI 1.1 referrers. A verifier that looks in one place
and stops misses evidence, so `collect_candidates` always reads all three (the `.sig`
tag, the `.att` tag, the bundle referrers) and returns everything it found.

Nothing here decides trust. A `Candidate` is raw material for `slsacheck.verify`:
payload, envelope or bundle, signature, certificate, chain, Rekor bundle, and where
it came from. The rules:

- every manifest and blob is read through the Store, so it has been checked against its
  digest and capped in size; a payload blob whose bytes do not match its descriptor is
  rejected here, with the reason, before anyone looks at its signature;
- a malformed layer, manifest or bundle becomes a `Rejected` with the reason (never a
  crash, never silently dropped);
- a registry error other than "not found" while collecting is recorded in `incomplete`,
  which makes any verdict over these candidates fail closed.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from slsacheck._json import load_object
from slsacheck._reason import one_line
from slsacheck.attach.cosign_tags import attestation_tag, signature_tag
from slsacheck.attach.referrers import list_bundles
from slsacheck.errors import InputError, IntegrityError, NotFound, RegistryError
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Descriptor, Manifest
from slsacheck.models.digest import Digest
from slsacheck.models.evidence import Rejected
from slsacheck.oci.layout import LayoutStore
from slsacheck.oci.store import Store

Kind = Literal["signature", "attestation"]
# The predicate type of cosign 3's bundle-format image signatures (a DSSE statement).
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
Origin = Literal["tag", "referrer"]
# Bound the work one image can cause: layers per tag manifest and bundle referrers.
MAX_CANDIDATES = 256


@dataclass(frozen=True)
class Candidate:
    """One signature or attestation as found, not yet trusted."""

    kind: Kind
    origin: Origin
    source: str  # "<repo>:sha256-<hex>.sig layer 0" or "referrer sha256:<hex>"
    layer: Descriptor | None = None
    payload: bytes | None = None  # simple-signing payload (tag signatures)
    signature: bytes | None = None  # decoded `dev.cosignproject.cosign/signature`
    envelope: Mapping[str, Any] | None = None  # DSSE envelope JSON (tag attestations)
    envelope_blob: bytes | None = None  # the envelope layer as stored: what cosign's RFC 3161 timestamp covers
    bundle: Mapping[str, Any] | None = None  # Sigstore bundle JSON (referrers)
    certificate: bytes | None = None  # PEM
    chain: bytes | None = None  # PEM, intermediates then root
    rekor_bundle: Mapping[str, Any] | None = None  # cosign's SET annotation, parsed
    rfc3161_timestamp: bytes | None = None  # DER
    predicate_type: str | None = None  # what the annotation claims; the statement decides
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def keyless(self) -> bool:
        return self.certificate is not None


@dataclass(frozen=True)
class Candidates:
    digest: Digest
    signatures: tuple[Candidate, ...] = ()
    attestations: tuple[Candidate, ...] = ()
    rejected: tuple[Rejected, ...] = ()
    incomplete: tuple[str, ...] = ()
    # Where we looked, for the output ("searched: .sig tag, .att tag, referrers").
    searched: tuple[str, ...] = ()

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


def _json_object(data: bytes | str, what: str) -> dict[str, Any]:
    return load_object(
        data,
        not_json=lambda exc: _Malformed(f"{what} is not valid JSON ({exc.__class__.__name__}: {exc})"),
        not_object=lambda _: _Malformed(f"{what} is not a JSON object"),
    )


def _material(layer: Descriptor) -> dict[str, Any]:
    ann = layer.annotations
    out: dict[str, Any] = {}
    if ann.get(mt.ANN_CERTIFICATE):
        out["certificate"] = ann[mt.ANN_CERTIFICATE].encode()
    if ann.get(mt.ANN_CHAIN):
        out["chain"] = ann[mt.ANN_CHAIN].encode()
    if ann.get(mt.ANN_BUNDLE):
        out["rekor_bundle"] = _json_object(ann[mt.ANN_BUNDLE], f"the {mt.ANN_BUNDLE} annotation")
    if ann.get(mt.ANN_RFC3161):
        ts = _json_object(ann[mt.ANN_RFC3161], f"the {mt.ANN_RFC3161} annotation")
        value = ts.get("SignedRFC3161Timestamp")
        if not isinstance(value, str):
            raise _Malformed(f"the {mt.ANN_RFC3161} annotation has no SignedRFC3161Timestamp")
        out["rfc3161_timestamp"] = _b64(value, "the RFC 3161 timestamp")
    return out


def _signature_layer(store: Store, layer: Descriptor, source: str) -> Candidate:
    if layer.media_type != mt.SIMPLE_SIGNING:
        raise _Malformed(f"layer media type is {layer.media_type!r}, not {mt.SIMPLE_SIGNING}")
    sig_text = layer.annotations.get(mt.ANN_SIGNATURE)
    if not sig_text:
        raise _Malformed(f"the layer has no {mt.ANN_SIGNATURE} annotation")
    signature = _b64(sig_text, f"the {mt.ANN_SIGNATURE} annotation")
    material = _material(layer)
    payload = store.fetch_blob(layer)
    return Candidate(
        "signature", "tag", source, layer, payload=payload, signature=signature,
        annotations=dict(layer.annotations), **material,
    )


def _attestation_layer(store: Store, layer: Descriptor, source: str) -> Candidate:
    if layer.media_type != mt.DSSE_ENVELOPE:
        raise _Malformed(f"layer media type is {layer.media_type!r}, not {mt.DSSE_ENVELOPE}")
    material = _material(layer)
    blob = store.fetch_blob(layer)
    envelope = _json_object(blob, "the DSSE envelope")
    return Candidate(
        "attestation", "tag", source, layer, envelope=envelope, envelope_blob=blob,
        predicate_type=layer.annotations.get(mt.ANN_PREDICATE_TYPE),
        annotations=dict(layer.annotations), **material,
    )


class _Collector:
    def __init__(self, store: Store, digest: Digest) -> None:
        self.store = store
        self.digest = digest
        self.signatures: list[Candidate] = []
        self.attestations: list[Candidate] = []
        self.rejected: list[Rejected] = []
        self.incomplete: list[str] = []
        self.searched: list[str] = []

    def reject(self, kind: Kind, source: str, reason: str, predicate_type: str | None = None) -> None:
        self.rejected.append(Rejected(kind, source, reason, predicate_type=predicate_type))

    def unusable(
        self, exc: Exception, kind: Kind, source: str, ptype: str | None, *, mismatch: str, missing: str
    ) -> None:
        """Record why a layer or bundle is no candidate: a reason of its own, or, when the
        registry failed us, a gap that makes the collection incomplete."""
        if isinstance(exc, _Malformed):
            self.reject(kind, source, str(exc), ptype)
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
            manifest = self.store.fetch_manifest(tag)
        except NotFound:
            self.saved_layout(kind)
            return
        except (IntegrityError, InputError) as exc:
            self.reject(kind, where, f"the {kind} manifest is unusable: {one_line(exc)}")
            return
        except RegistryError as exc:
            self.incomplete.append(f"reading {where}: {one_line(exc)}")
            return
        self.layers(kind, manifest, where)

    def layers(self, kind: Kind, manifest: Manifest, where: str) -> None:
        for index, layer in enumerate(manifest.layers):
            if index >= MAX_CANDIDATES:
                self.reject(kind, where, f"more than {MAX_CANDIDATES} layers; the rest were not read")
                break
            self.layer(kind, layer, f"{where} layer {index}")

    def saved_layout(self, kind: Kind) -> None:
        """`cosign save` layouts hold one image and mark its `.sig`/`.att` manifests
        with a `kind` annotation instead of a tag; read those when the image is ours."""
        if not isinstance(self.store, LayoutStore):
            return
        try:
            entries = self.store.entries()
        except RegistryError as exc:
            self.incomplete.append(f"reading {self.store.location}/index.json: {one_line(exc)}")
            return
        images = [e for e in entries if e.annotations.get(mt.ANN_KIND) in {mt.KIND_IMAGE, mt.KIND_IMAGE_INDEX}]
        if len({e.digest for e in images}) != 1 or images[0].digest != self.digest:
            return
        wanted = mt.KIND_SIGS if kind == "signature" else mt.KIND_ATTS
        for entry in entries:
            if entry.annotations.get(mt.ANN_KIND) != wanted or mt.ANN_REF_NAME in entry.annotations:
                continue
            where = f"{self.store.location} {wanted} {entry.digest}"
            try:
                manifest = self.store.fetch_manifest(str(entry.digest))
            except (IntegrityError, InputError, NotFound) as exc:
                self.reject(kind, where, f"the {kind} manifest is unusable: {one_line(exc)}")
                continue
            except RegistryError as exc:
                self.incomplete.append(f"reading {where}: {one_line(exc)}")
                continue
            self.layers(kind, manifest, where)

    def layer(self, kind: Kind, layer: Descriptor, source: str) -> None:
        ptype = layer.annotations.get(mt.ANN_PREDICATE_TYPE) if kind == "attestation" else None
        try:
            if kind == "signature":
                self.signatures.append(_signature_layer(self.store, layer, source))
            else:
                self.attestations.append(_attestation_layer(self.store, layer, source))
        except (_Malformed, IntegrityError, RegistryError, InputError) as exc:
            self.unusable(exc, kind, source, ptype, mismatch="the layer blob does not match its descriptor",
                          missing="the layer blob is missing")

    def referrers(self) -> None:
        self.searched.append(f"{self.store.location} referrers of {self.digest}")
        try:
            found = list_bundles(self.store, self.digest)
        except NotFound:
            return
        except (IntegrityError, InputError) as exc:
            self.reject("signature", f"referrers of {self.digest}", f"the referrers index is unusable: {one_line(exc)}")
            return
        except RegistryError as exc:
            self.incomplete.append(f"listing referrers of {self.digest}: {one_line(exc)}")
            return
        for index, desc in enumerate(found):
            if index >= MAX_CANDIDATES:
                self.reject("signature", f"referrers of {self.digest}", f"more than {MAX_CANDIDATES} bundles")
                break
            self.bundle(desc)

    def bundle(self, desc: Descriptor) -> None:
        source = f"{self.store.location} referrer {desc.digest}"
        claimed = desc.annotations.get(mt.ANN_BUNDLE_CONTENT)
        ptype = desc.annotations.get(mt.ANN_BUNDLE_PREDICATE_TYPE)
        kind: Kind = "attestation" if claimed == "dsse-envelope" and ptype != COSIGN_SIGN_PREDICATE else "signature"
        try:
            manifest: Manifest = self.store.fetch_manifest(str(desc.digest))
            ptype = manifest.annotations.get(mt.ANN_BUNDLE_PREDICATE_TYPE, ptype)
            subject = manifest.subject
            if subject is None or subject.digest != self.digest:
                raise _Malformed(
                    f"the referrer's subject is {subject.digest if subject else 'missing'}, not {self.digest}"
                )
            layers = [x for x in manifest.layers if x.media_type.startswith("application/vnd.dev.sigstore.bundle")]
            if len(layers) != 1:
                raise _Malformed(f"expected one Sigstore bundle layer, found {len(layers)}")
            bundle = _json_object(self.store.fetch_blob(layers[0]), "the Sigstore bundle")
            if "dsseEnvelope" in bundle:
                # cosign 3 signs images as DSSE statements of this type; what the
                # statement really says is checked when it is verified.
                kind = "signature" if ptype == COSIGN_SIGN_PREDICATE else "attestation"
            elif "messageSignature" in bundle:
                kind = "signature"
            else:
                raise _Malformed("the bundle has neither messageSignature nor dsseEnvelope")
            candidate = Candidate(
                kind, "referrer", source, layers[0], bundle=bundle, predicate_type=ptype,
                annotations=dict(manifest.annotations),
            )
            (self.attestations if kind == "attestation" else self.signatures).append(candidate)
        except (_Malformed, IntegrityError, RegistryError, InputError) as exc:
            self.unusable(exc, kind, source, ptype, mismatch="content does not match its digest",
                          missing="listed but missing")


def collect_candidates(
    store: Store,
    digest: Digest,
    *,
    signatures: bool = True,
    attestations: bool = True,
) -> Candidates:
    """Read every candidate for `digest` from the `.sig` and `.att` tags and the referrers."""
    c = _Collector(store, digest)
    if signatures:
        c.tag(signature_tag(digest), "signature")
    if attestations:
        c.tag(attestation_tag(digest), "attestation")
    c.referrers()
    if not signatures:
        c.signatures.clear()
    if not attestations:
        c.attestations.clear()
    wanted = {k for k, on in (("signature", signatures), ("attestation", attestations)) if on}
    return Candidates(
        digest,
        tuple(c.signatures),
        tuple(c.attestations),
        tuple(r for r in c.rejected if r.kind in wanted),
        tuple(c.incomplete),
        tuple(c.searched),
    )
