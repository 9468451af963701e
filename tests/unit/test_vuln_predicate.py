"""Trivy JSON reports -> cosign vuln predicates, over Trivy's and cosign's own data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from slsacheck.cli import main
from slsacheck.errors import InputError
from slsacheck.provenance.vuln import TRIVY_PURL, Invocation, parse_report, vuln_predicate
from tests.support.env import shared_file

ALPINE = "aquasecurity__trivy__integration__testdata__alpine-39.json.golden"
NPM_SUPPRESSED = "aquasecurity__trivy__integration__testdata__fixtures__convert__npm-with-suppressed.json.golden"
TRIVY_COSIGN_VULN = (
    "EXTRACTED__aquasecurity__trivy__docs__guide__supply-chain__attestation__vuln.md__cosign-vuln-predicate.json"
)
COSIGN_MINIMAL = "sigstore__cosign__test__testdata__attestations__vuln-predicate.json"


def _anchor(name: str) -> Path:
    return shared_file("anchors", "vuln", name)


def _report(name: str) -> dict[str, Any]:
    return parse_report(_anchor(name).read_bytes(), name)


def _keys(value: dict[str, Any]) -> dict[str, Any]:
    """The nested key structure, without `scanner.result` (the scanner's own data)."""
    return {k: (_keys(v) if isinstance(v, dict) and k != "result" else None) for k, v in value.items()}


def test_report_kept_unchanged_and_times_from_created_at() -> None:
    report = _report(ALPINE)
    predicate = vuln_predicate(report, invocation=Invocation(uri="https://ci/run/1", event_id="uid-1"))
    assert predicate["scanner"]["result"] == json.loads(_anchor(ALPINE).read_bytes())
    assert predicate["scanner"]["uri"] == f"{TRIVY_PURL}@dev"
    assert predicate["scanner"]["version"] == "dev"
    # CreatedAt is 2021-08-25T12:20:30.000000005Z: nanoseconds, cut to microseconds.
    assert predicate["metadata"] == {"scanStartedOn": "2021-08-25T12:20:30Z", "scanFinishedOn": "2021-08-25T12:20:30Z"}
    assert predicate["invocation"]["uri"] == "https://ci/run/1"
    assert predicate["invocation"]["event_id"] == "uid-1"


def test_same_shape_as_trivys_cosign_vuln_writer_and_cosigns_fixture() -> None:
    ours = _keys(vuln_predicate(_report(ALPINE)))
    trivys = json.loads(_anchor(TRIVY_COSIGN_VULN).read_bytes())
    assert ours == _keys(trivys)
    assert ours == _keys(json.loads(_anchor(COSIGN_MINIMAL).read_bytes()))


def test_epoch_created_at_of_old_reports() -> None:
    """Trivy's documented cosign-vuln output holds an old report whose CreatedAt is Unix seconds."""
    old = json.loads(_anchor(TRIVY_COSIGN_VULN).read_bytes())["scanner"]["result"]
    assert old["CreatedAt"] == 1629894030
    predicate = vuln_predicate(parse_report(json.dumps(old).encode(), "old"))
    assert predicate["metadata"]["scanFinishedOn"] == "2021-08-25T12:20:30Z"


@pytest.mark.parametrize("created", [2**64, -(2**64), float("nan"), 1e300])
def test_an_epoch_created_at_out_of_range_is_an_input_error(created: float) -> None:
    old = json.loads(_anchor(TRIVY_COSIGN_VULN).read_bytes())["scanner"]["result"]
    old["CreatedAt"] = created
    with pytest.raises(InputError, match=r"CreatedAt .* is no time"):
        vuln_predicate(old, where="old")


def test_offset_converted_to_utc_and_no_trivy_block() -> None:
    predicate = vuln_predicate(_report(NPM_SUPPRESSED))  # CreatedAt 2024-09-09T13:21:09.230231+06:00
    assert predicate["metadata"]["scanFinishedOn"] == "2024-09-09T07:21:09.230231Z"
    assert predicate["scanner"]["uri"] == TRIVY_PURL
    assert predicate["scanner"]["version"] == ""
    # Suppressed findings stay where Trivy put them; the policy decides not to count them.
    assert predicate["scanner"]["result"]["Results"][0]["ExperimentalModifiedFindings"]


def test_explicit_times() -> None:
    predicate = vuln_predicate(
        _report(ALPINE), started_on="2025-01-01T10:00:00+01:00", finished_on="2025-01-01T09:05:00.5Z"
    )
    assert predicate["metadata"] == {"scanStartedOn": "2025-01-01T09:00:00Z",
                                     "scanFinishedOn": "2025-01-01T09:05:00.500000Z"}


@pytest.mark.parametrize(
    ("started", "finished", "message"),
    [
        ("2025-01-01T10:00:00Z", "2025-01-01T09:00:00Z", "finished before it started"),
        (None, "2025-01-01T09:00:00", "no time zone"),
        (None, "yesterday", "not an RFC 3339 time"),
    ],
)
def test_bad_times(started: str | None, finished: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        vuln_predicate(_report(ALPINE), started_on=started, finished_on=finished)


def test_missing_created_at_needs_finished_on() -> None:
    report = _report(ALPINE)
    del report["CreatedAt"]
    with pytest.raises(InputError, match="no CreatedAt") as caught:
        vuln_predicate(report)
    assert caught.value.hint and "--finished-on" in caught.value.hint


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "not a JSON document"),
        (b"[1, 2]", "a Trivy report is a JSON object"),
        (b'{"SchemaVersion": 1}', "schema version 2"),
    ],
)
def test_not_a_trivy_report(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_report(data, "x.json")


def test_a_cosign_vuln_predicate_is_not_a_report() -> None:
    """Passing Trivy's --format cosign-vuln output (already a predicate) is refused, not nested twice."""
    with pytest.raises(InputError, match="schema version 2"):
        parse_report(_anchor(TRIVY_COSIGN_VULN).read_bytes(), "cosign-vuln.json")


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "predicate.json"
    code = main(["vuln-predicate", "--trivy", str(_anchor(ALPINE)), "--event-id", "uid-7",
                 "--parameter", "fs", "--parameter=--scanners=vuln", "-o", str(out)])
    assert code == 0
    predicate = json.loads(out.read_text())
    assert predicate["invocation"]["event_id"] == "uid-7"
    assert predicate["invocation"]["parameters"] == ["fs", "--scanners=vuln"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"SchemaVersion": 3}')
    assert main(["vuln-predicate", "--trivy", str(bad)]) == 2
    assert "SchemaVersion: 2" in capsys.readouterr().err
