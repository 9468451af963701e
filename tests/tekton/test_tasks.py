"""The slsacheck Tasks refuse bad input before they touch a registry, and say why."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support.env import ROOT, shared_file
from tests.support.tekton_harness import Harness, TaskRunResult, load

DIGEST = "sha256:" + "ab" * 32
IMAGE = "registry.invalid/team/app:v1"


def _task(name: str) -> dict[str, Any]:
    return load(ROOT / "tekton" / "tasks" / f"{name}.yaml")


def _run(tmp_path: Path, name: str, params: dict[str, Any], workspaces: dict[str, Path] | None = None
         ) -> TaskRunResult:
    return Harness(tmp_path / "runs").run_task(_task(name), params=params, workspaces=workspaces or {})


@pytest.mark.parametrize("name", ["slsacheck-sign", "slsacheck-attest-vulnerabilities", "slsacheck-verify"])
def test_a_tag_is_not_a_digest(tmp_path: Path, name: str) -> None:
    workspaces = {"reports": tmp_path} if "vulnerabilities" in name else {}
    workspaces |= {"policies": tmp_path} if "verify" in name else {}
    run = _run(tmp_path, name, {"IMAGE_URL": IMAGE, "IMAGE_DIGEST": "v1"}, workspaces)
    assert not run.succeeded and run.exit_code == 2
    assert "IMAGE_DIGEST must be the pushed digest" in run.log


def test_attest_provenance_refuses_a_tag(tmp_path: Path) -> None:
    run = _run(tmp_path, "slsacheck-attest-provenance", {"IMAGE_URL": IMAGE, "IMAGE_DIGEST": "latest",
                                                         "SOURCE_URL": "https://git.example.com/a.git",
                                                         "SOURCE_COMMIT": "a" * 40})
    assert not run.succeeded and "IMAGE_DIGEST must be the pushed digest" in run.log


def test_sign_without_a_key_or_keyless(tmp_path: Path) -> None:
    run = _run(tmp_path, "slsacheck-sign", {"IMAGE_URL": IMAGE, "IMAGE_DIGEST": DIGEST})
    assert not run.succeeded and run.exit_code == 2
    assert "no signing key" in run.log


def test_verify_without_policies(tmp_path: Path) -> None:
    empty = tmp_path / "policies"
    empty.mkdir()
    run = _run(tmp_path, "slsacheck-verify", {"IMAGE_URL": IMAGE, "IMAGE_DIGEST": DIGEST}, {"policies": empty})
    assert not run.succeeded and run.exit_code == 2
    assert "no policy" in run.log
    assert run.results["VERDICT"] == "error"


def test_verify_with_a_broken_policy_names_the_line(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "gate.yaml").write_text(
        "apiVersion: slsacheck.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: gate\n"
        "spec:\n  images:\n    include: ['**']\n  authorities: []\n"
    )
    run = _run(tmp_path, "slsacheck-verify", {"IMAGE_URL": IMAGE, "IMAGE_DIGEST": DIGEST}, {"policies": policies})
    assert not run.succeeded and run.exit_code == 2
    assert "gate.yaml:" in run.log
    assert run.results["VERDICT"] == "error"


def test_verify_cannot_reach_the_registry_is_an_error_not_a_pass(tmp_path: Path, signing_secrets: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    shutil.copy(signing_secrets / "cosign.pub", policies / "cosign.pub")
    (policies / "gate.yaml").write_text(
        "apiVersion: slsacheck.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: gate\n"
        "spec:\n  images:\n    include: ['**']\n  authorities:\n    - name: k\n      key:\n"
        "        file: cosign.pub\n  signatures:\n    authorities: [k]\n"
    )
    run = _run(tmp_path, "slsacheck-verify", {"IMAGE_URL": "127.0.0.1:9/team/app", "IMAGE_DIGEST": DIGEST},
               {"policies": policies, "reports": tmp_path})
    assert not run.succeeded
    assert run.exit_code in (1, 3)
    assert run.results["VERDICT"] in ("error", "fail")
    assert "IMAGE_DIGEST" not in run.results  # nothing downstream gets a digest the gate did not pass


def test_attest_vulnerabilities_refuses_a_report_that_is_not_trivys(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    predicate = ("EXTRACTED__aquasecurity__trivy__docs__guide__supply-chain__attestation__vuln.md"
                 "__cosign-vuln-predicate.json")
    (reports / "trivy-report.json").write_bytes(shared_file("anchors", "vuln", predicate).read_bytes())
    run = _run(tmp_path, "slsacheck-attest-vulnerabilities", {"IMAGE_URL": IMAGE, "IMAGE_DIGEST": DIGEST},
               {"reports": reports})
    assert not run.succeeded and run.exit_code == 2
    assert "SchemaVersion: 2" in run.log
