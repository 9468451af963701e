"""In-step provenance and exported-run provenance for the same run agree on what matters.

One run of the secure Pipeline's build part, `fetch-source -> build-push ->
attest-provenance` (the shipped Pipeline cut down to those tasks, their params and wiring
unchanged), goes through the Tekton harness on the loopback registry: git-clone and kaniko
are stand-ins (a real git commit; a buildah image pushed with skopeo), and
`slsacheck-attest-provenance` runs its own script, which generates provenance in the step
(strict) and attaches it as a signed `.att`. That attestation is read back and verified.
The same run is then written down as the objects a Tekton controller would export (a
tekton.dev/v1 PipelineRun and its TaskRuns, from the harness's own values:
`_exported_run`) and given to `slsacheck provenance generate --run --child`.

Both documents must name the same subjects (repository and digest) and the same git
material (`git+<url>.git` with `{"sha1": <40-hex commit>}`) and the same `*ARTIFACT_INPUTS`
(none here). Where the modes legitimately differ, the difference is named and asserted.
A branch name as the "commit" is refused in the step (the task fails, nothing is
attached); the exported mode records it without a digest and warns, and `--strict` refuses.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from slsacheck.cli import main
from slsacheck.provenance.builders import GENERATOR_KEY, exported_builder_id
from slsacheck.provenance.tasks import TASKS_KEY
from tests.support.tekton_harness import PipelineRunResult
from tests.tekton._e2e_support import BUILDER, SOURCE_URL, Setup, load_pipeline, load_tasks, setup
from tests.tekton._exported_run import export, image_id, pipeline_part
from tests.tekton.test_pipeline_e2e import _attested

pytestmark = pytest.mark.timeout(300)
__all__ = ["setup"]  # the fixture, imported for pytest

BUILD_AND_ATTEST = ("fetch-source", "build-push", "attest-provenance")
BUILD_ONLY = ("fetch-source", "build-push")
_WARNING_CODE = re.compile(r"\[([a-z][a-z.-]*)\]$")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _run(setup: Setup, keep: tuple[str, ...], *, commit: str | None = None) -> tuple[
        dict[str, Any], PipelineRunResult, str, str]:
    pipeline = pipeline_part(load_pipeline(), keep)
    started = _now()
    run = setup.harness.run_pipeline(pipeline, load_tasks(), params=setup.params(), workspaces=setup.workspaces,
                                     stand_ins=setup.stand_ins(commit=commit))
    return pipeline, run, started, _now()


def _generate(folder: Path, run_file: Path, children: list[Path], *flags: str,
              capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any] | None, str]:
    """`slsacheck provenance generate --run ... --child ...`: exit code, statement, stderr."""
    out = folder / "statement.json"
    out.unlink(missing_ok=True)
    argv = ["provenance", "generate", "--run", str(run_file), "--output", str(out), *flags]
    for child in children:
        argv += ["--child", str(child)]
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    return code, json.loads(out.read_text()) if out.exists() else None, err


def _codes(stderr: str) -> set[str]:
    return {m.group(1) for line in stderr.splitlines() if line.startswith("warning: ")
            for m in [_WARNING_CODE.search(line)] if m}


def _deps(statement: dict[str, Any]) -> list[dict[str, Any]]:
    return list(statement["predicate"]["buildDefinition"].get("resolvedDependencies", []))


def test_in_step_and_exported_provenance_agree(setup: Setup, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    pipeline, run, started, finished = _run(setup, BUILD_AND_ATTEST)
    assert run.succeeded, run.log()
    assert [n for n, r in run.task_runs.items() if r.stood_in] == ["fetch-source", "build-push"]
    digest = run.task_runs["build-push"].results["IMAGE_DIGEST"]
    commit = run.task_runs["fetch-source"].results["commit"]
    repository = setup.image.rsplit(":", 1)[0]
    in_step = _attested(setup, f"{repository}@{digest}", "slsaprovenance1")
    assert len(in_step) == 1, in_step
    step = in_step[0]
    context = step["predicate"]["buildDefinition"]["internalParameters"]["tekton-context"]

    exported = export(pipeline, load_tasks(), run, setup.params(), started=started, finished=finished,
                      task_run_uids={"attest-provenance": context["task_run_uid"]})
    run_file, children = exported.write(tmp_path / "exported")
    code, whole, err = _generate(tmp_path, run_file, children, "--strict", capsys=capsys)
    assert code == 0, err
    assert whole is not None
    assert "warning:" not in err  # --strict passed: the exported objects are complete

    # The same subjects: one image, by repository (the tag the build pushed is not kept) and digest.
    subject = [{"name": repository, "digest": {"sha256": digest.removeprefix("sha256:")}}]
    assert step["subject"] == subject
    assert whole["subject"] == subject
    # The same git material, pinned by the 40-hex commit git-clone reported.
    assert re.fullmatch(r"[0-9a-f]{40}", commit)
    git = {"name": "inputs/result", "uri": f"git+{SOURCE_URL}", "digest": {"sha1": commit}}
    assert SOURCE_URL.endswith(".git")
    assert [d for d in _deps(step) if d["uri"].startswith("git+")] == [git]
    assert [d for d in _deps(whole) if d["uri"].startswith("git+")] == [git]
    # The same inputs: no Task here writes *ARTIFACT_INPUTS, so the git source is the only one.
    assert [d for d in _deps(step) if d.get("name") == "inputs/result"] == [git]
    assert [d for d in _deps(whole) if d.get("name") == "inputs/result"] == [git]
    assert step["predicate"]["buildDefinition"]["buildType"] == whole["predicate"]["buildDefinition"]["buildType"]
    # Each names who made it: the step, or the export (neither claims to be Chains).
    assert step["predicate"]["runDetails"]["builder"] == {"id": BUILDER}
    assert whole["predicate"]["runDetails"]["builder"] == {"id": exported_builder_id()}

    # Difference 1, step images: the exported TaskRuns record every step's imageID, the step
    # knows only what its Task passes (--step-image; this Task passes none).
    tasks = load_tasks()
    fetch, build = ({p["name"]: p["value"] for p in t.get("params", [])}
                    for t in pipeline["spec"]["tasks"] if t["name"] in BUILD_ONLY)
    images = [fetch["gitInitImage"], build["BUILDER_IMAGE"],
              *(s["image"] for s in tasks["slsacheck-attest-provenance"]["spec"]["steps"])]
    expected_images = []
    for image in images:
        repo, _, hex_digest = image_id(image).partition("@sha256:")
        expected_images.append({"uri": f"oci://{repo}", "digest": {"sha256": hex_digest}})
    assert [d for d in _deps(whole) if d["uri"].startswith("oci://")] == expected_images
    assert not [d for d in _deps(step) if d["uri"].startswith("oci://")]
    assert _deps(step) == [git]

    # Difference 2, the run's parameters: exported, the PipelineRun's spec as the user gave it
    # (defaults stay in pipelineSpec); in the step, the BUILD_PARAMS the Pipeline passes the Task,
    # defaults resolved, and only those. Every value the step records is the run's value.
    whole_spec = whole["predicate"]["buildDefinition"]["externalParameters"]["runSpec"]
    assert whole_spec == exported.pipeline_run["spec"]
    given = {p["name"]: p["value"] for p in whole_spec["params"]}
    defaults = {p["name"]: p["default"] for p in pipeline["spec"]["params"] if "default" in p}
    step_params = step["predicate"]["buildDefinition"]["externalParameters"]["runSpec"]
    assert list(step_params) == ["params"]
    assert step_params["params"], step_params
    for param in step_params["params"]:
        assert param["value"] == given.get(param["name"], defaults.get(param["name"])), param
    assert {p["name"] for p in step_params["params"]} - set(given) == {"dockerfile-path", "context-path"}
    assert set(given) - {p["name"] for p in step_params["params"]} == {"promote-to"}

    # Difference 3, the invocation: exported, the PipelineRun's UID; in the step, its own
    # TaskRun's UID, with the PipelineRun it belongs to recorded in internalParameters.
    assert whole["predicate"]["runDetails"]["metadata"]["invocationId"] == run.uid
    assert step["predicate"]["runDetails"]["metadata"]["invocationId"] == context["task_run_uid"]
    assert context == {
        "namespace": "default",
        "pipeline_run_name": run.name,
        "pipeline_run_uid": run.uid,
        "pipeline_task": "build-push",
        "task_name": "slsacheck-attest-provenance",
        "task_run_name": run.task_runs["attest-provenance"].name,
        "task_run_uid": context["task_run_uid"],
    }
    # The export has no featureFlags; slsacheck records how it was made and the pipeline's tasks.
    internal = whole["predicate"]["buildDefinition"]["internalParameters"]
    assert set(internal) == {GENERATOR_KEY, TASKS_KEY}
    assert [(t["name"], t["status"]) for t in internal[TASKS_KEY]] == [
        (name, "succeeded") for name in run.task_runs
    ]

    # Difference 4, times: the exported run has both; the attest step records its own clock
    # as the build's finish (the build steps ran before it, so it is no earlier than the
    # build's end and no later than the run's), and the Pipeline passes no BUILD_STARTED_ON.
    assert whole["predicate"]["runDetails"]["metadata"] == {
        "invocationId": run.uid, "startedOn": started, "finishedOn": finished}
    step_times = step["predicate"]["runDetails"]["metadata"]
    assert set(step_times) == {"invocationId", "finishedOn"}
    assert started <= step_times["finishedOn"] <= finished

    # Difference 5, byproducts: the step's (its own non-subject results) are among the
    # exported ones, which add the PipelineRun's results and the other TaskRuns'.
    step_products = step["predicate"]["runDetails"]["byproducts"]
    whole_products = whole["predicate"]["runDetails"]["byproducts"]
    attest_run = run.task_runs["attest-provenance"].name
    assert [b["name"] for b in step_products] == [
        f"taskRunResults/{attest_run}/CHAINS-GIT_COMMIT", f"taskRunResults/{attest_run}/CHAINS-GIT_URL"]
    assert all(b in whole_products for b in step_products)
    assert {b["name"] for b in whole_products} - {b["name"] for b in step_products} == {
        f"pipelineRunResults/{run.name}/CHAINS-GIT_URL",
        f"pipelineRunResults/{run.name}/CHAINS-GIT_COMMIT",
        *(f"taskRunResults/{run.task_runs['fetch-source'].name}/{r}" for r in ("commit", "url", "committer-date")),
    }


def test_branch_name_as_commit(setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """git-clone reporting `main` as its commit: the step refuses; the exported mode records
    the source without a digest and warns, and refuses under --strict."""
    pipeline, run, started, finished = _run(setup, BUILD_AND_ATTEST, commit="main")
    assert not run.succeeded
    attest = run.task_runs["attest-provenance"]
    assert not attest.succeeded
    assert "'main' is not a full commit SHA" in attest.log, attest.log
    digest = run.task_runs["build-push"].results["IMAGE_DIGEST"]
    pinned = f"{setup.image.rsplit(':', 1)[0]}@{digest}"
    none = setup.slsacheck("verify-attestation", "--key", str(setup.pub), "--type", "slsaprovenance1", pinned)
    assert none.returncode == 1, none.stdout + none.stderr  # strict: refused before anything was written

    run_file, children = export(pipeline, load_tasks(), run, setup.params(), started=started,
                                finished=finished).write(tmp_path / "failed")
    code, statement, err = _generate(tmp_path, run_file, children, capsys=capsys)
    assert code == 2 and statement is None
    assert "failed" in err and "--allow-failed" in err, err
    # Described anyway (--allow-failed): the source is recorded unpinned, and said so.
    code, statement, err = _generate(tmp_path, run_file, children, "--allow-failed", capsys=capsys)
    assert code == 0, err
    assert statement is not None
    unpinned = {"name": "inputs/result", "uri": f"git+{SOURCE_URL}"}
    assert [d for d in _deps(statement) if d["uri"].startswith("git+")] == [unpinned]
    assert _codes(err) == {"run.not-succeeded", "git.commit"}, err
    assert "'main' is not a full commit SHA" in err
    code, statement, err = _generate(tmp_path, run_file, children, "--allow-failed", "--strict", capsys=capsys)
    assert code == 2 and statement is None
    assert "[git.commit]" in err, err

    # The build part alone succeeds (nothing in it checks the commit), as a run a controller
    # would describe: the commit is then the only problem, and --strict refuses for it alone.
    pipeline, run, started, finished = _run(setup, BUILD_ONLY, commit="main")
    assert run.succeeded, run.log()
    assert run.results["CHAINS-GIT_COMMIT"] == "main"
    run_file, children = export(pipeline, load_tasks(), run, setup.params(), started=started,
                                finished=finished).write(tmp_path / "build-only")
    code, statement, err = _generate(tmp_path, run_file, children, capsys=capsys)
    assert code == 0, err
    assert statement is not None
    assert [d for d in _deps(statement) if d["uri"].startswith("git+")] == [unpinned]
    assert statement["subject"][0]["digest"] == {"sha256": digest.removeprefix("sha256:")}
    assert _codes(err) == {"git.commit"}, err
    code, statement, err = _generate(tmp_path, run_file, children, "--strict", capsys=capsys)
    assert code == 2 and statement is None
    assert "provenance refused in strict mode: 1 problem(s)" in err and "[git.commit]" in err, err
