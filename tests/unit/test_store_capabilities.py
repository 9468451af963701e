"""Optional store capabilities are declared protocols, and only `oci` asks for them.

The stores are real: a layout directory on disk, and a registry store over a client that is
never asked to send anything (declaring a capability needs no network)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from slsacheck.audit.memo import MemoStore
from slsacheck.models import mediatypes as mt
from slsacheck.oci import scratch
from slsacheck.oci._http import RegistryClient
from slsacheck.oci.layout import LayoutStore
from slsacheck.oci.registry import RegistryStore
from slsacheck.oci.store import (
    BlobMounting,
    ReferrerPushing,
    SavedLayout,
    Store,
    WriterLocked,
    exclusive,
    mount_source,
    referrer_pusher,
    saved_evidence,
    saved_layout,
)
from tests.support.layout import index_json
from tests.unit.test_layout_concurrency import _lock_is_free

PACKAGE = Path(__file__).resolve().parents[2] / "slsacheck"


def _registry(host: str, repository: str) -> RegistryStore:
    return RegistryStore(RegistryClient(host), repository)


def test_each_store_declares_what_it_can_do(tmp_path: Path) -> None:
    layout = LayoutStore(tmp_path / "l", create=True)
    registry = _registry("registry.example.com", "acme/app")
    memo = MemoStore(registry)
    for store in (layout, registry, memo):
        assert isinstance(store, Store)
    assert isinstance(layout, WriterLocked) and isinstance(layout, SavedLayout)
    assert not isinstance(layout, BlobMounting) and not isinstance(layout, ReferrerPushing)
    assert isinstance(registry, BlobMounting) and isinstance(registry, ReferrerPushing)
    assert not isinstance(registry, WriterLocked) and not isinstance(registry, SavedLayout)
    # An audit's cache reads only: it must not pass for a store that writes referrers or mounts.
    assert not isinstance(memo, (BlobMounting, ReferrerPushing, WriterLocked, SavedLayout))
    assert (layout.registry, layout.repository) == (None, None)
    assert (registry.registry, registry.repository) == ("registry.example.com", "acme/app")
    assert (memo.registry, memo.repository) == ("registry.example.com", "acme/app")
    assert referrer_pusher(registry) is registry and referrer_pusher(layout) is None
    assert saved_layout(layout) is layout and saved_layout(registry) is None


def test_blobs_are_mounted_only_between_repositories_of_one_registry(tmp_path: Path) -> None:
    src = _registry("registry.example.com", "acme/app")
    same_registry = _registry("registry.example.com", "acme/copy")
    found = mount_source(src, same_registry)
    assert found is not None and found[0] is same_registry and found[1] == "acme/app"
    # Another registry whose repository path happens to match must not be asked to mount.
    assert mount_source(src, _registry("other.example.com", "acme/copy")) is None
    assert mount_source(_registry("registry.example.com:5000", "acme/app"), same_registry) is None
    assert mount_source(src, _registry("registry.example.com", "acme/app")) is None  # itself
    layout = LayoutStore(tmp_path / "l", create=True)
    assert mount_source(layout, same_registry) is None and mount_source(src, layout) is None


def test_exclusive_holds_the_layout_lock_and_is_a_no_op_on_a_registry(tmp_path: Path) -> None:
    layout = LayoutStore(tmp_path / "l", create=True, lock_timeout=0.2)
    with exclusive(layout):
        assert not _lock_is_free(layout.path)  # another process would wait for it
    assert _lock_is_free(layout.path)
    with exclusive(_registry("registry.example.com", "acme/app")):
        assert _lock_is_free(layout.path)


def _saved(tmp_path: Path, kinds: list[tuple[scratch.Built, str, str | None]]) -> LayoutStore:
    store = LayoutStore(tmp_path / "saved", create=True)
    for built, _, _ in kinds:
        for d, data in built.blobs:
            store.push_blob(d, data)
        store.push_blob(built.descriptor, built.manifest)
    doc = index_json(store.path)
    doc["manifests"] = [
        {"mediaType": mt.OCI_MANIFEST, "digest": str(b.digest), "size": len(b.manifest),
         "annotations": {"kind": kind, **({mt.ANN_REF_NAME: tag} if tag else {})}}
        for b, kind, tag in kinds
    ]
    (store.path / "index.json").write_text(json.dumps(doc))
    return store


def test_saved_evidence_is_the_marked_manifests_of_the_one_image(tmp_path: Path) -> None:
    img, sig, att = scratch.image({"f": b"1"}), scratch.image({"sig": b"1"}), scratch.image({"att": b"1"})
    store = _saved(tmp_path, [(img, mt.KIND_IMAGE, None), (sig, mt.KIND_SIGS, None), (att, mt.KIND_ATTS, None)])
    assert [e.digest for e in saved_evidence(store, img.digest, mt.KIND_SIGS) or []] == [sig.digest]
    assert [e.digest for e in saved_evidence(store, img.digest, mt.KIND_ATTS) or []] == [att.digest]
    assert saved_evidence(_registry("registry.example.com", "acme/app"), img.digest, mt.KIND_SIGS) is None


def test_saved_evidence_of_another_image_is_never_lent_to_this_one(tmp_path: Path) -> None:
    """An attacker who can add an image to a shared layout must not have its `sigs` entries
    read as the evidence of whichever image is asked about."""
    victim, rogue, sig = scratch.image({"f": b"v"}), scratch.image({"f": b"r"}), scratch.image({"sig": b"r"})
    one = _saved(tmp_path / "a", [(rogue, mt.KIND_IMAGE, None), (sig, mt.KIND_SIGS, None)])
    assert saved_evidence(one, victim.digest, mt.KIND_SIGS) is None
    two = _saved(tmp_path / "b", [(victim, mt.KIND_IMAGE, None), (rogue, mt.KIND_IMAGE, None),
                                  (sig, mt.KIND_SIGS, None)])
    assert saved_evidence(two, victim.digest, mt.KIND_SIGS) is None  # which image the marks belong to is unknown
    tagged = _saved(tmp_path / "c", [(victim, mt.KIND_IMAGE, None), (sig, mt.KIND_SIGS, "other.sig")])
    assert saved_evidence(tagged, victim.digest, mt.KIND_SIGS) == []  # a tagged entry is found by its tag


_PROBES = [
    re.compile(r"getattr\(\s*\w*store\w*\s*,"),
    re.compile(r"isinstance\(\s*\w*store\w*\s*,"),
    re.compile(r"isinstance\([^)]*\b(LayoutStore|RegistryStore|MemoStore)\b"),
    re.compile(r"callable\(\s*getattr\("),
    # The same question asked another way: by attribute, by class, or of a capability protocol
    # directly (the functions of `oci.store` are the one place that asks).
    re.compile(r"hasattr\(\s*\w*store\w*\s*,"),
    re.compile(r"type\(\s*\w*store\w*\s*\)"),
    re.compile(r"\w*store\w*\.__class__"),
    re.compile(r"isinstance\([^)]*\b(Store|BlobMounting|ReferrerPushing|WriterLocked|SavedLayout)\b"),
]


@pytest.mark.parametrize("probe", [
    "if hasattr(store, 'mount_blob'):", "if type(dst_store) is LayoutStore:", "kind = store.__class__.__name__",
    "if isinstance(dst, ReferrerPushing):", "isinstance(target, (WriterLocked, SavedLayout))",
    "getattr(store, 'entries', None)", "isinstance(src, MemoStore)",
])
def test_the_probe_guard_sees_each_way_of_asking(probe: str) -> None:
    assert any(p.search(probe) for p in _PROBES), probe


@pytest.mark.parametrize("path", sorted(p for p in PACKAGE.rglob("*.py") if "oci" not in p.relative_to(PACKAGE).parts),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_capability_probes_outside_oci(path: Path) -> None:
    text = path.read_text()
    found = [m.group(0) for probe in _PROBES for m in probe.finditer(text)]
    assert not found, f"{path}: ask `slsacheck.oci.store` for a capability instead of probing: {found}"
