"""The slsacheck-promote Task, run by the harness on loopback registries.

The Pipeline's sign -> attest -> verify -> promote tasks run for real (git-clone, Trivy and
kaniko stand in, see `_e2e_support`); the promotion goes to another repository of the
build's registry, to a second registry with credentials of its own (both in the one docker
config of the docker-credentials workspace, both CAs in the registry-ca bundle) and to an
OCI layout in the reports workspace.
At every destination the image must verify with `slsacheck verify --policy`, under the
source's digest, with its `.sig`/`.att`; a second promotion sends nothing. An image the
policies refuse (at the gate, or at the promotion itself) leaves nothing at the
destination, and a destination whose own policy refuses the image gets no tag.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from slsacheck.errors import NotFound
from slsacheck.models.descriptor import Descriptor
from slsacheck.oci.layout import LayoutStore
from slsacheck.oci.store import Store
from slsacheck.promote.vsa import VSA_PREDICATE_TYPE
from tests.support.registry import RunningRegistry, basic_auth_entry, start_registry, write_docker_config
from tests.support.tekton_harness import VENV_BIN, Harness, StandInCall, TaskRunResult, load, step_action_task
from tests.tekton._e2e_support import (
    POLICY,
    TEKTON,
    WITH_CRITICAL,
    Setup,
    fresh,
    kaniko,
    key_only_policy,
    load_pipeline,
    load_tasks,
    setup,
)

pytestmark = pytest.mark.timeout(600)
__all__ = ["setup"]  # the fixture, imported for pytest

DIGEST = "sha256:" + "ab" * 32
KEY_ONLY = key_only_policy("key-only")


@pytest.fixture(scope="module")
def release_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A second registry (TLS with its own CA, htpasswd with its own password): the release registry."""
    with start_registry(tmp_path_factory.mktemp("release-registry"), "auth") as running:
        yield running


@dataclass
class Promotion:
    setup: Setup
    release: RunningRegistry
    config: Path  # one docker config.json with both registries' credentials
    ca_bundle: Path  # both registries' CAs

    def slsacheck(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(VENV_BIN / "slsacheck"), *args, "--ca-bundle", str(self.ca_bundle), "--docker-config",
             str(self.config)],
            capture_output=True, text=True, timeout=120, check=False,
        )

    def store(self, name: str) -> Store:
        """The store of `name`: an OCI layout (oci:DIR), or REGISTRY/REPO on whichever of the
        two registries holds it."""
        if name.startswith("oci:"):
            return LayoutStore(Path(name.removeprefix("oci:")))
        host, repo = name.split("/", 1)
        registry = self.release if host == self.release.host else self.setup.registry
        return registry.store(repo)

    def workspaces(self) -> dict[str, Path]:
        """The promote Task's workspaces as the Pipeline binds them."""
        ws = self.setup.workspaces
        (ws["shared-data"] / "reports").mkdir(parents=True, exist_ok=True)
        return {"policies": ws["policies"], "reports": ws["shared-data"] / "reports",
                "dockerconfig": ws["docker-credentials"], "registry-ca": ws["registry-ca"]}

    def promote(self, params: Mapping[str, Any], workspaces: Mapping[str, Path] | None = None) -> TaskRunResult:
        return self.setup.harness.run_task(load_tasks()["slsacheck-promote"], params=params,
                                           workspaces=self.workspaces() if workspaces is None else workspaces)


@pytest.fixture
def promotion(setup: Setup, release_registry: RunningRegistry) -> Promotion:
    source = setup.registry
    assert source.username and source.password and release_registry.username and release_registry.password
    assert source.ca_path is not None and release_registry.ca_path is not None
    config = write_docker_config(setup.tmp / "docker-credentials" / "config.json", {
        source.host: basic_auth_entry(source.username, source.password),
        release_registry.host: basic_auth_entry(release_registry.username, release_registry.password),
    })
    bundle = setup.workspaces["registry-ca"] / "ca.crt"
    bundle.write_bytes(source.ca_path.read_bytes() + release_registry.ca_path.read_bytes())
    setup.workspaces["docker-credentials"] = config.parent
    return Promotion(setup, release_registry, config, bundle)


def _name(ref: str) -> str:
    """REGISTRY/REPO of REGISTRY/REPO[:TAG]."""
    host, _, path = ref.partition("/")
    return f"{host}/{path.rsplit(':', 1)[0]}"


def _nothing_at(store: Store, digest: str, tag: str) -> bool:
    """Neither the digest nor the tag resolves at `store`."""
    for reference in (digest, tag):
        try:
            store.resolve(reference)
        except NotFound:
            continue
        return False
    return True


def _statements(store: Store, digest: str, predicate_type: str) -> list[dict[str, Any]]:
    """The in-toto statements of `predicate_type` in the sha256-<hex>.att manifest at `store`."""
    manifest = store.fetch_manifest(digest.replace(":", "-") + ".att")
    out = []
    for layer in manifest.json["layers"]:
        envelope = json.loads(store.fetch_blob(Descriptor.from_json(layer)))
        statement = json.loads(base64.b64decode(envelope["payload"]))
        if statement["predicateType"] == predicate_type:
            out.append(statement)
    return out


# -- the pipeline -------------------------------------------------------------------------


def test_pipeline_promotes_the_verified_digest_with_its_evidence(promotion: Promotion) -> None:
    setup = promotion.setup
    other = f"{promotion.release.host}/prod/{secrets.token_hex(4)}"
    handover = f"oci:{setup.workspaces['shared-data'] / 'reports' / 'handover'}"  # an air-gapped hand-over
    destinations = [setup.release, other, handover]
    run = setup.run(params={"promote-to": destinations, "promote-tags": ["v1", "stable"]})
    assert run.succeeded, run.log()
    assert list(run.task_runs)[-2:] == ["verify-image", "promote-image"]
    digest = run.task_runs["build-push"].results["IMAGE_DIGEST"]
    names = [_name(setup.release), other, handover]
    promote = run.task_runs["promote-image"]
    assert json.loads(promote.results["PROMOTED"]) == [f"{n}@{digest}" for n in names]
    assert run.results["PROMOTED"] == promote.results["PROMOTED"]
    assert promote.results["IMAGE_DIGEST"] == digest
    record_file = setup.workspaces["shared-data"] / "reports" / "promotion-record.json"
    assert run.results["PROMOTION_RECORD_DIGEST"] == "sha256:" + hashlib.sha256(record_file.read_bytes()).hexdigest()
    record = json.loads(record_file.read_text())
    assert record["outcome"] == "promoted"
    assert record["source"]["digest"] == digest
    assert record["source"]["image"] == f"{_name(setup.image)}@{digest}"  # the digest, not the build's tag
    assert [d["digestMatches"] for d in record["destinations"]] == [True, True, True]

    policy = str(setup.workspaces["policies"] / "gate.yaml")
    source = setup.registry.store(_name(setup.image).split("/", 1)[1])
    for name in names:
        store = promotion.store(name)
        for tag in ("v1", "stable"):
            assert str(store.resolve(tag).digest) == digest, (name, tag)
        for kind in ("sig", "att"):
            tag = digest.replace(":", "-") + f".{kind}"
            here = {layer["digest"] for layer in store.fetch_manifest(tag).json["layers"]}
            there = {layer["digest"] for layer in source.fetch_manifest(tag).json["layers"]}
            assert here == there, (name, kind)
        verified = promotion.slsacheck("verify", "--policy", policy, "--output", "json", f"{name}:stable")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert json.loads(verified.stdout)["digest"] == digest

    # The promotion again, as the Pipeline's task would run it: everything is there already.
    again = promotion.promote({"IMAGE_URL": setup.image, "IMAGE_DIGEST": digest,
                               "DESTINATIONS": destinations, "TAGS": ["v1", "stable"]})
    assert again.succeeded, again.log
    assert again.results["PROMOTED"] == promote.results["PROMOTED"]
    second = json.loads(record_file.read_text())
    assert second["outcome"] == "promoted"
    assert [d["copied"]["sentNothing"] for d in second["destinations"]] == [True] * 3, second["destinations"]
    assert again.results["RECORD_DIGEST"] != promote.results["RECORD_DIGEST"]  # a new record, not the old one


def test_image_failing_the_gate_is_not_promoted(promotion: Promotion) -> None:
    setup = promotion.setup
    other = f"{promotion.release.host}/prod/{secrets.token_hex(4)}:v1"
    run = setup.run(report=WITH_CRITICAL, params={"promote-to": [setup.release, other]})
    assert not run.succeeded
    assert not run.task_runs["verify-image"].succeeded
    assert run.skipped == ["promote-image"]
    digest = run.task_runs["build-push"].results["IMAGE_DIGEST"]
    for ref in (setup.release, other):
        assert _nothing_at(promotion.store(_name(ref)), digest, "v1"), ref
    assert not (setup.workspaces["shared-data"] / "reports" / "promotion-record.json").exists()


def test_destination_its_own_policy_refuses_gets_no_tag(promotion: Promotion) -> None:
    """A destination is judged by the gate's policies and by any policy naming it: one that
    asks for a signature the image lacks fails the promotion there, and no tag is set."""
    from slsacheck.signing.keys import generate_key_pair

    setup = promotion.setup
    policies = setup.workspaces["policies"]
    (policies / "release-signer.pub").write_bytes(generate_key_pair(b"")[1])
    release_repo = _name(setup.release)
    strict = key_only_policy("release-only").replace('include: ["**"]', f'include: ["{release_repo}"]')
    (policies / "release-only.yaml").write_text(strict.replace("file: cosign.pub", "file: release-signer.pub"))
    run = setup.run()
    assert not run.succeeded
    assert run.task_runs["verify-image"].succeeded
    promote = run.task_runs["promote-image"]
    assert not promote.succeeded and promote.exit_code == 1, promote.log
    assert promote.results["PROMOTED"] == "[]"
    assert "IMAGE_DIGEST" not in promote.results
    record = json.loads((setup.workspaces["shared-data"] / "reports" / "promotion-record.json").read_text())
    assert record["outcome"] == "partial"
    destination = record["destinations"][0]
    assert destination["outcome"] == "failed" and destination["tagsWithheld"] is True
    assert {j["policy"] for j in destination["judgedBy"]} == {"tekton-e2e", "release-only"}
    with pytest.raises(NotFound):
        promotion.store(release_repo).resolve("v1")


def test_destination_is_judged_by_the_policies_that_judged_the_build(promotion: Promotion) -> None:
    """A policy covering only the build's repositories still judges the promoted copy: the
    destination is judged by the policies that judged the source (its evidence must arrive
    intact), so the promotion passes and the record says which policy judged it and why."""
    setup = promotion.setup
    gate = setup.workspaces["policies"] / "gate.yaml"
    narrowed = POLICY.replace('include: ["**"]', f'include: ["{setup.registry.host}/tekton-e2e/**"]')
    assert narrowed != POLICY
    gate.write_text(narrowed)
    run = setup.run()
    promote = run.task_runs["promote-image"]
    assert run.succeeded and promote.succeeded, promote.log
    digest = run.task_runs["verify-image"].results["IMAGE_DIGEST"]
    assert promote.results["IMAGE_DIGEST"] == digest
    record = json.loads((setup.workspaces["shared-data"] / "reports" / "promotion-record.json").read_text())
    destination = record["destinations"][0]
    assert destination["outcome"] == "promoted"
    assert [j["matches"] for j in destination["judgedBy"]] == [["source"]]
    assert str(promotion.store(_name(setup.release)).resolve("v1").digest) == digest


def test_the_pipeline_promotes_what_the_gate_passed() -> None:
    """promote-image takes the gate's digest (not the build's), runs only after the gate,
    and gets no key of the build's: its VSA key is a workspace of its own."""
    tasks = {t["name"]: t for t in load_pipeline()["spec"]["tasks"]}
    promote = tasks["promote-image"]
    params = {p["name"]: p["value"] for p in promote["params"]}
    assert params["IMAGE_DIGEST"] == "$(tasks.verify-image.results.IMAGE_DIGEST)"
    assert params["IMAGE_URL"] == "$(tasks.verify-image.results.IMAGE_URL)"
    assert params["DESTINATIONS"] == ["$(params.promote-to[*])"]
    assert promote["runAfter"] == ["verify-image"]
    bound = {w["name"]: w["workspace"] for w in promote["workspaces"]}
    assert bound["signing-secrets"] == "promotion-signing-secrets"
    assert "signing-secrets" not in bound.values()
    assert bound["dockerconfig"] == "docker-credentials"


# -- the Task on its own ------------------------------------------------------------------


def _pushed(setup: Setup, where: str) -> dict[str, str]:
    """A fresh repository holding the buildah image, nothing else: kaniko's results for it."""
    image = f"{setup.registry.host}/tekton-e2e/{secrets.token_hex(4)}:v1"
    push = kaniko(setup.layout, setup.registry, setup.tmp)
    return dict(push(StandInCall({"IMAGE": image}, {}, fresh(setup.tmp / where))))


def test_promote_task_refuses_an_unsigned_image(promotion: Promotion) -> None:
    """Without the gate before it, the Task's own verification refuses, and copies nothing."""
    setup = promotion.setup
    pushed = _pushed(setup, "unsigned")
    destination = f"{promotion.release.host}/prod/{secrets.token_hex(4)}:v1"
    run = promotion.promote({**pushed, "DESTINATIONS": [destination]})
    assert not run.succeeded and run.exit_code == 1, run.log
    assert "refused" in run.log and "signatures" in run.log
    assert run.results["PROMOTED"] == "[]"
    assert "IMAGE_DIGEST" not in run.results
    record = json.loads((setup.workspaces["shared-data"] / "reports" / "promotion-record.json").read_text())
    assert record["outcome"] == "refused" and record["destinations"] == []
    assert _nothing_at(promotion.store(_name(destination)), pushed["IMAGE_DIGEST"], "v1")


def test_step_action_promotes_and_attaches_a_signed_vsa(promotion: Promotion) -> None:
    """The StepAction form, ATTEST_RECORD=true: a VSA signed with the signing-secrets key at
    the destination (and only there), verifiable with the public key."""
    setup = promotion.setup
    pushed = _pushed(setup, "vsa")
    keys = setup.workspaces["signing-secrets"]
    signed = setup.harness.run_task(load_tasks()["slsacheck-sign"], params=pushed, workspaces={
        "signing-secrets": keys, "dockerconfig": promotion.config.parent,
        "registry-ca": setup.workspaces["registry-ca"]})
    assert signed.succeeded, signed.log
    policies = fresh(setup.tmp / "key-only")
    (policies / "key-only.yaml").write_text(KEY_ONLY)
    shutil.copy(setup.pub, policies / "cosign.pub")
    destination = f"{promotion.release.host}/prod/{secrets.token_hex(4)}"
    action = step_action_task(load(TEKTON / "stepactions" / "slsacheck-promote.yaml"))
    run = Harness(setup.tmp / "action-runs").run_task(action, params={
        **pushed, "DESTINATIONS": [destination], "TAGS": ["v1"], "ATTEST_RECORD": "true",
        "POLICIES_PATH": str(policies), "DOCKERCONFIG_PATH": str(promotion.config.parent),
        "REGISTRY_CA_PATH": str(setup.workspaces["registry-ca"]), "SIGNING_SECRETS_PATH": str(keys),
    })
    assert run.succeeded, run.log
    digest = pushed["IMAGE_DIGEST"]
    assert json.loads(run.results["PROMOTED"]) == [f"{destination}@{digest}"]
    pinned = f"{destination}@{digest}"
    vsa = promotion.slsacheck("verify-attestation", "--key", str(setup.pub), "--type", VSA_PREDICATE_TYPE, pinned)
    assert vsa.returncode == 0, vsa.stdout + vsa.stderr
    (statement,) = _statements(promotion.store(destination), digest, VSA_PREDICATE_TYPE)
    assert statement["predicate"]["resourceUri"] == pinned
    assert statement["predicate"]["verificationResult"] == "PASSED"
    source = f"{_name(pushed['IMAGE_URL'])}@{digest}"
    at_source = promotion.slsacheck("verify-attestation", "--key", str(setup.pub), "--type", VSA_PREDICATE_TYPE,
                                    source)
    assert at_source.returncode == 1, at_source.stdout + at_source.stderr


# -- input the Task refuses before it touches a registry -----------------------------------


def _refused(tmp_path: Path, params: Mapping[str, Any], policy: str | None = KEY_ONLY) -> TaskRunResult:
    policies = fresh(tmp_path / "policies")
    if policy is not None:
        (policies / "gate.yaml").write_text(policy)
    given = {"IMAGE_URL": "registry.invalid/team/app:v1", "IMAGE_DIGEST": DIGEST,
             "DESTINATIONS": ["registry.invalid/prod/app:v1"], **params}
    run = Harness(tmp_path / "runs").run_task(load_tasks()["slsacheck-promote"], params=given,
                                              workspaces={"policies": policies, "reports": tmp_path})
    assert not run.succeeded and run.exit_code == 2, run.log
    assert "IMAGE_DIGEST" not in run.results
    return run


@pytest.mark.parametrize(("params", "message"), [
    ({"IMAGE_DIGEST": "v1"}, "IMAGE_DIGEST must be the verified digest"),
    ({"DESTINATIONS": []}, "no destination"),
    ({"DESTINATIONS": ["--policy=/etc/passwd"]}, "neither a destination nor a tag"),
    ({"TAGS": ["--dry-run"]}, "neither a destination nor a tag"),
    ({"ATTEST_RECORD": "true"}, "needs a signing key"),
    ({"ATTEST_RECORD": "yes"}, "ATTEST_RECORD must be true or false"),
    ({"DESTINATIONS": [f"registry.invalid/prod/app@{DIGEST}"]}, "names a digest"),
])
def test_promote_task_refuses_bad_input(tmp_path: Path, params: dict[str, Any], message: str) -> None:
    assert message in _refused(tmp_path, params).log


def test_promote_task_refuses_to_run_without_policies(tmp_path: Path) -> None:
    assert "no policy" in _refused(tmp_path, {}, policy=None).log
