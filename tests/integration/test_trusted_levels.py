"""Levels, builder and source in reports come only from attestations their entry's authorities accept.

The policy trusts `release` for image signatures and `pipeline` for provenance. An
attacker holding the release key (trusted for signatures only) attests provenance naming
the trusted builder: the provenance entry fails, and no report may show that builder,
that source, or "SLSA build level 2" for it (audit JSON, text, Markdown, HTML; verify).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from tests.support.cli import Run, cli
from tests.support.keys import write_key_pairs

__all__ = ["cli"]  # the fixture, imported for pytest

pytestmark = pytest.mark.integration

BUILDER = "https://tekton.dev/chains/v2"
SOURCE = "git+https://github.com/acme/app"
PREDICATE = {
    "buildDefinition": {
        "buildType": "https://tekton.dev/chains/v2/slsa",
        "externalParameters": {},
        "resolvedDependencies": [{"uri": SOURCE, "digest": {"sha1": "0123456789abcdef0123456789abcdef01234567"}}],
    },
    "runDetails": {"builder": {"id": BUILDER}, "metadata": {"finishedOn": "2026-11-20T10:00:00Z"}},
}


@pytest.fixture
def setup(cli: Callable[..., Run], tmp_path: Path) -> tuple[Path, Path, Callable[[str], str]]:
    write_key_pairs(tmp_path, "release", "pipeline")
    (tmp_path / "pred.json").write_text(json.dumps(PREDICATE))
    policy = tmp_path / "policy.yaml"
    policy.write_text(textwrap.dedent(f"""\
        apiVersion: slsacheck.dev/v1alpha1
        kind: ImagePolicy
        metadata:
          name: split-trust
        spec:
          images:
            include: ["oci:{tmp_path}/*"]
          authorities:
            - name: release
              key: {{file: release.pub}}
            - name: pipeline
              key: {{file: pipeline.pub}}
          signatures:
            authorities: [release]
          attestations:
            - name: provenance
              predicateType: slsaprovenance1
              authorities: [pipeline]
              provenance:
                builderIds: ["{BUILDER}"]
        """))

    def image(name: str, provenance_key: str) -> str:
        layout = tmp_path / name
        scratch.push(LayoutStore(layout, create=True), scratch.image({"hello": name.encode()}), tag="v1")
        text = f"oci:{layout}:v1"
        assert cli("sign", "--key", str(tmp_path / "release.key"), text).code == 0
        assert cli("attest", "--key", str(tmp_path / f"{provenance_key}.key"), "--type", "slsaprovenance1",
                   "--predicate", str(tmp_path / "pred.json"), text).code == 0
        return text

    return tmp_path, policy, image


def test_provenance_signed_by_a_signature_only_key_yields_no_level_or_builder(
    cli: Callable[..., Run], setup: tuple[Path, Path, Callable[[str], str]]
) -> None:
    workdir, policy, image = setup
    forged = image("forged", "release")
    run = cli("audit", "--policy", str(policy), "--format", "json", "--quiet", forged)
    assert run.code == 1, run.err
    (record,) = run.json()["images"]
    evidence = record["evidence"]
    assert record["slsaLevel"] == 1, evidence["slsa"]
    assert evidence["provenance"] is None
    assert all("provenance" not in a for a in evidence["attestations"])
    assert all(not a["verified"] for a in evidence["attestations"])
    assert "no matching policy trusts release" in evidence["slsa"]["reason"]
    for fmt in ("text", "markdown", "html"):
        out = workdir / f"report.{fmt}"
        cli("audit", "--policy", str(policy), "--format", fmt, "--output", str(out), "--quiet", forged)
        assert BUILDER not in out.read_text(), fmt
        assert "github.com/acme/app" not in out.read_text(), fmt
    run = cli("verify", "--policy", str(policy), "--output", "json", forged)
    assert run.code == 1
    attestations = run.json()["evidence"]["attestations"]
    assert attestations["verified"] == []
    assert any("no matching policy trusts release" in r["reason"] for r in attestations["rejected"])
    text = cli("verify", "--policy", str(policy), forged).out
    assert "verified  " not in text.split("attestations:", 1)[1]


def test_provenance_signed_by_the_provenance_key_yields_level_and_builder(
    cli: Callable[..., Run], setup: tuple[Path, Path, Callable[[str], str]]
) -> None:
    _workdir, policy, image = setup
    good = image("good", "pipeline")
    run = cli("audit", "--policy", str(policy), "--format", "json", "--quiet", good)
    assert run.code == 0, run.out
    (record,) = run.json()["images"]
    assert record["slsaLevel"] == 3 and record["evidence"]["provenance"]["builder"] == BUILDER
