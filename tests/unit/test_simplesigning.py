"""cosign's simple-signing payload: exact bytes out, strict parsing in, Conforma's real payload."""

from __future__ import annotations

import json

import pytest

from slsacheck.errors import InputError
from slsacheck.models import Digest
from slsacheck.signing.simplesigning import (
    COSIGN_SIGNATURE_TYPE,
    SIMPLE_SIGNING_MEDIA_TYPE,
    MalformedPayload,
    SimpleSigningPayload,
    build_payload,
    parse_payload,
)
from tests.support.env import shared_file

VERIFY = "anchors/verify"
CONFORMA_SIG = "conforma__cli__acceptance__image__testimage__blobs__sha256__" \
    "4912946aa9657bed0670396e6b0862038a1294225fac21be92a3938e0c62abe4"
CONFORMA_PAYLOAD = "conforma__cli__acceptance__image__testimage__blobs__sha256__" \
    "34fd1134ae4557da320663d6f6fe314ed224ae94c066b67b547b68c5a6bf854f"
CONFORMA_IMAGE = "sha256:bb2863eb5a15ce3551748cd6aecd40db02c96c0276ae062354b415ad37330fee"
DIGEST = Digest.parse("sha256:" + "ab" * 32)


def test_payload_without_annotations_is_cosigns_bytes() -> None:
    assert build_payload("registry.example/team/app", DIGEST, None) == (
        b'{"critical":{"identity":{"docker-reference":"registry.example/team/app"},'
        b'"image":{"docker-manifest-digest":"sha256:' + b"ab" * 32 + b'"},'
        b'"type":"cosign container image signature"},"optional":null}'
    )
    assert build_payload("r.example/a", DIGEST, {}) == build_payload("r.example/a", DIGEST, None)


def test_annotations_sorted_and_escaped_as_go_does() -> None:
    payload = build_payload("r.example/a", DIGEST, {"z": "last", "a": "<b>&c", "é": "ü\u2028"})
    assert payload.endswith(
        '"optional":{"a":"\\u003cb\\u003e\\u0026c","z":"last","é":"ü\\u2028"}}'.encode()
    )
    parsed = parse_payload(payload)
    assert parsed.optional == {"a": "<b>&c", "z": "last", "é": "ü\u2028"}
    assert parsed == SimpleSigningPayload("r.example/a", DIGEST, {"a": "<b>&c", "z": "last", "é": "ü\u2028"})


def test_annotations_that_are_not_unicode_refused() -> None:
    with pytest.raises(InputError, match="not valid Unicode"):
        build_payload("r.example/a", DIGEST, {"k": "bad\udcff"})


def test_control_characters_escaped_as_go_does() -> None:
    payload = build_payload("r.example/a", DIGEST, {"k": "a\tb\x01\x7f\"\\"})
    assert payload.endswith(b'"optional":{"k":"a\\tb\\u0001\x7f\\"\\\\"}}')


def test_empty_reference_refused() -> None:
    with pytest.raises(Exception, match="docker-reference of a signature payload is empty"):
        build_payload("", DIGEST, None)


def _doc() -> dict[str, object]:
    return json.loads(build_payload("r.example/a", DIGEST, {"k": "v"}))  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(Critical=d.pop("critical")), "has no 'critical'"),
        (lambda d: d["critical"].update(Identity=d["critical"].pop("identity")), "lower-case 'identity' is required"),
        (lambda d: d["critical"]["image"].update(
            **{"Docker-manifest-digest": d["critical"]["image"].pop("docker-manifest-digest")}),
         "lower-case 'docker-manifest-digest' is required"),
        (lambda d: d["critical"].update(type="atomic container signature"), "not a cosign signature payload"),
        (lambda d: d["critical"].update(type="Cosign container image signature"), "not a cosign signature payload"),
        (lambda d: d["critical"].pop("type"), "has no 'type'"),
        (lambda d: d["critical"].update(extra=1), "unknown critical fields"),
        (lambda d: d["critical"]["identity"].update(scope="x"), "unknown critical fields"),
        (lambda d: d["critical"]["image"].update(**{"docker-manifest-digest": "sha256:abc"}),
         "bad docker-manifest-digest"),
        (lambda d: d["critical"]["image"].update(**{"docker-manifest-digest": "md5:" + "0" * 32}),
         "bad docker-manifest-digest"),
        (lambda d: d["critical"]["identity"].update(**{"docker-reference": 7}), "is not a string"),
        (lambda d: d["critical"].update(image="sha256:x"), "'image' is not an object"),
        (lambda d: d.update(optional=["a"]), "neither an object nor null"),
    ],
)
def test_parse_is_strict(edit: object, message: str) -> None:
    doc = _doc()
    edit(doc)  # type: ignore[operator]
    with pytest.raises(MalformedPayload, match=message):
        parse_payload(json.dumps(doc).encode())


def test_parse_names_the_wrongly_cased_key() -> None:
    doc = _doc()
    doc["Critical"] = doc.pop("critical")
    with pytest.raises(MalformedPayload) as info:
        parse_payload(json.dumps(doc).encode())
    assert info.value.found == "'Critical'"
    assert info.value.expected == "the lower-case key 'critical'"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (b"\xff{}", "not UTF-8"),
        (b'{"critical":{},"critical":{}}', "duplicate JSON key 'critical'"),
        (b'{"critical":NaN}', "not valid JSON"),
    ],
)
def test_parse_malformed_bytes(data: bytes, message: str) -> None:
    with pytest.raises(MalformedPayload, match=message):
        parse_payload(data)


def test_unknown_top_level_fields_and_any_optional_values_are_kept() -> None:
    doc = _doc()
    doc["optional"] = {"n": 1, "nested": {"a": [True]}}
    doc["future"] = "ignored"
    parsed = parse_payload(json.dumps(doc).encode())
    assert parsed.optional == {"n": 1, "nested": {"a": [True]}}
    assert parsed.type == COSIGN_SIGNATURE_TYPE


# -- upstream: the payload of Conforma's keyless .sig -----------------------------------------


def test_conforma_payload_parses_and_matches_its_descriptor() -> None:
    data = shared_file(VERIFY, CONFORMA_PAYLOAD).read_bytes()
    parsed = parse_payload(data, where="Conforma's payload")
    assert parsed.docker_reference == "registry.local:5001/sigstore/testimage"
    assert parsed.digest == Digest.parse(CONFORMA_IMAGE)
    assert parsed.optional is None

    manifest = json.loads(shared_file(VERIFY, CONFORMA_SIG).read_bytes())
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == SIMPLE_SIGNING_MEDIA_TYPE
    assert layer["size"] == len(data)
    Digest.parse(layer["digest"]).check(data, "the payload layer")
    assert str(Digest.of(data)) == layer["digest"]

    # What slsacheck writes for the same image is the same bytes, so the same signature.
    assert build_payload(parsed.docker_reference, parsed.digest, None) == data
