"""Promotion from and to OCI layouts, with images made by other tools.

A two-platform index built by buildah, signed and attested in a layout, is promoted to
the registry and to another layout; skopeo reads both destinations and finds the source
digest. A `cosign save`-style layout (its `.sig`/`.att` manifests marked by a `kind`
annotation instead of a tag) is promoted to the registry, where they get their cosign
tags and the image verifies.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from slsacheck.attach.predicates import PREDICATE_ALIASES
from slsacheck.attach.sign import attest_image, sign_image
from slsacheck.models import mediatypes as mt
from slsacheck.models.reference import ImageRef
from slsacheck.oci import scratch
from slsacheck.oci.copy import copy
from slsacheck.oci.layout import LayoutStore
from slsacheck.policy.load import load_policies
from slsacheck.promote import promote
from tests.integration.test_promote_helpers import (
    PREDICATE,
    Keys,
    judge,
    keys,
    policy_file,
    sign_and_attest,
    signer,
    valid_record,
)
from tests.support.images import BuildahImages, buildah_images, skopeo
from tests.support.registry import RunningRegistry

__all__ = ["buildah_images", "keys"]  # fixtures, imported so pytest finds them here

pytestmark = pytest.mark.integration
CUSTOM = PREDICATE_ALIASES["custom"]


def _sha256(data: str | bytes) -> str:
    return "sha256:" + hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def test_buildah_index_from_a_layout_to_the_registry_and_another_layout(
    keys: Keys, buildah_images: BuildahImages, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    built = ImageRef.parse(buildah_images.multi)
    assert built.layout is not None
    staging = LayoutStore(tmp_path / "staging", create=True)
    digest = copy(LayoutStore(built.layout), staging, built.identifier, tags=("v1",)).digest
    sign_and_attest(staging, ImageRef.parse(f"oci:{tmp_path}/staging:v1"), keys.release)
    policy = policy_file(tmp_path, [f"oci:{tmp_path}/**", f"{reg.host}/{repo_name}/**"], keys.release_pub)
    prod = f"{reg.host}/{repo_name}/prod/app"
    handover = tmp_path / "handover"

    record = promote(f"oci:{tmp_path}/staging:v1", [prod, f"oci:{handover}"], load_policies([policy]),
                     policy_files=[policy], options=reg.options)
    valid_record(record.to_json())
    assert record.outcome == "promoted", json.dumps(record.to_json(), indent=1)[:3000]
    for d in record.destinations:
        assert d.digest == str(digest) and d.digest_matches
        assert any(e.kind == "signatures" for e in d.evidence) and any(e.kind == "referrer" for e in d.evidence)
    for text in (f"{prod}:v1", f"oci:{handover}:v1"):
        verdict = judge(text, policy, reg.options)
        assert verdict.outcome == "pass", verdict.to_json()

    # Another tool reads both destinations and sees the source's bytes.
    assert _sha256(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{prod}:v1")) == str(digest)
    assert _sha256(skopeo("inspect", "--raw", f"oci:{handover}:v1")) == str(digest)
    inspected = json.loads(skopeo("inspect", "--override-arch", "arm64", f"oci:{handover}:v1"))
    assert inspected["Architecture"] == "arm64"


def _cosign_saved(path: Path, keys: Keys) -> tuple[LayoutStore, scratch.Built]:
    """A layout as `cosign save` writes it: the image and its .sig/.att manifests marked
    by `kind` annotations, none of them tagged."""
    store = LayoutStore(path, create=True)
    image = scratch.image({"saved": b"by cosign save\n"})
    scratch.push(store, image, tag="v1")
    ref = ImageRef.parse(f"oci:{path}:v1")
    sign_image(store, ref, signer(keys.release), fmt="legacy")
    attest_image(store, ref, signer(keys.release), predicate_type=CUSTOM, predicate=PREDICATE, fmt="legacy")
    index = json.loads((path / "index.json").read_text())
    kinds = {"v1": mt.KIND_IMAGE, image.digest.tag_form + ".sig": mt.KIND_SIGS,
             image.digest.tag_form + ".att": mt.KIND_ATTS}
    for entry in index["manifests"]:
        tag = (entry.get("annotations") or {}).get(mt.ANN_REF_NAME)
        if tag in kinds:
            entry["annotations"] = {mt.ANN_KIND: kinds[tag]}
    (path / "index.json").write_text(json.dumps(index))
    assert list(store.tags()) == []
    return store, image


def test_cosign_saved_layout_evidence_gets_its_tags_at_the_destination(
    keys: Keys, registry_http: RunningRegistry, repo_name: str, tmp_path: Path
) -> None:
    reg = registry_http
    _, image = _cosign_saved(tmp_path / "saved", keys)
    policy = policy_file(tmp_path, [f"oci:{tmp_path}/**", f"{reg.host}/{repo_name}/**"], keys.release_pub)
    prod = f"{reg.host}/{repo_name}/prod/app"
    record = promote(f"oci:{tmp_path}/saved", [prod], load_policies([policy]), tags=["v1"], options=reg.options)
    assert record.outcome == "promoted", json.dumps(record.to_json(), indent=1)[:3000]
    copied = {(e.kind, e.action) for e in record.destinations[0].evidence}
    assert {("signatures", "copied"), ("attestations", "copied")} <= copied
    tags = set(reg.store(f"{repo_name}/prod/app").tags())
    assert {"v1", image.digest.tag_form + ".sig", image.digest.tag_form + ".att"} <= tags
    verdict = judge(f"{prod}:v1", policy, reg.options)
    assert verdict.outcome == "pass" and verdict.digest == str(image.digest)
