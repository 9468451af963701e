"""Attest one generated statement (provenance) on the images its subjects name.

Which images get the attestation is decided here, not by a command line:

- every subject that names an image in a registry (`NAME` with no tag or digest, and a
  sha256/sha512 digest) is a target; any other subject is skipped, and `strict` makes a
  skipped subject an error raised before anything is written;
- or one chosen image, which must be a subject: the same digest and, in a registry, the
  same repository (a layout has no repository name, so there the digest decides).

`attest_provenance` reads every target before it writes to the first, so a missing image
writes nothing. Each attestation's statement names the one image it is attached to, as
`attach.sign.attest_image` writes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from slsacheck.attach.sign import Attached, Format, attest_image
from slsacheck.errors import InputError, InvalidReference
from slsacheck.models.digest import Digest, InvalidDigest
from slsacheck.models.reference import ImageRef
from slsacheck.models.statement import Statement, Subject
from slsacheck.oci.store import Store
from slsacheck.signing.signer import Signer


@dataclass(frozen=True)
class Target:
    """One image to attest: its reference pinned to the digest, and the store it lives in."""

    ref: ImageRef
    store: Store

    @property
    def text(self) -> str:
        return f"{self.ref.name}@{self.ref.digest}"


def _image_digest(subject: Subject) -> Digest | None:
    for algorithm in ("sha256", "sha512"):
        if algorithm in subject.digest:
            try:
                return Digest(algorithm, subject.digest[algorithm])
            except InvalidDigest:
                return None
    return None


def subject_ref(subject: Subject) -> ImageRef | None:
    """`NAME@DIGEST` for a subject that names an image in a registry, else None."""
    digest = _image_digest(subject)
    if digest is None:
        return None
    try:
        ref = ImageRef.parse(subject.name)
    except InvalidReference:
        return None
    if ref.is_layout or ref.tag is not None or ref.digest is not None:
        return None
    return ref.with_digest(digest)


def _digests(subject: Subject) -> str:
    return ",".join(f"{k}:{v}" for k, v in subject.digest.items())


def subject_targets(
    statement: Statement,
    open_store: Callable[[ImageRef], Store],
    *,
    strict: bool = False,
    on_warning: Callable[[str], None] = lambda _line: None,
) -> list[Target]:
    """Every image subject of `statement`, each with its store (one store per repository).

    Subjects that are not images are reported through `on_warning`, or refused together
    under `strict`; a statement that names no image at all is an error either way."""
    refs: list[ImageRef] = []
    skipped: list[str] = []
    for subject in statement.subjects:
        ref = subject_ref(subject)
        if ref is None:
            skipped.append(f"subject {subject.name}@{_digests(subject)} is not an image in a registry (NAME + sha256 "
                           "digest); not attested")
        else:
            refs.append(ref)
    if skipped and strict:
        raise InputError(
            f"attestation refused in strict mode: {len(skipped)} subject(s) cannot be attested\n    "
            + "\n    ".join(skipped),
            hint="name the image to attest (IMAGE), or attest without --strict to skip these subjects",
        )
    for line in skipped:
        on_warning(line)
    if not refs:
        raise InputError(
            "the provenance names no image to attest",
            expected="a subject NAME with a sha256 digest (the run's IMAGE_URL/IMAGE_DIGEST results)",
            found=", ".join(s.name for s in statement.subjects),
            hint="attest a layout or another place by naming it: slsacheck provenance attest ... IMAGE",
        )
    stores: dict[str, Store] = {}
    for ref in refs:
        if ref.name not in stores:
            stores[ref.name] = open_store(ref)
    return [Target(ref, stores[ref.name]) for ref in refs]


def chosen_target(statement: Statement, ref: ImageRef, store: Store, text: str) -> Target:
    """`ref` (as the user wrote it: `text`), resolved once, which must be a subject of
    `statement`: the same digest, and in a registry the same repository."""
    digest = store.fetch_manifest(ref.identifier).digest
    subjects = [s for s in statement.subjects if s.names(digest)]
    if not ref.is_layout:
        subjects = [s for s in subjects if s.name == ref.name]
    if not subjects:
        listed = ", ".join(f"{s.name}@{_digests(s)}" for s in statement.subjects)
        same_digest = [s.name for s in statement.subjects if s.names(digest)]
        raise InputError(
            f"{text} is not a subject of this provenance",
            expected=f"one of: {listed}",
            found=f"{ref.name}@{digest}" + (f" (that digest is a subject under {', '.join(same_digest)})"
                                            if same_digest else ""),
            hint="the run's IMAGE_URL/IMAGE_DIGEST results name another image: attest the image the run built, "
            "or leave IMAGE out to attest every subject",
        )
    return Target(ref.with_digest(digest), store)


def attest_provenance(
    statement: Statement,
    signer: Signer,
    targets: Sequence[Target],
    *,
    fmt: Format = "both",
    on_attested: Callable[[Target, Attached], None] = lambda _target, _attached: None,
) -> list[tuple[Target, Attached]]:
    """Attest `statement`'s predicate on each target, after reading every target first.

    `on_attested` hears of each attestation as it is written, so that a caller can say
    what was written before a later target fails."""
    for target in targets:
        target.store.fetch_manifest(str(target.ref.digest))
    predicate = dict(statement.predicate)
    done: list[tuple[Target, Attached]] = []
    for target in targets:
        attached = attest_image(target.store, target.ref, signer, predicate_type=statement.predicate_type,
                                predicate=predicate, fmt=fmt)
        on_attested(target, attached)
        done.append((target, attached))
    return done
