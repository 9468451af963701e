"""--platform-subjects against a real registry holding a buildah-built multi-platform index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slsacheck.cli import main
from slsacheck.models import ImageRef, Statement
from slsacheck.oci.copy import copy
from slsacheck.oci.layout import LayoutStore
from tests.support.images import BuildahImages, buildah_images
from tests.support.registry import RunningRegistry

__all__ = ["buildah_images"]  # the fixture, imported so pytest finds it here


@pytest.mark.integration
def test_generate_adds_each_platform_of_the_built_index(
    tmp_path: Path,
    registry_tls: RunningRegistry,
    repo_name: str,
    buildah_images: BuildahImages,
    capsys: pytest.CaptureFixture[str],
) -> None:
    parsed = ImageRef.parse(buildah_images.multi)
    assert parsed.layout is not None
    layout = LayoutStore(parsed.layout)
    target = registry_tls.store(repo_name)
    report = copy(layout, target, parsed.identifier, tags=["v1"])
    index = layout.fetch_manifest(parsed.identifier)
    image = f"{registry_tls.host}/{repo_name}"
    run = {
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "metadata": {"name": "build", "uid": "u-1"},
        "spec": {"taskRef": {"name": "buildah"}},
        "status": {
            "conditions": [{"type": "Succeeded", "status": "True"}],
            "completionTime": "2026-03-01T10:00:00Z",
            "results": [{"name": "IMAGE_URL", "value": image}, {"name": "IMAGE_DIGEST", "value": str(report.digest)}],
        },
    }
    (tmp_path / "run.json").write_text(json.dumps(run))
    argv = ["provenance", "generate", "--run", str(tmp_path / "run.json"), "--platform-subjects"]
    assert main([*argv, "--ca-bundle", str(registry_tls.ca_path)]) == 0
    statement = Statement.from_json(capsys.readouterr().out)
    assert [s.digest["sha256"] for s in statement.subjects] == [
        index.digest.hex,
        *(child.digest.hex for child in index.children),
    ]
    assert len(statement.subjects) == 3 and {s.name for s in statement.subjects} == {image}
    # Without the CA the registry cannot be trusted: the command fails instead of guessing.
    assert main(argv) != 0
    assert "error:" in capsys.readouterr().err
