"""Sign and attest an image in a Store: resolve, sign, attach (legacy tags, bundles, or both).

Formats, as cosign writes them:

- `legacy` signature: a simple-signing payload naming the digest (and the user's
  annotations in `optional`), its signature a new layer of `sha256-<hex>.sig`;
- `bundle` signature: cosign 3's form, an in-toto Statement whose subject is the image
  digest (the user's annotations on the subject) with predicate type
  `https://sigstore.dev/cosign/sign/v1` and an empty predicate, DSSE-signed, in a
  Sigstore bundle v0.3 attached as a referrer (`dev.sigstore.bundle.content:
  dsse-envelope`). A DSSE bundle carries the statement, so a verifier needs nothing
  but the bundle and the digest; a bare message signature would need the payload too;
- attestation: one DSSE envelope over the in-toto Statement, written as a layer of
  `sha256-<hex>.att` (legacy) and/or inside a bundle referrer (bundle): one signing
  operation serves both.

The image is resolved to a digest first; everything is about that digest, which the
result reports. `recursive` signs an index and then every manifest it lists (depth
first, each once).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from slsacheck.attach import cosign_tags as ct
from slsacheck.attach.predicates import predicate_for, statement
from slsacheck.errors import InputError
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Manifest
from slsacheck.models.digest import Digest
from slsacheck.models.predicates import COSIGN_SIGN_PREDICATE
from slsacheck.models.reference import ImageRef
from slsacheck.models.statement import Statement, Subject
from slsacheck.oci.store import Store
from slsacheck.signing.signer import SignedEnvelope, Signer
from slsacheck.signing.simplesigning import build_payload

Format = Literal["legacy", "bundle", "both"]
FORMATS: tuple[Format, ...] = ("legacy", "bundle", "both")
MAX_RECURSION = 4096  # manifests one recursive signing may touch


@dataclass(frozen=True)
class Attached:
    """What one signing or attesting wrote for one digest."""

    digest: Digest
    media_type: str
    tag: str | None = None  # the cosign tag written (legacy)
    added: int = 0  # new layers in it (0: identical one already there)
    bundle: Digest | None = None  # the bundle referrer manifest (bundle)


def docker_reference(ref: ImageRef) -> str:
    """The repository a signature names (`critical.identity.docker-reference`)."""
    return ref.name


def resolve(store: Store, ref: ImageRef) -> Manifest:
    """The manifest `ref` names now (its digest is the hash of these exact bytes)."""
    return store.fetch_manifest(ref.identifier)


def _targets(store: Store, top: Manifest, recursive: bool) -> list[Manifest]:
    out: list[Manifest] = [top]
    if not recursive:
        return out
    seen = {top.digest}
    stack = [top]
    while stack:
        current = stack.pop()
        for child in current.children:
            if child.digest in seen or child.media_type not in mt.MANIFEST_TYPES:
                continue
            if len(seen) >= MAX_RECURSION:
                raise InputError(f"--recursive: more than {MAX_RECURSION} manifests under {top.digest}")
            seen.add(child.digest)
            manifest = store.fetch_manifest(str(child.digest))
            out.append(manifest)
            stack.append(manifest)
    return out


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise InputError(f"unknown signature format {fmt!r}", expected=" or ".join(FORMATS), found=fmt)


def sign_statement(subject_name: str, digest: Digest, annotations: Mapping[str, str]) -> bytes:
    """cosign 3's bundle-format image signature: a Statement about the digest."""
    extra: dict[str, Any] = {"annotations": dict(annotations)} if annotations else {}
    subject = Subject(subject_name, {digest.algorithm: digest.hex}, extra)
    return Statement((subject,), COSIGN_SIGN_PREDICATE, {}).to_bytes()


def _push_bundle(store: Store, manifest: Manifest, envelope: SignedEnvelope, predicate_type: str) -> Digest:
    """`envelope` as a Sigstore bundle referrer of `manifest`; the digest of its manifest."""
    # The bundle writer loads only for the bundle format: a legacy-format step never uses it.
    from slsacheck.attach.referrers import bundle_artifact, push_bundle  # noqa: PLC0415
    from slsacheck.signing.bundle_build import dsse_bundle  # noqa: PLC0415

    artifact = bundle_artifact(dsse_bundle(envelope), manifest.descriptor, "dsse-envelope",
                               predicate_type=predicate_type)
    return push_bundle(store, manifest.descriptor, artifact).manifest.digest


def sign_image(
    store: Store,
    ref: ImageRef,
    signer: Signer,
    *,
    annotations: Mapping[str, str] | None = None,
    recursive: bool = False,
    fmt: Format = "both",
) -> list[Attached]:
    """Sign `ref` (and with `recursive`, every manifest under it); one result per digest."""

    _check_format(fmt)
    notes = dict(annotations or {})
    name = docker_reference(ref)
    results = []
    for manifest in _targets(store, resolve(store, ref), recursive):
        digest = manifest.digest
        tag = added = bundle = None
        if fmt in ("legacy", "both"):
            signed = signer.sign_message(build_payload(name, digest, notes))
            written = ct.append_layers(store, ct.signature_tag(digest), [ct.signature_layer(signed)])
            tag, added = written.tag, written.added
        if fmt in ("bundle", "both"):
            envelope = signer.sign_dsse(mt.IN_TOTO_PAYLOAD, sign_statement(name, digest, notes))
            bundle = _push_bundle(store, manifest, envelope, COSIGN_SIGN_PREDICATE)
        results.append(Attached(digest, manifest.media_type, tag, added or 0, bundle))
    return results


def attest_image(
    store: Store,
    ref: ImageRef,
    signer: Signer,
    *,
    predicate_type: str,
    predicate: Mapping[str, Any],
    fmt: Format = "both",
    source: str = "the predicate",
) -> Attached:
    """Attest `ref` with one in-toto Statement (subject: its digest, named by its repository).

    `predicate` may be a whole Statement about this digest: its predicate is attested (see
    `attach.predicates.predicate_for`); `source` names it in errors (a file name).
    """

    _check_format(fmt)
    manifest = resolve(store, ref)
    digest = manifest.digest
    body = predicate_for(predicate, predicate_type, digest, source)
    signed = signer.sign_dsse(mt.IN_TOTO_PAYLOAD, statement(ref.name, digest, predicate_type, body))
    tag = added = bundle = None
    if fmt in ("legacy", "both"):
        written = ct.append_layers(store, ct.attestation_tag(digest), [ct.attestation_layer(signed, predicate_type)])
        tag, added = written.tag, written.added
    if fmt in ("bundle", "both"):
        bundle = _push_bundle(store, manifest, signed, predicate_type)
    return Attached(digest, manifest.media_type, tag, added or 0, bundle)
