"""The guide's flow for real: a `pipelineRef` PipelineRun, its three TaskRuns, the gates.

On the loopback registry (TLS and htpasswd auth): an image is pushed, the PipelineRun that
built it and its clone, scan and build TaskRuns are exported as `kubectl get -o json`
prints them (`tests/support/pipelineref_run.py`), provenance is generated from them and
attested, the image is signed; then `verify`, an AdmissionReview to the webhook, `audit`
and `promote` judge it with one policy that requires the tasks, trusted task refs, step
images, the source and the age. All pass. Then each fact is broken on an image of its own,
as the run would have recorded it, and each surface fails on exactly that fact's check.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from slsacheck.admission.app import build
from slsacheck.provenance.builders import exported_builder_id
from tests.admission.support import RunningWebhook, pod_review, serve_webhook
from tests.support.certs import issue, make_ca
from tests.support.cli import Run, cli, registry_flags
from tests.support.keys import write_key_pairs
from tests.support.pipelineref_run import PIPELINE_TASKS, STEP_IMAGES, RunFacts, with_task, without_task
from tests.support.registry import RunningRegistry, push_scratch

__all__ = ["cli"]  # the fixture, imported for pytest

pytestmark = pytest.mark.integration

REPO = "team/app"
TRUSTED_REFS = '["oci://registry.example.com/tekton/**", "https://git.example.com/tekton/*"]'

# One broken fact per case: what the run records instead, and the only check it must fail.
BROKEN: dict[str, tuple[dict[str, Any], str]] = {
    "a required task did not run": (
        {"tasks": without_task(PIPELINE_TASKS, "scan")}, "provenance.tasks.required"),
    "a task from the cluster, not a pinned bundle": (
        {"tasks": with_task(PIPELINE_TASKS, "build", taskRef={"name": "build-push"})},
        "provenance.tasks.trustedRefs"),
    "a step image from another registry": (
        {"step_images": {**STEP_IMAGES, "scan": "docker.io/aquasec/trivy@sha256:" + "7a" * 32}},
        "provenance.stepImages"),
    "the source from another repository": (
        {"source_url": "https://git.example.com/someone-else/app"}, "provenance.source.repositories"),
    "built a month ago": ({"finished": datetime.now(UTC) - timedelta(days=30)}, "provenance.maxAge"),
}


@dataclass(frozen=True)
class Built:
    ref: str  # REGISTRY/REPO@sha256:...
    run: RunFacts


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory, tekton_registry: RunningRegistry) -> Path:
    folder = tmp_path_factory.mktemp("pipelineref")
    write_key_pairs(folder, "team")
    (folder / "policy.yaml").write_text(f"""\
apiVersion: slsacheck.dev/v1alpha1
kind: ImagePolicy
metadata:
  name: pipelineref-e2e
spec:
  images:
    include: ["{tekton_registry.host}/**"]
  authorities:
    - name: team-key
      key:
        file: team.pub
  signatures:
    authorities: [team-key]
  attestations:
    - name: provenance
      predicateType: slsaprovenance1
      authorities: [team-key]
      provenance:
        builderIds: ["{exported_builder_id()}"]
        source:
          repositories: ["https://git.example.com/team/*"]
          refs: ["refs/heads/main"]
          requireCommit: true
        tasks:
          required: [git-clone, scan, build-push]
          trustedRefs: {TRUSTED_REFS}
        stepImages:
          requireDigest: true
          allowedRegistries: ["registry.example.com"]
        maxAge: 168h
""")
    return folder


class Pipeline:
    """Builds an image the way the pipeline would: push, export the run, attest, sign."""

    def __init__(self, cli: Any, reg: RunningRegistry, workdir: Path) -> None:
        self.cli, self.reg, self.workdir = cli, reg, workdir
        self.flags = registry_flags(reg)

    def build(self, seed: str, **broken: Any) -> Built:
        digest = push_scratch(self.reg, REPO, seed, seed).digest
        image = f"{self.reg.host}/{REPO}"
        run = replace(RunFacts(image, str(digest), datetime.now(UTC) - timedelta(hours=1)), **broken)
        run_flags = run.write(self.workdir / "runs" / seed)
        key = str(self.workdir / "team.key")
        attested = self.cli("provenance", "attest", "--strict", "--key", key, *run_flags, *self.flags)
        assert attested.code == 0, attested.err
        ref = f"{image}@{digest}"
        assert f"on {ref}" in attested.out
        signed = self.cli("sign", "--key", key, ref, *self.flags)
        assert signed.code == 0, signed.err
        return Built(ref, run)

    def verify(self, ref: str) -> Run:
        return self.cli("verify", "--policy", str(self.workdir / "policy.yaml"), "--output", "json", ref, *self.flags)


def _failed(verdict: dict[str, Any]) -> set[str]:
    return {c["id"] for c in verdict["checks"] if c["outcome"] == "fail"}


@pytest.fixture(scope="module")
def webhook(workdir: Path, tekton_registry: RunningRegistry) -> Iterator[RunningWebhook]:
    ca = make_ca(workdir / "webhook-ca", "pipelineref webhook CA")
    serving = issue(ca, workdir / "webhook-ca", "webhook", hosts=("127.0.0.1", "localhost"))
    hook = build([workdir / "policy.yaml"], replace(tekton_registry.options, retries=0), budget_seconds=60.0)
    with serve_webhook(hook, serving, ca.cert_path) as running:
        yield running


def test_every_surface_passes_then_each_broken_fact_fails_its_check(
    cli: Any, tekton_registry: RunningRegistry, workdir: Path, webhook: RunningWebhook
) -> None:
    pipeline = Pipeline(cli, tekton_registry, workdir)
    good = pipeline.build("good")
    broken = {case: (pipeline.build(f"broken-{i}", **change), check)
              for i, (case, (change, check)) in enumerate(sorted(BROKEN.items()))}

    # verify (the gate)
    passed = pipeline.verify(good.ref)
    assert passed.code == 0, passed.out
    verdict = passed.json()
    ids = {c["id"]: c["outcome"] for c in verdict["checks"]}
    for check in ("provenance.tasks.required", "provenance.tasks.trustedRefs", "provenance.stepImages",
                  "provenance.source.repositories", "provenance.source.refs", "provenance.source.requireCommit",
                  "provenance.maxAge", "provenance.builderIds", "signatures.threshold"):
        assert ids.get(check) == "pass", (check, verdict)
    for case, (built, check) in broken.items():
        failed = pipeline.verify(built.ref)
        assert failed.code == 1, (case, failed.out)
        assert _failed(failed.json()) == {check}, case

    # admission: the same verdicts through the webhook
    review = webhook.answer("/validate", pod_review([good.ref]))
    assert review["response"]["allowed"] is True, review
    for case, (built, check) in broken.items():
        denied = webhook.answer("/validate", pod_review([built.ref]))["response"]
        assert denied["allowed"] is False, case
        assert check in denied["status"]["message"], (case, denied)
        others = {c for _, c in BROKEN.values()} - {check}
        assert not any(other in denied["status"]["message"] for other in others), (case, denied)

    # audit: one report over all of them
    report = workdir / "audit.json"
    refs = [good.ref, *(b.ref for b, _ in broken.values())]
    audited = cli("audit", "--policy", str(workdir / "policy.yaml"), "--format", "json", "--output", str(report),
                  "--quiet", *refs, *pipeline.flags)
    assert audited.code == 1, audited.err  # the broken ones fail it
    records = json.loads(report.read_text())["images"]
    assert len(records) == len(refs)
    good_record = _record(records, good.ref)
    assert good_record["outcome"] == "pass", good_record
    assert good_record["slsaLevel"] == 2  # made from exported runs: never L3, whatever the policy pins
    for case, (built, check) in broken.items():
        record = _record(records, built.ref)
        assert record["outcome"] == "fail", case
        assert _failed(record["verdict"]) == {check}, case

    # promote: the good one goes, a broken one does not
    promoted = cli("promote", "--policy", str(workdir / "policy.yaml"), good.ref,
                   f"{tekton_registry.host}/release/app:v1", *pipeline.flags)
    assert promoted.code == 0, promoted.out + promoted.err
    at_destination = pipeline.verify(f"{tekton_registry.host}/release/app@{good.ref.rsplit('@', 1)[1]}")
    assert at_destination.code == 0, at_destination.out
    built, check = broken["a task from the cluster, not a pinned bundle"]
    refused = cli("promote", "--policy", str(workdir / "policy.yaml"), built.ref,
                  f"{tekton_registry.host}/release/app:v2", *pipeline.flags)
    assert refused.code == 1 and check in refused.out + refused.err
    gone = cli("verify", "--key", str(workdir / "team.pub"), f"{tekton_registry.host}/release/app:v2", *pipeline.flags)
    assert gone.code != 0


def _record(records: list[dict[str, Any]], ref: str) -> dict[str, Any]:
    digest = ref.rsplit("@", 1)[1]
    found = [r for r in records if r["digest"] == digest]
    assert len(found) == 1, (ref, list(records))
    return found[0]
