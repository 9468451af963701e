"""`provenance validate`: JSON Schema and in-toto model checks, each problem on its line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from slsacheck.cli import main
from slsacheck.provenance.findings import RunError
from slsacheck.provenance.positions import load_with_lines
from slsacheck.provenance.validate import InvalidProvenance, check, validate_file

GOOD: dict[str, Any] = {
    "_type": "https://in-toto.io/Statement/v1",
    "subject": [{"name": "registry.example.com/app", "digest": {"sha256": "a" * 64}}],
    "predicateType": "https://slsa.dev/provenance/v1",
    "predicate": {
        "buildDefinition": {
            "buildType": "https://tekton.dev/chains/v2/slsa",
            "externalParameters": {"runSpec": {}},
            "resolvedDependencies": [{"uri": "oci://registry.example.com/tool", "digest": {"sha256": "b" * 64}}],
        },
        "runDetails": {
            "builder": {"id": "https://tekton.dev/chains/v2"},
            "metadata": {"invocationId": "u", "startedOn": "2026-01-01T00:00:00Z"},
        },
    },
}


def _line_of(text: str, needle: str) -> int:
    (index,) = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return index


def test_a_good_statement_has_no_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check(GOOD) == []
    path = tmp_path / "good.json"
    path.write_text(json.dumps(GOOD, indent=2))
    assert main(["provenance", "validate", str(path)]) == 0
    assert "valid https://slsa.dev/provenance/v1 (1 subject(s))" in capsys.readouterr().out


def test_json_problems_name_their_lines(tmp_path: Path) -> None:
    bad = json.loads(json.dumps(GOOD))
    bad["predicate"]["buildDefinition"]["resolvedDependencies"][0]["digest"] = {"sha1": "abcd"}
    bad["predicate"]["runDetails"]["metadata"]["startedOn"] = "yesterday"
    del bad["predicate"]["runDetails"]["builder"]["id"]
    text = json.dumps(bad, indent=2)
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(InvalidProvenance) as info:
        validate_file(path)
    message = str(info.value)
    abcd, builder = _line_of(text, '"abcd"'), _line_of(text, '"builder"')
    assert f"bad.json:{abcd}: at predicate/buildDefinition/resolvedDependencies/0/digest/sha1" in message
    assert f"bad.json:{_line_of(text, 'yesterday')}: at predicate/runDetails/metadata/startedOn" in message
    # a missing property lands on the object that lacks it
    assert f"bad.json:{builder}: at predicate/runDetails/builder: missing field: expected id" in message
    assert len(info.value.problems) == 3


def test_yaml_problems_name_their_lines(tmp_path: Path) -> None:
    bad = json.loads(json.dumps(GOOD))
    bad["subject"][0]["digest"]["sha256"] = "A" * 64
    bad["predicate"]["buildDefinition"]["surprise"] = True
    text = yaml.safe_dump(bad)
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InvalidProvenance) as info:
        validate_file(path)
    lines = {p.path: p.line for p in info.value.problems}
    assert lines[("subject", 0, "digest", "sha256")] == _line_of(text, "AAAA")
    assert lines[("predicate", "buildDefinition")] == _line_of(text, "buildDefinition:")


def test_the_in_toto_models_refuse_what_the_schema_lets_through() -> None:
    bad = json.loads(json.dumps(GOOD))
    bad["predicate"]["runDetails"]["metadata"]["startedOn"] = "2026-13-45T00:00:00Z"  # the pattern fits
    (problem,) = check(bad)
    assert problem.path == ("predicate",)
    assert problem.message.startswith("SLSA v1 Provenance model:")


def test_the_predicate_schema_follows_the_predicate_type() -> None:
    bad = json.loads(json.dumps(GOOD))
    bad["predicateType"] = "https://slsa.dev/provenance/v0.2"
    problems = check(bad)
    assert any(p.message == "missing field: expected builder, found no such field" for p in problems)
    other = json.loads(json.dumps(GOOD))
    other["predicateType"] = "https://example.com/not-provenance"
    assert [p.path for p in check(other)] == [("predicateType",)]


def test_syntax_errors_give_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "_type": "x",\n  "subject": [,]\n}\n')
    with pytest.raises(RunError, match=r"broken\.json:3:\d+: not valid JSON"):
        validate_file(path)
    path = tmp_path / "broken.yaml"
    path.write_text("_type: x\nsubject: [a\n")
    with pytest.raises(RunError, match=r"broken\.yaml:\d+:\d+: not valid YAML"):
        validate_file(path)


def test_positions_cover_every_value() -> None:
    text = '{"a": [1, {"b": "x\\"y"}],\n "c":\n  {"d": null, "e": []}, "f": {}}'
    data, lines = load_with_lines(text, "t")
    assert data["a"][1]["b"] == 'x"y'
    assert lines[("a", 1, "b")] == 1 and lines[("c",)] == 2 and lines[("c", "d")] == 3 and lines[("f",)] == 3


def test_a_dsse_envelope_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "env.json"
    path.write_text(json.dumps({"payloadType": "application/vnd.in-toto+json", "payload": "e30=", "signatures": []}))
    with pytest.raises(Exception, match="is a DSSE envelope, not a statement"):
        validate_file(path)
