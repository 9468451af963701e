"""--platform-subjects: an index subject brings its platform manifests, read through a Store."""

from __future__ import annotations

from pathlib import Path

import pytest

from slsacheck.errors import NotFound
from slsacheck.models import ImageRef, Platform, Statement, Subject
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from slsacheck.provenance.platforms import add_platform_subjects


def _statement(*subjects: Subject) -> Statement:
    return Statement(subjects, "https://slsa.dev/provenance/v1", {"x": 1})


def test_index_subjects_gain_their_platforms(tmp_path: Path) -> None:
    store = LayoutStore(str(tmp_path / "layout"), create=True)
    amd = scratch.image({"a": b"amd64"}, platform=Platform("linux", "amd64"))
    arm = scratch.image({"a": b"arm64"}, platform=Platform("linux", "arm64"))
    index = scratch.index([amd, arm])
    scratch.push(store, index, tag="v1")
    single = scratch.image({"b": b"single"})
    scratch.push(store, single, tag="v2")
    opened: list[ImageRef] = []

    def open_store(ref: ImageRef) -> LayoutStore:
        opened.append(ref)
        return store

    name = "registry.example.com/team/app"
    statement = _statement(
        Subject(name, {"sha256": index.digest.hex}),
        Subject("registry.example.com/team/other", {"sha256": single.digest.hex}),
        Subject("https://files.example.com/app.tgz", {"sha256": "d" * 64}),
    )
    widened = add_platform_subjects(statement, open_store)
    assert [(s.name, s.digest["sha256"]) for s in widened.subjects] == [
        (name, index.digest.hex),
        (name, amd.digest.hex),
        (name, arm.digest.hex),
        ("registry.example.com/team/other", single.digest.hex),
        ("https://files.example.com/app.tgz", "d" * 64),
    ]
    assert widened.names_digest(arm.digest) and not statement.names_digest(arm.digest)
    assert [str(r) for r in opened] == [f"{name}@{index.digest}", f"registry.example.com/team/other@{single.digest}"]
    assert widened.predicate == statement.predicate


def test_a_subject_the_registry_does_not_have_fails(tmp_path: Path) -> None:
    store = LayoutStore(str(tmp_path / "layout"), create=True)
    statement = _statement(Subject("registry.example.com/team/app", {"sha256": "e" * 64}))
    with pytest.raises(NotFound):
        add_platform_subjects(statement, lambda _ref: store)
