"""Descriptors, manifests and digests parse strictly, keep what they do not know, and refuse
what they cannot check."""

from __future__ import annotations

import json

import pytest

from slsacheck.errors import DigestMismatch
from slsacheck.models import Descriptor, Digest, InvalidDigest, MalformedManifest, Manifest, Platform
from slsacheck.models import mediatypes as mt

HEX = "b" * 64
DESC = {"mediaType": mt.OCI_LAYER_GZIP, "digest": f"sha256:{HEX}", "size": 12}


def test_descriptor_round_trip_keeps_unknown_fields() -> None:
    obj = dict(DESC, annotations={"a": "b"}, urls=["https://example.com/l"], **{"x-vendor": {"k": [1]}},
               platform={"os": "linux", "architecture": "arm64", "variant": "v8", "os.version": "1"},
               artifactType="application/example")
    d = Descriptor.from_json(obj)
    assert d.extra == {"urls": ["https://example.com/l"], "x-vendor": {"k": [1]}}
    assert d.platform == Platform("linux", "arm64", "v8", "1")
    assert str(d.platform) == "linux/arm64/v8"
    assert d.to_json() == obj


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"size": -1}, "non-negative"),
        ({"size": "12"}, "non-negative"),
        ({"size": True}, "non-negative"),
        ({"size": 1.5}, "non-negative"),
        ({"digest": 5}, "string 'mediaType' and 'digest'"),
        ({"mediaType": None}, "string 'mediaType' and 'digest'"),
        ({"annotations": {"a": 1}}, "annotations"),
        ({"annotations": ["a"]}, "annotations"),
        ({"artifactType": 3}, "artifactType"),
        ({"platform": {"os": "linux"}}, "platform"),
    ],
)
def test_bad_descriptors(change: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(MalformedManifest, match=message):
        Descriptor.from_json(dict(DESC, **change))


def test_descriptor_must_be_an_object() -> None:
    with pytest.raises(MalformedManifest, match="JSON object"):
        Descriptor.from_json([DESC])


@pytest.mark.parametrize(
    "text",
    [
        "sha256:" + "B" * 64,  # upper case
        "sha256:" + "b" * 63,
        "sha512:" + "b" * 64,
        "md5:" + "b" * 32,
        "sha256" + "b" * 64,
        "sha256:" + "g" * 64,
        "",
    ],
)
def test_bad_digests(text: str) -> None:
    with pytest.raises(InvalidDigest):
        Digest.parse(text)


def test_digest_of_and_check() -> None:
    d = Digest.of(b"abc")
    assert str(d) == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert d.tag_form == f"sha256-{d.hex}"
    d.check(b"abc", "x")
    with pytest.raises(DigestMismatch) as info:
        d.check(b"abd", "thing")
    assert info.value.expected == str(d)
    assert info.value.found == str(Digest.of(b"abd"))
    assert Digest.of(b"abc", "sha512") == Digest.parse(str(Digest.of(b"abc", "sha512")))


def _manifest(**fields: object) -> bytes:
    doc: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": dict(DESC, mediaType=mt.OCI_CONFIG),
        "layers": [DESC],
    }
    doc.update(fields)
    return json.dumps(doc).encode()


def test_manifest_identity_is_its_bytes() -> None:
    compact = _manifest()
    spaced = json.dumps(json.loads(compact), indent=2).encode()
    a, b = Manifest.parse(compact), Manifest.parse(spaced)
    assert a.json == b.json
    assert a.digest == Digest.of(compact) and b.digest == Digest.of(spaced) and a.digest != b.digest
    assert a.raw == compact and a.descriptor.size == len(compact)
    assert [d.digest for d in a.blobs()] == [Digest.parse(f"sha256:{HEX}")] * 2


def test_manifest_kind_from_shape_when_media_type_absent() -> None:
    index = json.dumps({"schemaVersion": 2, "manifests": [DESC]}).encode()
    assert Manifest.parse(index).is_index
    assert Manifest.parse(index).media_type == mt.OCI_INDEX
    image = _manifest(mediaType=None)
    parsed = Manifest.parse(json.dumps({k: v for k, v in json.loads(image).items() if v is not None}).encode())
    assert parsed.media_type == mt.OCI_MANIFEST and not parsed.is_index
    # The Content-Type a registry sent is used when the body does not say.
    docker = json.dumps({"schemaVersion": 2, "config": DESC, "layers": []}).encode()
    assert Manifest.parse(docker, mt.DOCKER_MANIFEST).media_type == mt.DOCKER_MANIFEST


def test_manifest_subject_and_artifact_type() -> None:
    m = Manifest.parse(_manifest(subject=DESC, artifactType="application/example", annotations={"a": "b"}))
    assert m.subject is not None and m.subject.digest.hex == HEX
    assert m.descriptor.artifact_type == "application/example"
    assert m.annotations == {"a": "b"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\xff\xfe", "not valid JSON"),
        (b"[1]", "JSON object"),
        (b"{", "not valid JSON"),
        (json.dumps({"schemaVersion": 1, "name": "x", "fsLayers": []}).encode(), "schemaVersion"),
        (json.dumps({"mediaType": mt.OCI_MANIFEST}).encode(), "schemaVersion"),
        (_manifest(mediaType=5), "mediaType"),
        (_manifest(layers={"a": 1}), "layers"),
        (_manifest(layers=[dict(DESC, size=-5)]), "non-negative"),
        (_manifest(config="nope"), "JSON object"),
        (_manifest(subject={"mediaType": mt.OCI_MANIFEST}), "subject"),
        (json.dumps({"schemaVersion": 2, "manifests": {"x": 1}}).encode(), "manifests"),
    ],
)
def test_bad_manifests(raw: bytes, message: str) -> None:
    with pytest.raises(MalformedManifest, match=message):
        Manifest.parse(raw)


def test_schema_version_1_is_refused_with_advice() -> None:
    raw = json.dumps({"schemaVersion": 1, "name": "library/x", "tag": "1", "fsLayers": []}).encode()
    with pytest.raises(MalformedManifest) as info:
        Manifest.parse(raw, "application/vnd.docker.distribution.manifest.v1+prettyjws")
    assert info.value.found == "1"
    assert info.value.hint is not None and "schema 1" in info.value.hint


def test_platform_parse() -> None:
    assert Platform.parse("linux/arm64/v8") == Platform("linux", "arm64", "v8")
    assert Platform.parse("linux/amd64").to_json() == {"architecture": "amd64", "os": "linux"}
    for bad in ("linux", "linux//v8", "a/b/c/d", ""):
        with pytest.raises(Exception, match="malformed platform"):
            Platform.parse(bad)
