"""The secure pipeline's slsacheck tasks, run for real against a loopback registry.

git-clone, Trivy and kaniko cannot run here (their images are not slsacheck's), so each has
a stand-in doing its job on this machine: a real git commit in the source workspace, a
real Trivy report (from the shared anchors) in the reports workspace, and a buildah-built
image pushed with `skopeo copy --digestfile`, which writes the pushed digest as kaniko's
`--digest-file` does (the stand-ins and the setup are in `_e2e_support`). Everything after
the build, sign -> attest provenance -> attest vulnerabilities -> verify -> promote, runs
the Tasks' own scripts with the slsacheck under test, against docker-registry with TLS (a
test CA in the registry-ca workspace) and htpasswd auth (the docker-credentials
workspace). The promotion itself is tested in `test_promote_task.py`.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Mapping
from typing import Any

import pytest

from slsacheck.attach.predicates import PREDICATE_ALIASES
from slsacheck.models.descriptor import Descriptor
from tests.support.env import shared_file
from tests.support.sigstore_mock import DEFAULT_ISSUER, MockSigstore, mock_sigstore
from tests.support.tekton_harness import StandInCall, load, step_action_task
from tests.tekton._e2e_support import (
    BUILDER,
    HIGH_ONLY,
    SOURCE_URL,
    TEKTON,
    WITH_CRITICAL,
    Setup,
    fresh,
    kaniko,
    load_pipeline,
    load_tasks,
    setup,
)

pytestmark = pytest.mark.timeout(600)
__all__ = ["mock_sigstore", "setup"]  # the fixtures, imported for pytest

KEYLESS_SUBJECT = "https://kubernetes.io/namespaces/ci/serviceaccounts/pipeline"



def test_pipeline_signs_attests_and_passes_the_gate(setup: Setup) -> None:
    run = setup.run()
    assert run.succeeded, run.log()
    assert [n for n, r in run.task_runs.items() if r.stood_in] == ["fetch-source", "scan-source", "build-push"]
    assert list(run.task_runs) == ["fetch-source", "scan-source", "build-push", "sign-image", "attest-provenance",
                                   "attest-vulnerabilities", "verify-image", "promote-image"]
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
        load_pipeline(), load_tasks(),
        params=setup.params(), workspaces=setup.workspaces, stand_ins=stand_ins,
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
    assert run.skipped == ["attest-vulnerabilities", "verify-image", "promote-image"]


def test_wrong_builder_fails_the_gate(setup: Setup) -> None:
    """The Tasks run one by one: provenance from another builder id is refused at the gate."""
    run = setup.run()
    assert run.succeeded, run.log()
    digest = run.task_runs["build-push"].results["IMAGE_DIGEST"]
    commit = run.task_runs["fetch-source"].results["commit"]
    tasks = load_tasks()
    # A second image, built by "someone else": signed and scanned, provenance names another builder.
    image = f"{setup.registry.host}/tekton-e2e/{secrets.token_hex(4)}:v1"
    pushed = kaniko(setup.layout, setup.registry, setup.tmp)(
        StandInCall({"IMAGE": image}, {}, fresh(setup.tmp / "kaniko-2"))
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


def test_sign_step_action_signs_the_pushed_digest(setup: Setup) -> None:
    """The StepAction form of slsacheck-sign, its workspaces given as *_PATH params."""
    action = load(TEKTON / "stepactions" / "slsacheck-sign.yaml")
    image = f"{setup.registry.host}/tekton-e2e/{secrets.token_hex(4)}:v1"
    pushed = kaniko(setup.layout, setup.registry, setup.tmp)(StandInCall({"IMAGE": image}, {}, fresh(setup.tmp / "k")))
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


def test_keyless_sign_and_attest_with_a_token_file(setup: Setup, mock_sigstore: MockSigstore) -> None:
    """KEYLESS=true: the Tasks present the token file (the projected service-account token in a
    cluster) to a loopback Sigstore named by the sigstore workspace's trust_config.json."""
    tasks = load_tasks()
    image = f"{setup.registry.host}/tekton-e2e/{secrets.token_hex(4)}:v1"
    pushed = kaniko(setup.layout, setup.registry, setup.tmp)(StandInCall({"IMAGE": image}, {}, fresh(setup.tmp / "k")))
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
