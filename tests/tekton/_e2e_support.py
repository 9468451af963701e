"""What the Tekton end-to-end tests share: stand-ins, the gate's policy, a loopback setup.

git-clone, Trivy and kaniko cannot run here (their images are not slsacheck's), so each has
a stand-in doing its job on this machine: a real git commit in the source workspace, a
real Trivy report (from the shared anchors) in the reports workspace, and a buildah-built
image pushed with `skopeo copy --digestfile`, which writes the pushed digest as kaniko's
`--digest-file` does. `Setup` binds the Pipeline's workspaces to a docker-registry with TLS
(a test CA in registry-ca) and htpasswd auth (docker-credentials), and runs the Pipeline
with a promote-to destination of its own on the same registry. Test modules import the
`setup` fixture from here.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from slsacheck.provenance.builders import in_step_builder_id
from tests.support.env import ROOT, require_tool, shared_file
from tests.support.images import BuildahImages, skopeo_copy, skopeo_registry_flags
from tests.support.registry import RunningRegistry
from tests.support.tekton_harness import VENV_BIN, Harness, PipelineRunResult, StandIn, StandInCall, load

TEKTON = ROOT / "tekton"
SOURCE_URL = "https://git.example.com/team/app.git"
# The provenance Task's own builder id (in-step provenance names the Task, not Chains).
BUILDER = in_step_builder_id(task="slsacheck-attest-provenance")
HIGH_ONLY = "aquasecurity__trivy__integration__testdata__fixtures__convert__npm-with-suppressed.json.golden"
WITH_CRITICAL = "aquasecurity__trivy__integration__testdata__alpine-39.json.golden"

def key_only_policy(name: str) -> str:
    """A policy named `name`: every image signed by the team key (cosign.pub beside it)."""
    return f"""\
apiVersion: slsacheck.dev/v1alpha1
kind: ImagePolicy
metadata:
  name: {name}
spec:
  images:
    include: ["**"]
  authorities:
    - name: team-key
      key:
        file: cosign.pub
  signatures:
    authorities: [team-key]
"""


POLICY = key_only_policy("tekton-e2e") + f"""\
  attestations:
    - name: provenance
      predicateType: slsaprovenance1
      authorities: [team-key]
      provenance:
        builderIds: ["{BUILDER}"]
        source:
          repositories: ["{SOURCE_URL}"]
          requireCommit: true
    - name: scan
      predicateType: vuln
      authorities: [team-key]
      vulnerabilities:
        maxSeverity: HIGH
"""


def load_pipeline() -> dict[str, Any]:
    return load(TEKTON / "pipelines" / "clone-build-push-secure.yaml")


def load_tasks() -> dict[str, dict[str, Any]]:
    docs = [load(p) for p in sorted((TEKTON / "tasks").glob("*.yaml"))]
    return {d["metadata"]["name"]: d for d in docs}


# -- stand-ins for the tasks whose images are not slsacheck's ------------------------------


def git_clone(commit: str | None = None) -> StandIn:
    """Commit a Dockerfile into the output workspace with real git; report the commit
    (or `commit`, to play a git-clone that reports a branch name)."""

    def run(call: StandInCall) -> Mapping[str, str]:
        git = require_tool("git")
        out = call.workspaces["output"]
        shutil.rmtree(out)  # git-clone's deleteExisting (default true)
        out.mkdir()
        (out / "Dockerfile").write_text("FROM scratch\nCOPY hello.txt /\n")
        env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
               "GIT_COMMITTER_EMAIL": "t@example.com", "PATH": "/usr/bin:/bin", "HOME": str(out)}
        for argv in (["init", "-q"], ["add", "Dockerfile"], ["commit", "-q", "-m", "app"]):
            subprocess.run([git, *argv], cwd=out, env=env, check=True, capture_output=True, timeout=30)
        sha = subprocess.run([git, "rev-parse", "HEAD"], cwd=out, env=env, check=True, capture_output=True,
                             text=True, timeout=30).stdout.strip()
        return {"commit": commit or sha, "url": str(call.params["url"]), "committer-date": "1700000000"}

    return run


def trivy(report: str) -> StandIn:
    """Put a real Trivy JSON report where `trivy fs --output` would have written it, dated
    now as a scan run now would be (the anchors were made years ago)."""

    def run(call: StandInCall) -> Mapping[str, str]:
        data = json.loads(shared_file("anchors", "vuln", report).read_text())
        data["CreatedAt"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        (call.workspaces["reports"] / str(call.params["REPORT"])).write_text(json.dumps(data, indent=2))
        return {}

    return run


def kaniko(image_layout: str, registry: RunningRegistry, workdir: Path) -> StandIn:
    """Push a buildah-built image to IMAGE; its digest file becomes IMAGE_DIGEST, as kaniko's does."""

    def run(call: StandInCall) -> Mapping[str, str]:
        digest_file = call.results_dir / "IMAGE_DIGEST"
        image = str(call.params["IMAGE"])
        skopeo_copy(image_layout, f"docker://{image}", "--digestfile", str(digest_file),
                    *skopeo_registry_flags(registry, "dest", workdir))
        return {"IMAGE_URL": image, "IMAGE_DIGEST": digest_file.read_text().strip()}

    return run


# -- running ----------------------------------------------------------------------------


class Setup:
    def __init__(self, tmp_path: Path, registry: RunningRegistry, signing_secrets: Path, images: BuildahImages):
        self.tmp = tmp_path
        self.registry = registry
        name = secrets.token_hex(4)
        self.image = f"{registry.host}/tekton-e2e/{name}:v1"
        self.release = f"{registry.host}/tekton-e2e-release/{name}:v1"  # where promote-image copies it
        self.layout = images.single
        self.harness = Harness(tmp_path / "runs")
        policies = tmp_path / "policies"
        policies.mkdir()
        (policies / "gate.yaml").write_text(POLICY)
        shutil.copy(signing_secrets / "cosign.pub", policies / "cosign.pub")
        ca = tmp_path / "registry-ca"
        ca.mkdir()
        assert registry.ca_path is not None
        shutil.copy(registry.ca_path, ca / "ca.crt")
        self.pub = signing_secrets / "cosign.pub"
        self.workspaces = {
            "shared-data": tmp_path / "shared-data",
            "docker-credentials": registry.docker_config.parent,
            "signing-secrets": signing_secrets,
            "policies": policies,
            "registry-ca": ca,
        }

    def stand_ins(self, *, commit: str | None = None, report: str = HIGH_ONLY) -> dict[str, StandIn]:
        return {
            "fetch-source": git_clone(commit),
            "scan-source": trivy(report),
            "build-push": kaniko(self.layout, self.registry, self.tmp),
        }

    def params(self, **extra: Any) -> dict[str, Any]:
        """The Pipeline's params: this setup's image, promoted to `self.release`."""
        return {"repo-url": SOURCE_URL, "git-revision": "main", "image-reference": self.image,
                "promote-to": [self.release], **extra}

    def run(self, *, params: Mapping[str, Any] | None = None, **stand_in_args: Any) -> PipelineRunResult:
        return self.harness.run_pipeline(
            load_pipeline(), load_tasks(), params=self.params(**(params or {})),
            workspaces=self.workspaces, stand_ins=self.stand_ins(**stand_in_args),
        )

    def slsacheck(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert self.registry.ca_path is not None
        return subprocess.run(
            [str(VENV_BIN / "slsacheck"), *args, "--ca-bundle", str(self.registry.ca_path),
             "--docker-config", str(self.registry.docker_config)],
            capture_output=True, text=True, timeout=120, check=False,
        )


@pytest.fixture
def setup(tmp_path: Path, tekton_registry: RunningRegistry, signing_secrets: Path,
          buildah_images: BuildahImages) -> Setup:
    return Setup(tmp_path, tekton_registry, signing_secrets, buildah_images)



def fresh(path: Path) -> Path:
    path.mkdir(parents=True)
    return path
