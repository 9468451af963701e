"""Multi-platform images: each platform manifest of an index subject becomes a subject too.

A build that pushes an image index (`linux/amd64` + `linux/arm64`) is usually hinted by the
index digest. A verifier handed one platform's digest (what a node actually pulls) then finds
no subject naming it. With `--platform-subjects`, slsacheck reads each subject that is an
image from its registry (through the `Store` the caller opens, so every manifest is checked
against its digest) and, for an index, adds one subject per child manifest, under the same
name, right after the index. Nothing is guessed: a subject that cannot be read fails the
command (a check that cannot complete is a failure); a subject that is not an image
reference (a file, a package) is left alone.
"""

from __future__ import annotations

from collections.abc import Callable

from slsacheck.errors import InvalidReference
from slsacheck.models.digest import Digest, InvalidDigest
from slsacheck.models.reference import ImageRef
from slsacheck.models.statement import Statement, Subject
from slsacheck.oci.store import Store

OpenStore = Callable[[ImageRef], Store]


def add_platform_subjects(statement: Statement, open_store: OpenStore) -> Statement:
    """`statement` with every index subject followed by its platform manifests."""
    out: list[Subject] = []
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()

    def add(subject: Subject) -> None:
        key = (subject.name, tuple(subject.digest.items()))
        if key not in seen:
            seen.add(key)
            out.append(subject)

    for subject in statement.subjects:
        add(subject)
        ref, digest = _image(subject)
        if ref is None or digest is None:
            continue
        manifest = open_store(ref).fetch_manifest(str(digest))
        for child in manifest.children:
            add(Subject(subject.name, {child.digest.algorithm: child.digest.hex}))
    return Statement(tuple(out), statement.predicate_type, statement.predicate, statement.type, statement.extra)


def _image(subject: Subject) -> tuple[ImageRef | None, Digest | None]:
    try:
        ref = ImageRef.parse(subject.name)
    except InvalidReference:
        return None, None
    if ref.is_layout or ref.tag is not None or ref.digest is not None:
        return None, None
    for algorithm in ("sha256", "sha512"):
        if algorithm in subject.digest:
            try:
                digest = Digest(algorithm, subject.digest[algorithm])
            except InvalidDigest:
                return None, None
            return ref.with_digest(digest), digest
    return None, None
