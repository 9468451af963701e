"""Which images a provenance statement is attested on: a library decision, on real layouts."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from slsacheck.attach.candidates import collect_candidates
from slsacheck.attach.subjects import Target, attest_provenance, chosen_target, subject_ref, subject_targets
from slsacheck.errors import InputError, NotFound
from slsacheck.models.digest import Digest
from slsacheck.models.reference import ImageRef
from slsacheck.models.statement import Statement, Subject
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from slsacheck.oci.store import Store
from slsacheck.signing.keysigner import KeySigner

SLSA = "https://slsa.dev/provenance/v1"


def _statement(*subjects: tuple[str, dict[str, str]]) -> Statement:
    return Statement(tuple(Subject(name, digest) for name, digest in subjects), SLSA, {"buildDefinition": {}})


def _image(tmp_path: Path, name: str) -> tuple[LayoutStore, Digest]:
    store = LayoutStore(tmp_path / name, create=True)
    built = scratch.image({"f": name.encode()})
    scratch.push(store, built, tag="v1")
    return store, built.digest


def test_subject_ref_takes_only_untagged_registry_names_with_an_image_digest() -> None:
    hexa = "a" * 64
    ref = subject_ref(Subject("registry.example.com/acme/app", {"sha256": hexa}))
    assert ref is not None and str(ref.digest) == f"sha256:{hexa}"
    for subject in (
        Subject("registry.example.com/acme/app:v1", {"sha256": hexa}),  # a tag: which manifest is ambiguous
        Subject("registry.example.com/acme/app", {"sha1": "b" * 40}),  # not an image digest
        Subject("registry.example.com/acme/app", {"sha256": "zz"}),
        Subject("not a reference", {"sha256": hexa}),
        Subject("oci:/tmp/layout", {"sha256": hexa}),
    ):
        assert subject_ref(subject) is None, subject


def test_every_image_subject_is_a_target_and_the_rest_are_warned_or_refused(tmp_path: Path) -> None:
    opened: list[str] = []

    def open_store(ref: ImageRef) -> Store:
        opened.append(ref.name)
        return LayoutStore(tmp_path / "layout", create=True)

    statement = _statement(("registry.example.com/acme/app", {"sha256": "a" * 64}),
                           ("registry.example.com/acme/app", {"sha256": "b" * 64}),
                           ("git+https://github.com/acme/app", {"sha1": "c" * 40}))
    warnings: list[str] = []
    targets = subject_targets(statement, open_store, on_warning=warnings.append)
    assert [t.text for t in targets] == [f"registry.example.com/acme/app@sha256:{c * 64}" for c in "ab"]
    assert opened == ["registry.example.com/acme/app"]  # one store per repository
    assert len(warnings) == 1 and "github.com/acme/app" in warnings[0]
    with pytest.raises(InputError, match="strict mode: 1 subject"):
        subject_targets(statement, open_store, strict=True)
    with pytest.raises(InputError, match="names no image"):
        subject_targets(_statement(("git+https://github.com/acme/app", {"sha1": "c" * 40})), open_store)


def test_a_chosen_image_must_be_a_subject_by_digest(tmp_path: Path) -> None:
    store, digest = _image(tmp_path, "built")
    ref = ImageRef.parse(f"oci:{store.path}:v1")
    good = _statement(("registry.example.com/acme/app", {"sha256": digest.hex}))
    assert chosen_target(good, ref, store, "IMAGE").ref.digest == digest
    other, _ = _image(tmp_path, "other")
    with pytest.raises(InputError, match="is not a subject"):
        chosen_target(good, ImageRef.parse(f"oci:{other.path}:v1"), other, "IMAGE")


def test_a_registry_image_must_also_be_the_subject_s_repository(tmp_path: Path) -> None:
    """The same bytes pushed under another repository: provenance about `acme/app` is not
    about `evil/app`, though the digest matches (the store here is a layout holding tag v1)."""
    store, digest = _image(tmp_path, "built")
    statement = _statement(("registry.example.com/acme/app", {"sha256": digest.hex}))
    ok = chosen_target(statement, ImageRef.parse("registry.example.com/acme/app:v1"), store, "IMAGE")
    assert ok.text == f"registry.example.com/acme/app@{digest}"
    with pytest.raises(InputError, match="is not a subject") as caught:
        chosen_target(statement, ImageRef.parse("registry.example.com/evil/app:v1"), store, "IMAGE")
    assert "subject under registry.example.com/acme/app" in caught.value.diagnostics()


def test_attest_provenance_reads_every_target_before_writing_any(tmp_path: Path) -> None:
    present, digest = _image(tmp_path, "present")
    missing = LayoutStore(tmp_path / "missing", create=True)
    targets = [Target(ImageRef.parse(f"oci:{present.path}").with_digest(digest), present),
               Target(ImageRef.parse(f"oci:{missing.path}").with_digest(Digest("sha256", "d" * 64)), missing)]
    statement = _statement(("registry.example.com/acme/app", {"sha256": digest.hex}))
    signer = KeySigner(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(NotFound):
        attest_provenance(statement, signer, targets)
    assert collect_candidates(present, digest).attestations == ()  # nothing written to the first
    heard: list[str] = []
    done = attest_provenance(statement, signer, targets[:1], fmt="legacy",
                             on_attested=lambda target, _attached: heard.append(target.text))
    assert heard == [targets[0].text] and done[0][1].added == 1
    assert len(collect_candidates(present, digest).attestations) == 1
