"""The in-toto Statement model: strict parsing, deterministic bytes, digest questions."""

from __future__ import annotations

import json

import pytest

from slsacheck.models import Digest, InvalidStatement, Statement, Subject

SHA = "c" * 64


def _doc(**changes: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "registry.example.com/app", "digest": {"sha256": SHA}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {"z": 1, "a": {"y": 2, "b": [{"k": 1, "c": 2}]}},
    }
    doc.update(changes)
    return doc


def test_parse_and_print_deterministically() -> None:
    statement = Statement.from_dict(_doc())
    assert statement.names_digest(Digest.parse(f"sha256:{SHA}"))
    assert not statement.names_digest(Digest.parse("sha256:" + "d" * 64))
    assert statement.to_bytes() == (
        b'{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"registry.example.com/app","digest":'
        b'{"sha256":"' + SHA.encode() + b'"}}],"predicateType":"https://slsa.dev/provenance/v1",'
        b'"predicate":{"a":{"b":[{"c":2,"k":1}],"y":2},"z":1}}'
    )
    assert Statement.from_json(statement.to_json()).to_bytes() == statement.to_bytes()


def test_v01_and_unknown_keys_round_trip() -> None:
    doc = _doc(_type="https://in-toto.io/Statement/v0.1")
    doc["subject"] = [{"name": "a", "digest": {"sha512": "e" * 128, "gitCommit": "abc"}, "uri": "u"}]
    statement = Statement.from_dict(doc)
    assert statement.type == "https://in-toto.io/Statement/v0.1"
    assert json.loads(statement.to_bytes())["subject"] == doc["subject"]
    assert hash(statement.subjects[0]) == hash(Subject("a", {"gitCommit": "abc", "sha512": "e" * 128}))


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ([], "the document"),
        (_doc(_type="https://example.com/Statement"), "_type"),
        (_doc(subject=[]), "subject"),
        (_doc(subject=[{"digest": {"sha256": SHA}}]), "subject[0].name"),
        (_doc(subject=[{"name": "a", "digest": {"sha256": "abc"}}]), "subject[0].digest.sha256"),
        (_doc(subject=[{"name": "a", "digest": {"sha1": "A" * 40}}]), "subject[0].digest.sha1"),
        (_doc(subject=[{"name": "a", "digest": {}}]), "subject[0].digest"),
        (_doc(predicateType=""), "predicateType"),
        (_doc(predicate=[1]), "predicate"),
    ],
)
def test_malformed_statements_are_refused_with_the_place(doc: object, where: str) -> None:
    with pytest.raises(InvalidStatement) as info:
        Statement.from_dict(doc)
    assert info.value.message == f"not a valid in-toto Statement: {where}"


def test_text_that_is_not_json() -> None:
    with pytest.raises(InvalidStatement, match="the text is not JSON"):
        Statement.from_json(b"\xff not json")
