"""The builder id says who built it, and the level a report claims follows from it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from slsacheck.audit.inventory import _level
from slsacheck.cli import main
from slsacheck.models.verdict import Check, Outcome, Verdict
from slsacheck.provenance.builders import CHAINS_BUILDER_ID, GENERATOR_KEY, max_level
from tests.support.pipelineref_run import RunFacts

DIGEST = "sha256:" + "a" * 64


def _files(tmp_path: Path) -> list[str]:
    return RunFacts("registry.example.com/team/app", DIGEST, datetime.now(UTC)).write(tmp_path / "run")


def _generate(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["provenance", "generate", *argv]) == 0
    return dict(json.loads(capsys.readouterr().out)["predicate"])


def _builder(predicate: dict[str, Any]) -> str:
    return str(predicate["runDetails"]["builder"]["id"])


def test_exported_run_provenance_names_its_own_builder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _files(tmp_path)
    monkeypatch.delenv("SLSACHECK_BUILDER_IDENTITY", raising=False)
    predicate = _generate(capsys, *files)
    assert _builder(predicate) == "https://slsacheck.dev/builders/tekton/exported-run"
    assert predicate["buildDefinition"]["internalParameters"][GENERATOR_KEY] == {"mode": "exported-run"}
    monkeypatch.setenv("SLSACHECK_BUILDER_IDENTITY", "https://tekton.example.com/clusters/prod")
    assert _builder(_generate(capsys, *files)) == "https://tekton.example.com/clusters/prod/exported-run"
    flag = _generate(capsys, *files, "--builder-identity", "https://ci.example.com/east")
    assert _builder(flag) == "https://ci.example.com/east/exported-run"
    assert _builder(_generate(capsys, *files, "--builder-id", "https://ci.example.com/b")) == "https://ci.example.com/b"


def test_the_chains_id_only_when_asked_to_reproduce_chains(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    predicate = _generate(capsys, *_files(tmp_path), "--reproduce-chains")
    assert _builder(predicate) == CHAINS_BUILDER_ID
    # Chains' document, nothing of slsacheck's own in it.
    assert not any(k.startswith("slsacheck.dev/") for k in predicate["buildDefinition"]["internalParameters"])


def test_in_step_provenance_names_the_task_and_the_cluster_identity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / "IMAGE_URL").write_text("registry.example.com/team/app")
    (results / "IMAGE_DIGEST").write_text(DIGEST)
    monkeypatch.delenv("SLSACHECK_BUILDER_IDENTITY", raising=False)
    monkeypatch.setenv("SLSACHECK_TASK_NAME", "slsacheck-attest-provenance")
    predicate = _generate(capsys, "--result-dir", str(results))
    assert _builder(predicate) == "https://slsacheck.dev/builders/tekton/in-step/slsacheck-attest-provenance"
    assert predicate["buildDefinition"]["internalParameters"][GENERATOR_KEY] == {"mode": "in-step"}
    monkeypatch.setenv("SLSACHECK_BUILDER_IDENTITY", "https://tekton.example.com/clusters/prod/")
    named = _generate(capsys, "--result-dir", str(results), "--task-name", "attest")
    assert _builder(named) == "https://tekton.example.com/clusters/prod/in-step/attest"
    assert main(["provenance", "generate", "--result-dir", str(results), "--reproduce-chains"]) == 2
    assert "in-step provenance cannot reproduce Tekton Chains" in capsys.readouterr().err
    assert main(["provenance", "generate", "--result-dir", str(results), "--builder-id", " "]) == 2
    assert "the builder id is empty" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("builder", "predicate", "cap"),
    [
        ("https://slsacheck.dev/builders/tekton/in-step/slsacheck-attest-provenance", None, 2),
        ("https://tekton.example.com/clusters/prod/exported-run", None, 2),
        # A custom id does not hide how the provenance was made.
        ("https://ci.example.com/b", {"buildDefinition": {"internalParameters": {GENERATOR_KEY: {"mode": "in-step"}}}},
         2),
        (CHAINS_BUILDER_ID, None, None),
        ("https://github.com/slsa-framework/slsa-github-generator/.github/workflows/x.yml@refs/tags/v2", None, None),
    ],
)
def test_max_level(builder: str, predicate: dict[str, Any] | None, cap: int | None) -> None:
    got = max_level(builder, predicate)
    assert (got[0] if got else None) == cap


def test_a_report_never_claims_l3_for_in_step_provenance() -> None:
    pinned = Verdict("img", DIGEST, ("p",), (Check("provenance.builderIds", Outcome.PASS, policy="p"),))
    provenance = [{"source": "s", "verified": True, "verifiedBy": [{"authority": "a", "signer": "key k"}],
                   "provenance": {"builder": "https://slsacheck.dev/builders/tekton/in-step/attest"}}]
    capped = _level(provenance, pinned, "t", {"s": max_level("https://slsacheck.dev/builders/tekton/in-step/attest")})
    assert capped["level"] == 2 and "L3 does not hold for this builder" in capped["reason"]
    chains = [{**provenance[0], "provenance": {"builder": CHAINS_BUILDER_ID}}]
    assert _level(chains, pinned, "t", {"s": max_level(CHAINS_BUILDER_ID)})["level"] == 3
