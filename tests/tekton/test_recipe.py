"""tekton/README.md's "Install and run", as written, end to end.

The policies workspace is the README's own `kubectl create configmap slsacheck-policies`
line, done on disk as a pod sees the mounted ConfigMap: one flat directory of its keys
(tests/support/docs.py). The shipped policies in it get the two placeholders the README
tells users to replace (their registry and their source repository) and nothing else.
The pipeline then runs with the harness (stand-ins for git-clone, Trivy and kaniko; the
slsacheck Tasks for real) and its gate must pass; a CRITICAL finding or a source from
another repository must fail it at the check that says so.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.docs import DocCommand, copy_tree, kubectl_from_files, shell_commands
from tests.support.env import ROOT
from tests.tekton._e2e_support import SOURCE_URL, TEKTON, WITH_CRITICAL, Setup, setup

pytestmark = pytest.mark.timeout(600)
__all__ = ["setup"]  # the fixture, imported for pytest

README = TEKTON / "README.md"
CONFIGMAP = ["kubectl", "create", "configmap", "slsacheck-policies"]
REPOSITORY_PLACEHOLDER = "https://github.com/example-org/*"


def _install_and_run() -> list[DocCommand]:
    """The commands of the README's "Install and run" section, in order."""
    headings = [n for n, line in enumerate(README.read_text().splitlines(), start=1) if line.startswith("## ")]
    lines = README.read_text().splitlines()
    first = next(n for n in headings if lines[n - 1] == "## Install and run")
    last = next((n for n in headings if n > first), len(lines) + 1)
    return [c for c in shell_commands(README) if first < c.line < last]


def _configmap_command() -> DocCommand:
    (command,) = [c for c in _install_and_run() if c.argv[: len(CONFIGMAP)] == CONFIGMAP]
    return command


def test_install_and_run_starts_by_building_and_pinning_the_step_image() -> None:
    commands = _install_and_run()
    programs = [" ".join(c.argv[:2]) for c in commands]
    assert programs[:2] == ["buildah build", "buildah push"], programs
    pin = next(i for i, c in enumerate(commands) if c.argv[0] == "tekton/image/pin.sh")
    first_apply = next(i for i, p in enumerate(programs) if p.startswith("kubectl"))
    assert pin < first_apply, programs


def _example_configmap() -> dict[str, Any]:
    docs = list(yaml.safe_load_all((TEKTON / "runs" / "secrets-example.yaml").read_text()))
    (configmap,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "slsacheck-policies"]
    return configmap


def test_the_example_configmap_is_the_readme_recipe(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    for path in (ROOT / "policies").glob("*"):
        shutil.copy(path, tmp_path / "policies" / path.name)
    (tmp_path / "cosign.pub").write_text("a key\n")
    written = kubectl_from_files(_configmap_command().argv, tmp_path, tmp_path / "flat")
    data = _example_configmap()["data"]
    assert set(data) == set(written)
    for key, path in written.items():
        if key.endswith(".yaml"):
            assert data[key] == path.read_text(), f"{key} in secrets-example.yaml is not policies/{key}"


def _readme_policies(setup: Setup) -> Path:
    """The ConfigMap of the README as the gate's pod mounts it, placeholders replaced."""
    checkout = setup.tmp / "checkout"
    copy_tree(ROOT / "policies", checkout / "policies",
              {"registry.example.com": setup.registry.host, REPOSITORY_PLACEHOLDER: SOURCE_URL})
    shutil.copy(setup.pub, checkout / "cosign.pub")
    flat = setup.tmp / "slsacheck-policies"
    written = kubectl_from_files(_configmap_command().argv, checkout, flat)
    assert all("/" not in key for key in written) and "cosign.pub" in written
    return flat


def test_the_readme_recipe_gates_the_pipeline(setup: Setup) -> None:
    setup.workspaces["policies"] = _readme_policies(setup)
    run = setup.run()
    assert run.succeeded, run.log()
    gate = run.task_runs["verify-image"]
    assert "tekton-pipeline" in gate.log and "vulnerability-gate" in gate.log
    assert run.results["VERDICT"] == "pass"

    critical = setup.run(report=WITH_CRITICAL)
    assert not critical.succeeded
    assert "vulnerabilities.maxSeverity" in critical.task_runs["verify-image"].log

    elsewhere = setup.run(params={"repo-url": "https://git.example.com/someone-else/app.git"})
    assert not elsewhere.succeeded
    assert "provenance.source.repositories" in elsewhere.task_runs["verify-image"].log
