"""What a promotion carries, decided from manifests alone (no registry).

Each referrer an attacker could list is built as JSON and must be refused with its own
reason; the honest shapes (a Sigstore bundle, an SPDX SBOM, a pre-1.1 artifact typed by
its config) are carried. A `.sig`/`.att` manifest is copied as it is only when it is
exactly cosign's; any padding makes it rewritten from its evidence layers.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from slsacheck.attach import cosign_tags as ct
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Descriptor, Manifest
from slsacheck.models.digest import Digest
from slsacheck.promote.carry import SPDX_JSON, listing_problem, referrer_problem, sort_tag_layers

SUBJECT = Descriptor.of(b"the image", mt.OCI_MANIFEST)
EMPTY = Descriptor.of(mt.EMPTY_JSON, mt.OCI_EMPTY)
BUNDLE = Descriptor.of(b'{"mediaType":"bundle"}', mt.SIGSTORE_BUNDLE_V03)
TAR = Descriptor.of(b"tar" * 100, mt.OCI_LAYER)


def _manifest(**fields: Any) -> Manifest:
    body: dict[str, Any] = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": EMPTY.to_json(),
                            "layers": [BUNDLE.to_json()], "artifactType": mt.SIGSTORE_BUNDLE_V03,
                            "subject": SUBJECT.to_json()}
    body.update(fields)
    return Manifest.parse(json.dumps({k: v for k, v in body.items() if v is not None}).encode())


def _problem(manifest: Manifest, listed_type: str | None = None) -> str | None:
    entry = Descriptor(mt.OCI_MANIFEST, manifest.digest, len(manifest.raw), artifact_type=listed_type)
    return referrer_problem(manifest, SUBJECT.digest, entry)


def test_honest_referrers_are_carried() -> None:
    assert _problem(_manifest(), mt.SIGSTORE_BUNDLE_V03) is None
    sbom = Descriptor.of(b'{"spdxVersion":"SPDX-2.3"}', SPDX_JSON)
    assert _problem(_manifest(artifactType=SPDX_JSON, layers=[sbom.to_json()])) is None
    legacy = Descriptor.of(b"{}", SPDX_JSON)  # before OCI 1.1: the config's type is the artifact's
    assert _problem(_manifest(artifactType=None, config=legacy.to_json(), layers=[sbom.to_json()])) is None


@pytest.mark.parametrize(("fields", "listed", "reason"), [
    ({"subject": None}, None, "no subject"),
    ({"subject": Descriptor.of(b"another image", mt.OCI_MANIFEST).to_json()}, None, "not the promoted"),
    ({"artifactType": None, "config": Descriptor.of(b"{}", mt.OCI_CONFIG).to_json()}, None,
     "application/vnd.oci.image.config.v1+json"),
    ({"artifactType": "application/vnd.example.junk"}, None, "not evidence promotion carries"),
    ({}, SPDX_JSON, "listed as 'application/spdx+json'"),
    ({"layers": [BUNDLE.to_json(), TAR.to_json()]}, None, "2 layers"),
    ({"layers": [TAR.to_json()]}, None, "not what a Sigstore bundle holds"),
    ({"layers": []}, None, "no layer"),
    ({"layers": [{**BUNDLE.to_json(), "size": mt.MAX_EVIDENCE_SIZE + 1}]}, None, "evidence cap"),
    ({"config": Descriptor.of(b"x" * 10000, mt.SIGSTORE_BUNDLE_V03).to_json()}, None, "config"),
    ({"mediaType": mt.DOCKER_MANIFEST}, None, "not an OCI image manifest"),
])
def test_what_an_attacker_lists_is_refused_with_its_reason(
    fields: dict[str, Any], listed: str | None, reason: str
) -> None:
    problem = _problem(_manifest(**fields), listed)
    assert problem is not None and reason in problem, problem


def test_a_listing_is_judged_before_anything_is_fetched() -> None:
    digest = Digest.of(b"x")
    assert listing_problem(Descriptor(mt.OCI_MANIFEST, digest, 10, artifact_type=mt.SIGSTORE_BUNDLE_V03)) is None
    assert listing_problem(Descriptor(mt.OCI_MANIFEST, digest, 10)) is None  # untyped: fetch and look
    assert "not an OCI image manifest" in (listing_problem(Descriptor(mt.OCI_INDEX, digest, 10)) or "")
    junk = listing_problem(Descriptor(mt.OCI_MANIFEST, digest, 10, artifact_type="application/x-junk"))
    assert junk is not None and "application/x-junk" in junk


def _cosign_manifest(layers: list[Descriptor], **fields: Any) -> Manifest:
    merged = ct.merge_layers(None, layers)
    body = {**json.loads(merged.manifest), **fields}
    return Manifest.parse(json.dumps(body, separators=(",", ":")).encode())


def test_a_cosign_manifest_is_copied_as_it_is_and_padding_makes_it_rewritten() -> None:
    sig = Descriptor.of(b'{"critical":{}}', mt.SIMPLE_SIGNING, annotations={mt.ANN_SIGNATURE: "c2ln"})
    exact = sort_tag_layers(_cosign_manifest([sig]), "signatures")
    assert exact.exact and exact.kept == (sig,) and exact.skipped == ()

    padded = sort_tag_layers(_cosign_manifest([sig, TAR]), "signatures")
    assert not padded.exact and padded.kept == (sig,)
    assert [(s.index, s.media_type) for s in padded.skipped] == [(1, mt.OCI_LAYER)]

    wrong_kind = sort_tag_layers(_cosign_manifest([sig]), "attestations")
    assert wrong_kind.kept == () and len(wrong_kind.skipped) == 1

    subject = sort_tag_layers(_cosign_manifest([sig], subject=SUBJECT.to_json()), "signatures")
    assert not subject.exact and "subject" in (subject.why_rewritten or "")

    other_config = _cosign_manifest([sig], config=Descriptor.of(b'{"big":1}', mt.OCI_CONFIG).to_json())
    assert not sort_tag_layers(other_config, "signatures").exact
