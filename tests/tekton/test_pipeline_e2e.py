"""The secure pipeline's slsacheck tasks, run for real against a loopback registry.

git-clone, Trivy and kaniko cannot run here (their images are not slsacheck's), so each has
a stand-in doing its job on this machine: a real git commit in the source workspace, a
real Trivy report (from the shared anchors) in the reports workspace, and a buildah-built
image pushed with `skopeo copy --digestfile`, which writes the pushed digest as kaniko's
`--digest-file` does. Everything after the build, sign -> attest provenance -> attest
vulnerabilities -> verify, runs the Tasks' own scripts with the slsacheck under test,
against docker-registry with TLS (a test CA in the registry-ca workspace) and htpasswd auth
(the docker-credentials workspace).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import shutil
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from slsacheck.attach.predicates import PREDICATE_ALIASES
from slsacheck.models.descriptor import Descriptor
from tests.support.env import ROOT, require_tool, shared_file
from tests.support.images import BuildahImages, skopeo_copy, skopeo_registry_flags
from tests.support.registry import RunningRegistry
from tests.support.sigstore_mock import DEFAULT_ISSUER, MockSigstore, mock_sigstore
from tests.support.tekton_harness import (
    VENV_BIN,
    Harness,
    PipelineRunResult,
    StandIn,
    StandInCall,
    load,
    step_action_task,
)

pytestmark = pytest.mark.timeout(600)
__all__ = ["mock_sigstore"]  # the fixture, imported for pytest

TEKTON = ROOT / "tekton"
SOURCE_URL = "https://git.example.com/team/app.git"
BUILDER = "https://tekton.dev/chains/v2"
HIGH_ONLY = "aquasecurity__trivy__integration__testdata__fixtures__convert__npm-with-suppressed.json.golden"
KEYLESS_SUBJECT = "https://kubernetes.io/namespaces/ci/serviceaccounts/pipeline"
WITH_CRITICAL = "aquasecurity__trivy__integration__testdata__alpine-39.json.golden"

POLICY = f"""\
apiVersion: slsacheck.dev/v1alpha1
kind: ImagePolicy
metadata:
  name: tekton-e2e
spec:
  images:
    include: ["**"]
  authorities:
    - name: team-key
      key:
        file: cosign.pub
  signatures:
    authorities: [team-key]
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


def _pipeline() -> dict[str, Any]:
    return load(TEKTON / "pipelines" / "clone-build-push-secure.yaml")


def _tasks() -> dict[str, dict[str, Any]]:
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
        self.image = f"{registry.host}/tekton-e2e/{secrets.token_hex(4)}:v1"
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

    def run(self, **stand_in_args: Any) -> PipelineRunResult:
        return self.harness.run_pipeline(
            _pipeline(), _tasks(),
            params={"repo-url": SOURCE_URL, "git-revision": "main", "image-reference": self.image},
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


def test_pipeline_signs_attests_and_passes_the_gate(setup: Setup) -> None:
    run = setup.run()
    assert run.succeeded, run.log()
    assert [n for n, r in run.task_runs.items() if r.stood_in] == ["fetch-source", "scan-source", "build-push"]
    assert list(run.task_runs) == ["fetch-source", "scan-source", "build-push", "sign-image", "attest-provenance",
                                   "attest-vulnerabilities", "verify-image"]
    digest = run.task_runs["build-push"].results["IMAGE_DIGEST"]
    commit = run.task_runs["fetch-source"].results["commit"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    assert re.fullmatch(r"[0-9a-f]{40}", commit)
    assert run.results["IMAGE_DIGEST"] == digest
    assert run.results["VERDICT"] == "pass"
    assert run.results["CHAINS-GIT_COMMIT"] == commit
    verdict = json.loads((setup.workspaces["shared-data"] / "reports" / "verdict.json").read_text())
    assert verdict["outcome"] == "pass"
    assert verdict["digest"] == digest

    # The evidence stands on its own: slsacheck verifies it outside the pipeline.
    pinned = f"{setup.image.rsplit(':', 1)[0]}@{digest}"
    signature = setup.slsacheck("verify", "--key", str(setup.pub), pinned)
    assert signature.returncode == 0, signature.stdout + signature.stderr
    statements = _attested(setup, pinned, "slsaprovenance1")
    provenance = statements[0]
    assert provenance["subject"][0]["digest"] == {"sha256": digest.removeprefix("sha256:")}
    deps = provenance["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert {"uri": f"git+{SOURCE_URL}", "digest": {"sha1": commit}}.items() <= deps[0].items(), deps
    assert provenance["predicate"]["runDetails"]["builder"]["id"] == BUILDER
    params = provenance["predicate"]["buildDefinition"]["externalParameters"]["runSpec"]["params"]
    assert {"name": "git-revision", "value": "main"} in params
    vuln = _attested(setup, pinned, "vuln")[0]
    report = json.loads(shared_file("anchors", "vuln", HIGH_ONLY).read_text())
    assert vuln["predicate"]["scanner"]["result"]["Results"] == report["Results"]


def _attested(setup: Setup, ref: str, kind: str) -> list[dict[str, Any]]:
    """The statements of `kind` on `ref`: verified by `slsacheck verify-attestation`, then read
    back from the registry's sha256-<hex>.att manifest, layer by layer."""
    proc = setup.slsacheck("verify-attestation", "--key", str(setup.pub), "--type", kind, ref)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    repo, digest = ref.split("/", 1)[1].split("@")
    store = setup.registry.store(repo)
    manifest = store.fetch_manifest(digest.replace(":", "-") + ".att")
    statements = []
    for layer in manifest.json["layers"]:
        envelope = json.loads(store.fetch_blob(Descriptor.from_json(layer)))
        statement = json.loads(base64.b64decode(envelope["payload"]))
        if statement["predicateType"] == PREDICATE_ALIASES[kind]:
            statements.append(statement)
    assert statements, manifest.json
    return statements


def test_unsigned_image_fails_the_gate(setup: Setup) -> None:
    """A pipeline whose sign task did nothing: the gate stops it, with the failing check named."""

    def skip_signing(call: StandInCall) -> Mapping[str, str]:
        return {"IMAGE_URL": str(call.params["IMAGE_URL"]), "IMAGE_DIGEST": str(call.params["IMAGE_DIGEST"])}

    stand_ins = setup.stand_ins()
    stand_ins["sign-image"] = skip_signing
    run = setup.harness.run_pipeline(
        _pipeline(), _tasks(),
        params={"repo-url": SOURCE_URL, "image-reference": setup.image},
        workspaces=setup.workspaces, stand_ins=stand_ins,
    )
    assert not run.succeeded
    gate = run.task_runs["verify-image"]
    assert not gate.succeeded
    assert gate.exit_code == 1
    assert gate.results["VERDICT"] == "fail"
    assert "FAIL" in gate.log and "signatures" in gate.log
    verdict = json.loads((setup.workspaces["shared-data"] / "reports" / "verdict.json").read_text())
    assert any(c["outcome"] == "fail" and c["id"].startswith("signatures") for c in verdict["checks"]), verdict


def test_critical_vulnerability_fails_the_gate(setup: Setup) -> None:
    run = setup.run(report=WITH_CRITICAL)
    assert not run.succeeded
    gate = run.task_runs["verify-image"]
    assert gate.results["VERDICT"] == "fail"
    assert "vulnerabilities" in gate.log and "CRITICAL" in gate.log


def test_branch_name_as_commit_stops_the_provenance(setup: Setup) -> None:
    """The original recorded `main` as a sha1 digest; here the provenance task refuses it."""
    run = setup.run(commit="main")
    assert not run.succeeded
    attest = run.task_runs["attest-provenance"]
    assert not attest.succeeded
    assert "not a full commit SHA" in attest.log
    assert run.skipped == ["attest-vulnerabilities", "verify-image"]


def test_wrong_builder_fails_the_gate(setup: Setup) -> None:
    """The Tasks run one by one: provenance from another builder id is refused at the gate."""
    run = setup.run()
    assert run.succeeded, run.log()
    digest = run.task_runs["build-push"].results["IMAGE_DIGEST"]
    commit = run.task_runs["fetch-source"].results["commit"]
    tasks = _tasks()
    # A second image, built by "someone else": signed and scanned, provenance names another builder.
    image = f"{setup.registry.host}/tekton-e2e/{secrets.token_hex(4)}:v1"
    pushed = kaniko(setup.layout, setup.registry, setup.tmp)(
        StandInCall({"IMAGE": image}, {}, _fresh(setup.tmp / "kaniko-2"))
    )
    assert pushed["IMAGE_DIGEST"] == digest  # same content, another repository
    common = {"IMAGE_URL": image, "IMAGE_DIGEST": pushed["IMAGE_DIGEST"]}
    keys = {"signing-secrets": setup.workspaces["signing-secrets"],
            "dockerconfig": setup.workspaces["docker-credentials"], "registry-ca": setup.workspaces["registry-ca"]}
    h = setup.harness
    assert h.run_task(tasks["slsacheck-sign"], params=common, workspaces=keys).succeeded
    provenance = h.run_task(
        tasks["slsacheck-attest-provenance"],
        params={**common, "SOURCE_URL": SOURCE_URL, "SOURCE_COMMIT": commit,
                "BUILDER_ID": "https://ci.example.com/someone-else"},
        workspaces=keys,
    )
    assert provenance.succeeded, provenance.log
    assert h.run_task(tasks["slsacheck-attest-vulnerabilities"], params=common,
                      workspaces={**keys, "reports": setup.workspaces["shared-data"] / "reports"}).succeeded
    gate = h.run_task(tasks["slsacheck-verify"], params=common,
                      workspaces={"policies": setup.workspaces["policies"], "dockerconfig": keys["dockerconfig"],
                                  "registry-ca": keys["registry-ca"]})
    assert not gate.succeeded
    assert gate.results["VERDICT"] == "fail"
    assert "provenance.builderIds" in gate.log
    assert "someone-else" in gate.log


def _fresh(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def test_sign_step_action_signs_the_pushed_digest(setup: Setup) -> None:
    """The StepAction form of slsacheck-sign, its workspaces given as *_PATH params."""
    action = load(TEKTON / "stepactions" / "slsacheck-sign.yaml")
    image = f"{setup.registry.host}/tekton-e2e/{secrets.token_hex(4)}:v1"
    pushed = kaniko(setup.layout, setup.registry, setup.tmp)(StandInCall({"IMAGE": image}, {}, _fresh(setup.tmp / "k")))
    pinned = f"{image.rsplit(':', 1)[0]}@{pushed['IMAGE_DIGEST']}"
    assert setup.slsacheck("verify", "--key", str(setup.pub), pinned).returncode == 1  # not signed yet
    run = setup.harness.run_task(step_action_task(action), params={
        **pushed,
        "SIGNING_SECRETS_PATH": str(setup.workspaces["signing-secrets"]),
        "DOCKERCONFIG_PATH": str(setup.workspaces["docker-credentials"]),
        "REGISTRY_CA_PATH": str(setup.workspaces["registry-ca"]),
    })
    assert run.succeeded, run.log
    assert run.results == pushed
    verified = setup.slsacheck("verify", "--key", str(setup.pub), pinned)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_the_shipped_policies_gate_the_pipeline(setup: Setup) -> None:
    """policies/key-signed-only.yaml and policies/vulnerability-gate.yaml as users deploy
    them: their keys in keys/ beside them, their image glob pointed at this registry."""
    policies = setup.workspaces["policies"]
    for old in policies.iterdir():
        old.unlink()
    (policies / "keys").mkdir()
    for name in ("release.pub", "scanner.pub"):
        shutil.copy(setup.pub, policies / "keys" / name)
    for name in ("key-signed-only.yaml", "vulnerability-gate.yaml"):
        text = (ROOT / "policies" / name).read_text()
        assert "registry.example.com/**" in text
        (policies / name).write_text(text.replace("registry.example.com/**", f"{setup.registry.host}/**"))
    run = setup.run()
    assert run.succeeded, run.log()
    gate = run.task_runs["verify-image"]
    assert "key-signed-only" in gate.log and "vulnerability-gate" in gate.log
    assert run.results["VERDICT"] == "pass"
    failing = setup.run(report=WITH_CRITICAL)
    assert not failing.succeeded
    assert "vulnerabilities.maxSeverity" in failing.task_runs["verify-image"].log


def test_keyless_sign_and_attest_with_a_token_file(setup: Setup, mock_sigstore: MockSigstore) -> None:
    """KEYLESS=true: the Tasks present the token file (the projected service-account token in a
    cluster) to a loopback Sigstore named by the sigstore workspace's trust_config.json."""
    tasks = _tasks()
    image = f"{setup.registry.host}/tekton-e2e/{secrets.token_hex(4)}:v1"
    pushed = kaniko(setup.layout, setup.registry, setup.tmp)(StandInCall({"IMAGE": image}, {}, _fresh(setup.tmp / "k")))
    token = setup.tmp / "oidc-token"
    token.write_text(mock_sigstore.token(KEYLESS_SUBJECT))
    keyless = {**pushed, "KEYLESS": "true", "OIDC_TOKEN_FILE": str(token)}
    workspaces = {"dockerconfig": setup.workspaces["docker-credentials"],
                  "registry-ca": setup.workspaces["registry-ca"], "sigstore": mock_sigstore.trust_config.parent}
    signed = setup.harness.run_task(tasks["slsacheck-sign"], params=keyless, workspaces=workspaces)
    assert signed.succeeded, signed.log
    attested = setup.harness.run_task(
        tasks["slsacheck-attest-provenance"],
        params={**keyless, "SOURCE_URL": SOURCE_URL, "SOURCE_COMMIT": "c" * 40}, workspaces=workspaces,
    )
    assert attested.succeeded, attested.log
    pinned = f"{image.rsplit(':', 1)[0]}@{pushed['IMAGE_DIGEST']}"
    identity = ["--certificate-oidc-issuer", DEFAULT_ISSUER, "--trusted-root", str(mock_sigstore.trusted_root)]
    for command in (["verify"], ["verify-attestation", "--type", "slsaprovenance1"]):
        ok = setup.slsacheck(*command, "--certificate-identity", KEYLESS_SUBJECT, *identity, pinned)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        other = setup.slsacheck(*command, "--certificate-identity", KEYLESS_SUBJECT + "-other", *identity, pinned)
        assert other.returncode == 1, other.stdout + other.stderr
