"""`verify-attestation --output payload`: the statements that verified, for the user to read
or pipe on (as cosign verify-attestation and slsa-verifier --print-provenance print them);
nothing unverified ever reaches stdout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slsacheck.errors import EXIT_OK, EXIT_POLICY
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from tests.support.cli import Cli, cli

__all__ = ["cli"]


@pytest.fixture
def image(tmp_path: Path, cli: Cli) -> str:
    for name in ("release", "attacker"):
        assert cli("generate-key-pair", "--output-key-prefix", str(tmp_path / name)).code == 0
    scratch.push(LayoutStore(tmp_path / "img", create=True), scratch.image({"f": b"a"}), tag="v1")
    return f"oci:{tmp_path / 'img'}:v1"


def _attest(cli: Cli, tmp_path: Path, image: str, key: str, predicate: dict[str, object], *, kind: str) -> None:
    path = tmp_path / f"{key}-{kind}.json"
    path.write_text(json.dumps(predicate))
    run = cli("attest", "--key", str(tmp_path / f"{key}.key"), "--predicate", str(path), "--type", kind, image)
    assert run.code == 0, run.err


def test_payload_prints_the_verified_statements_and_only_them(tmp_path: Path, cli: Cli, image: str) -> None:
    _attest(cli, tmp_path, image, "release", {"scanner": {"uri": "trivy"}, "note": "release \u001b[31m"}, kind="vuln")
    _attest(cli, tmp_path, image, "release", {"other": True}, kind="custom")
    # The attacker's statement of the same type must not be printed.
    path = tmp_path / "forged.json"
    path.write_text(json.dumps({"scanner": {"uri": "forged"}}))
    assert cli("attest", "--key", str(tmp_path / "attacker.key"), "--predicate", str(path), "--type", "vuln",
               image).code == 0
    run = cli("verify-attestation", "--key", str(tmp_path / "release.pub"), "--type", "vuln", "--output", "payload",
              image)
    assert run.code == EXIT_OK, run.err
    statements = [json.loads(line) for line in run.out.splitlines()]
    assert statements and all(s["predicateType"] == "https://cosign.sigstore.dev/attestation/vuln/v1"
                              for s in statements)
    assert {s["predicate"]["scanner"]["uri"] for s in statements} == {"trivy"}
    assert statements[0]["predicate"]["note"] == "release \u001b[31m"  # the statement as signed
    assert "\u001b" not in run.out  # escaped on the way out
    assert "verified:" in run.err


def test_payload_prints_nothing_when_verification_fails(tmp_path: Path, cli: Cli, image: str) -> None:
    _attest(cli, tmp_path, image, "release", {"scanner": {"uri": "trivy"}}, kind="vuln")
    run = cli("verify-attestation", "--key", str(tmp_path / "attacker.pub"), "--output", "payload", image)
    assert run.code == EXIT_POLICY and run.out == ""
    assert "FAIL" in run.err
