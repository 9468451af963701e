"""The one bounded JSON parser (slsacheck._json): every way untrusted JSON is refused, and
that refusing never costs a traceback or the memory the document asks for."""

from __future__ import annotations

import json

import pytest

from slsacheck._json import MAX_DEPTH, Refused, load_object, parse
from slsacheck.errors import InputError
from slsacheck.models.descriptor import MalformedManifest, Manifest
from slsacheck.models.statement import InvalidStatement, Statement
from slsacheck.signing.dsse import Envelope, MalformedEnvelope


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(("data", "says"), [
    (_nested(100_000), f"nested deeper than {MAX_DEPTH} levels"),  # past Python's recursion limit
    (_nested(MAX_DEPTH + 1), f"nested deeper than {MAX_DEPTH} levels"),  # under it, past the bound
    ('{"a":' * 300 + "1" + "}" * 300, f"nested deeper than {MAX_DEPTH} levels"),
    ("[" + "{}," * 1_000_001 + "{}]", "more than 1000000 values"),
    (b"\xff\xfe{}", "not UTF-8"),
    ('{"n": ' + "1" * 5000 + "}", "Exceeds the limit"),  # Python's int conversion cap, a bare ValueError
    ("{", "Expecting property name"),
])
def test_refused_with_the_reason(data: str | bytes, says: str) -> None:
    with pytest.raises(Refused, match=says):
        parse(data)


def test_size_is_refused_before_parsing() -> None:
    with pytest.raises(Refused, match="larger than 10 bytes"):
        parse(b'{"a": "0123456789"}', max_bytes=10)


def test_the_bound_itself_parses() -> None:
    assert parse(_nested(MAX_DEPTH)) == json.loads(_nested(MAX_DEPTH))


def test_depth_is_judged_on_the_value_whatever_the_text_counts() -> None:
    # Few openers skip the walk; many shallow ones or openers inside strings must not hide depth.
    deep_among_siblings = "[" + "[]," * 500 + _nested(MAX_DEPTH) + "]"
    with pytest.raises(Refused, match="nested deeper"):
        parse(deep_among_siblings)
    with pytest.raises(Refused, match="nested deeper"):
        parse(json.dumps({"s": "[" * 50}) [:-1] + ', "d": ' + _nested(MAX_DEPTH) + "}")
    shallow_many = "[" + "{}," * 500 + '"[[[[{{{{"]'
    assert len(parse(shallow_many)) == 501


def test_strict_refuses_duplicate_keys_at_any_depth_and_nan() -> None:
    with pytest.raises(Refused, match="duplicate key 'b'") as caught:
        parse('{"a": {"b": 1, "b": 2}}', strict=True)
    assert caught.value.duplicate_key == "b"
    with pytest.raises(Refused, match="NaN"):
        parse('{"a": NaN}', strict=True)
    assert parse('{"a": {"b": 1, "b": 2}}') == {"a": {"b": 2}}  # lenient: last wins


def test_load_object_maps_refusals_to_the_callers_error() -> None:
    with pytest.raises(InputError, match="nested deeper"):
        load_object(_nested(5000), not_json=lambda e: InputError(f"bad: {e}"), not_object=lambda _: InputError("x"))


@pytest.mark.parametrize("raw", [
    b'{"schemaVersion":2,"layers":' + _nested(50_000).encode() + b"}",
    b'{"schemaVersion":2,"annotations":{"a":' + b"[" * 200 + b"]" * 200 + b"}}",
])
def test_a_deep_manifest_is_a_malformed_manifest(raw: bytes) -> None:
    with pytest.raises(MalformedManifest, match="nested deeper"):
        Manifest.parse(raw)


def test_signed_documents_are_strict_on_every_path() -> None:
    envelope = b'{"payloadType":"t","payload":"e30=","signatures":[],"payload":"e30="}'
    with pytest.raises(MalformedEnvelope, match="duplicate JSON key 'payload'"):
        Envelope.from_json(envelope)
    with pytest.raises(MalformedEnvelope, match="nested deeper"):
        Envelope.from_json(b'{"payloadType":' + _nested(10_000).encode() + b"}")
    statement = b'{"_type":"https://in-toto.io/Statement/v1","subject":[],"subject":[]}'
    with pytest.raises(InvalidStatement, match="duplicate key 'subject'"):
        Statement.from_json(statement)
