"""Provenance generation: bad input refused clearly, warnings where Chains is silent,
in-step mode equal to exported-run mode, v0.2, determinism, the CLI."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from slsacheck.cli import main
from slsacheck.models import Digest, Statement
from slsacheck.provenance.findings import ProvenanceRefused, RunError
from slsacheck.provenance.generate import Generated, Options, generate, generate_from_files
from slsacheck.provenance.instep import StepContext, generate_in_step, parse_param, read_result_dir
from slsacheck.provenance.runs import load_runs, parse_run

D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64
STEP = "docker-pullable://registry.example.com/tools/buildah@sha256:" + "c" * 64
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def taskrun(results: list[dict[str, Any]] | None = None, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "metadata": {"name": "build-1", "uid": "uid-1", "labels": {"app": "demo"}},
        "spec": {
            "params": [
                {"name": "CHAINS-GIT_URL", "value": "https://git.example.com/team/app"},
                {"name": "CHAINS-GIT_COMMIT", "value": COMMIT},
            ],
            "taskRef": {"name": "build", "kind": "Task"},
        },
        "status": {
            "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}],
            "startTime": "2026-03-01T10:00:00Z",
            "completionTime": "2026-03-01T10:02:00+00:00",
            "steps": [{"name": "build", "imageID": STEP}],
            "results": results
            if results is not None
            else [
                {"name": "IMAGE_URL", "value": "registry.example.com/team/app:1.0\n"},
                {"name": "IMAGE_DIGEST", "value": D1 + "\n"},
            ],
            "taskSpec": {"steps": [{"name": "build", "image": "registry.example.com/tools/buildah", "script": "b"}]},
        },
    }
    for key, value in changes.items():
        doc[key] = value
    return doc


def gen(doc: dict[str, Any], **options: Any) -> Generated:
    return generate(parse_run(doc, "test"), (), Options(**options))


def codes(generated: Generated) -> list[str]:
    return [w.code for w in generated.warnings]


def write(tmp_path: Path, name: str, doc: object, *, as_yaml: bool = False) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc) if as_yaml else json.dumps(doc), encoding="utf-8")
    return path


# -- the happy path -------------------------------------------------------------------


def test_a_taskrun_gives_a_clean_statement() -> None:
    generated = gen(taskrun())
    assert generated.warnings == ()
    statement = generated.statement
    assert [(s.name, dict(s.digest)) for s in statement.subjects] == [
        ("registry.example.com/team/app", {"sha256": "a" * 64})
    ]
    assert statement.names_digest(Digest.parse(D1))
    predicate = statement.predicate
    assert predicate["runDetails"]["metadata"] == {
        "invocationId": "uid-1",
        "startedOn": "2026-03-01T10:00:00Z",
        "finishedOn": "2026-03-01T10:02:00Z",
    }
    assert predicate["buildDefinition"]["resolvedDependencies"] == [
        {"uri": "oci://registry.example.com/tools/buildah", "digest": {"sha256": "c" * 64}},
        {"name": "inputs/result", "uri": "git+https://git.example.com/team/app.git", "digest": {"sha1": COMMIT}},
    ]


def test_generating_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    run = write(tmp_path, "run.json", taskrun())
    first = generate_from_files(run).statement.to_bytes()
    second = generate_from_files(run).statement.to_bytes()
    assert first == second
    assert first.startswith(b'{"_type":"https://in-toto.io/Statement/v1","subject":')
    out1, out2 = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["provenance", "generate", "--run", str(run), "--output", str(out1)]) == 0
    assert main(["provenance", "generate", "--run", str(run), "--output", str(out2)]) == 0
    assert out1.read_bytes() == out2.read_bytes()
    assert Statement.from_json(out1.read_bytes()).to_bytes() == first


def test_yaml_and_v1beta1_spellings_read_the_same(tmp_path: Path) -> None:
    doc = taskrun()
    doc["apiVersion"] = "tekton.dev/v1beta1"
    doc["status"]["taskResults"] = doc["status"].pop("results")
    generated = generate_from_files(write(tmp_path, "run.yaml", doc, as_yaml=True))
    assert [s.name for s in generated.statement.subjects] == ["registry.example.com/team/app"]


def test_a_list_holds_the_pipelinerun_and_its_taskruns(tmp_path: Path) -> None:
    child = taskrun()
    child["metadata"]["labels"] = {"tekton.dev/pipelineTask": "build", "tekton.dev/pipelineRun": "pr-1"}
    pipeline = {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"name": "pr-1", "uid": "uid-pr"},
        "spec": {"pipelineRef": {"name": "p"}},
        "status": {
            "conditions": [{"type": "Succeeded", "status": "True"}],
            "startTime": "2026-03-01T10:00:00Z",
            "completionTime": "2026-03-01T10:03:00Z",
            "pipelineSpec": {"tasks": [{"name": "build", "taskRef": {"name": "build"}}]},
            "childReferences": [{"kind": "TaskRun", "name": "build-1"}],
        },
    }
    path = write(tmp_path, "all.yaml", {"apiVersion": "v1", "kind": "List", "items": [child, pipeline]}, as_yaml=True)
    generated = generate_from_files(path)
    assert generated.statement.predicate["runDetails"]["metadata"]["invocationId"] == "uid-pr"
    assert [s.name for s in generated.statement.subjects] == ["registry.example.com/team/app"]  # deep inspection
    with pytest.raises(RunError, match="PipelineRun pr-1 declares no artifact"):
        generate_from_files(path, options=Options(deep_inspection=False))  # no pipeline-level hints


def test_a_child_of_another_pipelinerun_is_refused(tmp_path: Path) -> None:
    child = taskrun()
    child["metadata"]["labels"] = {"tekton.dev/pipelineTask": "build", "tekton.dev/pipelineRun": "other"}
    pipeline = {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"name": "pr-1", "uid": "u"},
        "spec": {},
        "status": {
            "conditions": [{"type": "Succeeded", "status": "True"}],
            "completionTime": "2026-03-01T10:03:00Z",
            "pipelineSpec": {"tasks": [{"name": "build"}]},
        },
    }
    with pytest.raises(RunError, match=r"is labelled tekton\.dev/pipelineRun=other, not pr-1"):
        generate_from_files(write(tmp_path, "pr.json", pipeline), [write(tmp_path, "tr.json", child)])


# -- bad input: each refused with a clear message -------------------------------------


def test_yaml_that_is_not_a_run(tmp_path: Path) -> None:
    task = {"apiVersion": "tekton.dev/v1", "kind": "Task", "metadata": {"name": "build"}, "spec": {"steps": []}}
    with pytest.raises(RunError, match=r"not a Tekton run: kind 'Task' \(build\)") as info:
        load_runs(write(tmp_path, "task.yaml", task, as_yaml=True))
    assert "kubectl get taskrun|pipelinerun" in (info.value.hint or "")
    with pytest.raises(RunError, match="not a Tekton run"):
        load_runs(write(tmp_path, "list.yaml", ["a", "b"], as_yaml=True))
    (tmp_path / "broken.yaml").write_text("kind: TaskRun\n  bad: [\n")
    with pytest.raises(RunError, match="not valid YAML"):
        load_runs(tmp_path / "broken.yaml")


def test_a_run_without_status() -> None:
    doc = taskrun()
    del doc["status"]
    with pytest.raises(RunError, match="TaskRun build-1 has no status"):
        parse_run(doc)


def test_an_unknown_api_version() -> None:
    with pytest.raises(RunError, match=r"unknown apiVersion 'tekton\.dev/v2'") as info:
        parse_run(taskrun(apiVersion="tekton.dev/v2"))
    assert info.value.expected == "tekton.dev/v1 or tekton.dev/v1beta1"


def test_a_failed_run_is_refused_unless_allowed() -> None:
    doc = taskrun()
    doc["status"]["conditions"] = [{"type": "Succeeded", "status": "False", "reason": "Failed"}]
    with pytest.raises(RunError, match=r"TaskRun build-1 failed \(reason Failed\)") as info:
        parse_run(doc)
    assert "--allow-failed" in (info.value.hint or "")
    generated = generate(parse_run(doc, allow_failed=True))
    assert codes(generated) == ["run.not-succeeded"]


def test_a_10_mb_result_value_is_refused(tmp_path: Path) -> None:
    doc = taskrun([{"name": "IMAGE_URL", "value": "x" * (10 * 1000 * 1000)}, {"name": "IMAGE_DIGEST", "value": D1}])
    with pytest.raises(RunError, match=r"result IMAGE_URL is 10\.0 MB, too large to be a Tekton result"):
        load_runs(write(tmp_path, "big.json", doc))


def test_a_hint_with_garbage_is_a_warning_and_strict_refuses() -> None:
    doc = taskrun(
        [
            {"name": "IMAGE_URL", "value": "registry.example.com/team/app"},
            {"name": "IMAGE_DIGEST", "value": D1},
            {"name": "SBOM_IMAGE_URL", "value": "registry.example.com/team/sbom"},
            {"name": "SBOM_IMAGE_DIGEST", "value": "sha256:not-hex-at-all"},
        ]
    )
    generated = gen(doc)
    assert codes(generated) == ["hint.digest"]
    assert "SBOM_IMAGE_URL/SBOM_IMAGE_DIGEST" in generated.warnings[0].where
    assert "'sha256:not-hex-at-all'" in generated.warnings[0].message
    assert [s.name for s in generated.statement.subjects] == ["registry.example.com/team/app"]
    with pytest.raises(ProvenanceRefused, match="strict mode: 1 problem") as info:
        gen(doc, strict=True)
    assert info.value.warnings == generated.warnings


def test_garbage_in_the_only_hint_leaves_nothing_to_describe() -> None:
    doc = taskrun([{"name": "IMAGE_URL", "value": "%%%"}, {"name": "IMAGE_DIGEST", "value": D1}])
    with pytest.raises(RunError, match="declares no artifact") as info:
        gen(doc)
    assert "not an image reference: '%%%'" in str(info.value)


def test_duplicate_hints() -> None:
    ref = f"registry.example.com/team/app@{D1}"
    doc = taskrun([{"name": "IMAGES", "value": f"{ref},\n{ref}"}, {"name": "IMAGES", "value": ref}])
    generated = gen(doc)
    assert codes(generated).count("hint.duplicate") == 2
    assert "the result is given twice" in [w.message for w in generated.warnings]
    assert len(generated.statement.subjects) == 1


def test_two_digests_for_one_image() -> None:
    doc = taskrun(
        [
            {"name": "IMAGE_URL", "value": "registry.example.com/team/app"},
            {"name": "IMAGE_DIGEST", "value": D1},
            {"name": "IMAGES", "value": f"registry.example.com/team/app@{D2}"},
        ]
    )
    generated = gen(doc)
    (warning,) = generated.warnings
    assert warning.code == "subject.conflict"
    assert warning.where == "registry.example.com/team/app"
    assert "a" * 64 in warning.message and "b" * 64 in warning.message
    with pytest.raises(ProvenanceRefused):
        gen(doc, strict=True)


def test_url_and_digest_results_that_disagree() -> None:
    doc = taskrun(
        [{"name": "IMAGE_URL", "value": f"registry.example.com/app@{D2}"}, {"name": "IMAGE_DIGEST", "value": D1}]
    )
    with pytest.raises(RunError, match="declares no artifact"):
        gen(doc)


def test_a_branch_name_is_not_a_commit() -> None:
    doc = taskrun()
    doc["spec"]["params"][1]["value"] = "main"
    generated = gen(doc)
    (warning,) = generated.warnings
    assert warning.code == "git.commit" and "'main' is not a full commit SHA" in warning.message
    deps = generated.statement.predicate["buildDefinition"]["resolvedDependencies"]
    assert deps[-1] == {"name": "inputs/result", "uri": "git+https://git.example.com/team/app.git"}
    with pytest.raises(ProvenanceRefused, match="CHAINS-GIT_COMMIT"):
        gen(doc, strict=True)


def test_a_tag_without_digest_is_not_a_subject() -> None:
    doc = taskrun([{"name": "IMAGES", "value": f"registry.example.com/a:1.0, registry.example.com/b@{D1}"}])
    generated = gen(doc)
    assert codes(generated) == ["hint.unpinned"]
    assert [s.name for s in generated.statement.subjects] == ["registry.example.com/b"]


def test_an_unpinned_step_image_is_recorded_unpinned() -> None:
    doc = taskrun()
    doc["status"]["steps"].append({"name": "push", "imageID": "registry.example.com/tools/push:latest"})
    generated = gen(doc)
    assert codes(generated) == ["step.unpinned"]
    deps = generated.statement.predicate["buildDefinition"]["resolvedDependencies"]
    assert {"uri": "oci://registry.example.com/tools/push:latest"} in deps


def test_subject_names_are_normalised_once() -> None:
    doc = taskrun(
        [
            {"name": "a-ARTIFACT_OUTPUTS", "value": {"uri": "abc", "digest": D1, "isBuildArtifact": "true"}},
            {"name": "IMAGES", "value": f"docker.io/library/abc@{D1}"},
        ]
    )
    assert [s.name for s in gen(doc).statement.subjects] == ["index.docker.io/library/abc"]


# -- SLSA v0.2 ------------------------------------------------------------------------


def test_v02_output() -> None:
    doc = taskrun(
        [
            {"name": "IMAGE_URL", "value": "registry.example.com/team/app"},
            {"name": "IMAGE_DIGEST", "value": D1},
            {"name": "ARTIFACT_URI", "value": "https://files.example.com/app.tgz"},
            {"name": "ARTIFACT_DIGEST", "value": D2},
        ]
    )
    statement = gen(doc, format="slsa-v0.2", builder_id="https://builder.example.com").statement
    data = statement.to_dict()
    assert data["_type"] == "https://in-toto.io/Statement/v0.1"
    assert data["predicateType"] == "https://slsa.dev/provenance/v0.2"
    assert [s["name"] for s in data["subject"]] == [
        "registry.example.com/team/app",
        "https://files.example.com/app.tgz",
    ]
    predicate = data["predicate"]
    assert predicate["builder"] == {"id": "https://builder.example.com"}
    assert predicate["buildType"] == "tekton.dev/v1/TaskRun"
    assert predicate["invocation"]["parameters"]["CHAINS-GIT_COMMIT"] == COMMIT
    assert predicate["invocation"]["environment"] == {"labels": {"app": "demo"}}
    assert predicate["buildConfig"]["steps"][0]["environment"]["image"] == STEP.replace("docker-pullable://", "oci://")
    assert predicate["materials"] == [
        {"uri": "oci://registry.example.com/tools/buildah", "digest": {"sha256": "c" * 64}},
        {"uri": "git+https://git.example.com/team/app.git", "digest": {"sha1": COMMIT}},
    ]
    assert predicate["metadata"]["buildFinishedOn"] == "2026-03-01T10:02:00Z"
    # In SLSA v1 (as in Chains v2alpha4) ARTIFACT_URI/ARTIFACT_DIGEST are byproducts, not subjects.
    v1 = gen(doc).statement
    assert [s.name for s in v1.subjects] == ["registry.example.com/team/app"]
    assert {b["name"] for b in v1.predicate["runDetails"]["byproducts"]} == {
        "taskRunResults/build-1/ARTIFACT_URI",
        "taskRunResults/build-1/ARTIFACT_DIGEST",
    }


# -- in-step mode ---------------------------------------------------------------------


def test_in_step_gives_the_same_subjects_and_git_materials_as_the_exported_run(tmp_path: Path) -> None:
    output = {"uri": "registry.example.com/team/sbom", "digest": D2, "isBuildArtifact": "true"}
    exported = taskrun(
        [
            {"name": "IMAGE_URL", "value": "registry.example.com/team/app:1.0\n"},
            {"name": "IMAGE_DIGEST", "value": D1 + "\n"},
            {"name": "sbom-ARTIFACT_OUTPUTS", "value": output},
            {"name": "src-ARTIFACT_INPUTS", "value": {"uri": "https://example.com/base.tgz", "digest": D2}},
        ]
    )
    from_run = gen(exported).statement
    results = tmp_path / "results"
    results.mkdir()
    (results / "IMAGE_URL").write_text("registry.example.com/team/app:1.0\n")
    (results / "IMAGE_DIGEST").write_text(D1 + "\n")
    (results / "sbom-ARTIFACT_OUTPUTS").write_text(json.dumps(output))
    (results / "src-ARTIFACT_INPUTS").write_text(json.dumps({"uri": "https://example.com/base.tgz", "digest": D2}))
    context = StepContext.from_values(
        {"task_run_name": "build-1"},
        {
            "SLSACHECK_TASKRUN_UID": "uid-1",
            "SLSACHECK_PIPELINERUN_NAME": "pr-1",
            "SLSACHECK_STARTED_ON": "2026-03-01T10:00:00Z",
        },
    )
    params = [
        parse_param(f"CHAINS-GIT_URL={exported['spec']['params'][0]['value']}"),
        parse_param(f"CHAINS-GIT_COMMIT={COMMIT}"),
    ]
    in_step = generate_in_step(context, params, read_result_dir(results), [f"build={STEP}"]).statement
    assert in_step.subjects == from_run.subjects

    def inputs(statement: Statement) -> list[dict[str, Any]]:
        deps = statement.predicate["buildDefinition"]["resolvedDependencies"]
        return [d for d in deps if d.get("name") == "inputs/result"]

    assert inputs(in_step) == inputs(from_run) and len(inputs(in_step)) == 2
    assert (
        in_step.predicate["buildDefinition"]["resolvedDependencies"]
        == from_run.predicate["buildDefinition"]["resolvedDependencies"]
    )
    assert in_step.predicate["runDetails"]["metadata"] == {"invocationId": "uid-1", "startedOn": "2026-03-01T10:00:00Z"}
    assert in_step.predicate["buildDefinition"]["internalParameters"]["tekton-context"] == {
        "pipeline_run_name": "pr-1",
        "task_run_name": "build-1",
        "task_run_uid": "uid-1",
    }


def test_in_step_bad_input(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="is not NAME=VALUE"):
        parse_param("CHAINS-GIT_URL")
    (tmp_path / "IMAGE_URL").write_text("x" * (2 << 20))
    with pytest.raises(RunError, match="too large to be a Tekton result"):
        read_result_dir(tmp_path)
    with pytest.raises(RunError, match="cannot read the result directory"):
        read_result_dir(tmp_path / "absent")


# -- the CLI --------------------------------------------------------------------------


def test_cli_generate_writes_the_statement_and_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = taskrun()
    doc["spec"]["params"][1]["value"] = "v1.2.3"
    run = write(tmp_path, "run.json", doc)
    assert main(["provenance", "generate", "--run", str(run), "--builder-id", "https://ci.example.com/b"]) == 0
    out, err = capsys.readouterr()
    statement = Statement.from_json(out)
    assert statement.predicate["runDetails"]["builder"]["id"] == "https://ci.example.com/b"
    assert err.startswith("warning: TaskRun build-1 param CHAINS-GIT_COMMIT: 'v1.2.3' is not a full commit SHA")
    assert main(["provenance", "generate", "--run", str(run), "--strict"]) == 2
    assert "provenance refused in strict mode" in capsys.readouterr().err


def test_cli_generate_in_step_reads_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "IMAGES").write_text(f"registry.example.com/team/app@{D1}")
    monkeypatch.setenv("SLSACHECK_PIPELINERUN_UID", "pr-uid-9")
    monkeypatch.setenv("SLSACHECK_FINISHED_ON", "2026-03-01T11:00:00+01:00")
    assert main(["provenance", "generate", "--result-dir", str(tmp_path), "--format", "slsa-v1"]) == 0
    statement = Statement.from_json(capsys.readouterr().out)
    metadata = statement.predicate["runDetails"]["metadata"]
    assert metadata == {"invocationId": "pr-uid-9", "finishedOn": "2026-03-01T10:00:00Z"}
    assert main(["provenance", "generate"]) == 2
    assert "nothing to describe" in capsys.readouterr().err
    assert main(["provenance", "generate", "--run", "x.json", "--param", "A=b"]) == 2
    assert "--param is for the in-step mode" in capsys.readouterr().err


def test_cli_reports_a_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["provenance", "generate", "--run", str(tmp_path / "nope.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_v02_statement_roundtrips_through_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = write(tmp_path, "run.json", taskrun())
    out = tmp_path / "v02.json"
    assert main(["provenance", "generate", "--run", str(run), "--format", "slsa-v0.2", "-o", str(out)]) == 0
    assert main(["provenance", "validate", str(out)]) == 0
    assert "valid https://slsa.dev/provenance/v0.2 (1 subject(s))" in capsys.readouterr().out
    data = json.loads(out.read_text())
    broken = copy.deepcopy(data)
    del broken["predicate"]["builder"]
    (tmp_path / "broken.json").write_text(json.dumps(broken, indent=2))
    assert main(["provenance", "validate", str(tmp_path / "broken.json")]) == 2
    assert "missing field: expected builder, found no such field" in capsys.readouterr().err


def test_unquoted_yaml_times_stay_strings(tmp_path: Path) -> None:
    text = yaml.safe_dump(taskrun()).replace("'2026-03-01T10:00:00Z'", "2026-03-01T10:00:00Z")
    assert "startTime: 2026-03-01T10:00:00Z" in text
    text = text.replace("taskRef:", "timeoutAt: 2026-03-01T11:00:00Z\n  taskRef:")
    (tmp_path / "run.yaml").write_text(text)
    statement = generate_from_files(tmp_path / "run.yaml").statement
    assert (
        statement.predicate["buildDefinition"]["externalParameters"]["runSpec"]["timeoutAt"] == "2026-03-01T11:00:00Z"
    )
    assert statement.predicate["runDetails"]["metadata"]["startedOn"] == "2026-03-01T10:00:00Z"


def test_an_output_whose_uri_pins_another_digest() -> None:
    value = {"uri": f"registry.example.com/a@{D2}", "digest": D1, "isBuildArtifact": "true"}
    doc = taskrun([{"name": "x-ARTIFACT_OUTPUTS", "value": value}, {"name": "IMAGES", "value": f"r.example/b@{D1}"}])
    generated = gen(doc)
    assert codes(generated) == ["hint.conflict"]
    assert [s.name for s in generated.statement.subjects] == ["r.example/b"]


def test_in_step_times_are_checked_and_named_by_their_flag() -> None:
    with pytest.raises(RunError, match=r"--started-on \(or \$SLSACHECK_STARTED_ON\) is not an RFC 3339 time"):
        generate_in_step(StepContext(started_on="yesterday"), [], [("IMAGES", f"r.example/b@{D1}")])


def test_v02_for_a_pipelinerun_lists_its_tasks() -> None:
    stray_doc = taskrun()
    stray_doc["metadata"]["name"] = "lint-1"
    stray_doc["metadata"]["labels"] = {"tekton.dev/pipelineTask": "lint", "tekton.dev/pipelineRun": "pr-1"}
    child = parse_run(stray_doc, "child")
    child_doc = taskrun()
    child_doc["metadata"]["labels"] = {"tekton.dev/pipelineTask": "build", "tekton.dev/pipelineRun": "pr-1"}
    pipeline = {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"name": "pr-1", "uid": "uid-pr"},
        "spec": {"params": [{"name": "x", "value": "1"}], "taskRunTemplate": {"serviceAccountName": "ci"}},
        "status": {
            "conditions": [{"type": "Succeeded", "status": "True"}],
            "startTime": "2026-03-01T10:00:00Z",
            "completionTime": "2026-03-01T10:03:00Z",
            "pipelineSpec": {
                "tasks": [
                    {"name": "clone", "taskRef": {"name": "git-clone"}},
                    {
                        "name": "build",
                        "taskRef": {"name": "build"},
                        "params": [{"name": "c", "value": "$(tasks.clone.results.commit)"}],
                    },
                ]
            },
            "childReferences": [{"kind": "TaskRun", "name": "build-1"}, {"kind": "TaskRun", "name": "lint-1"}],
        },
    }
    # A listed child whose pipelineTask label names no task of the pipeline...
    generated = generate(parse_run(pipeline), [child, parse_run(child_doc)], Options(format="slsa-v0.2"))
    assert codes(generated) == ["child.unmatched"]  # ...and is reported, not guessed
    predicate = generated.statement.predicate
    assert predicate["buildType"] == "tekton.dev/v1/PipelineRun"
    (task,) = predicate["buildConfig"]["tasks"]
    assert task["name"] == "build" and task["after"] == ["clone"] and task["serviceAccountName"] == "ci"
    assert task["status"] == "Succeeded" and task["ref"] == {"name": "build"}
    assert predicate["invocation"]["parameters"] == {"x": "1"}
    assert [s.name for s in generated.statement.subjects] == ["registry.example.com/team/app"]


def test_cli_context_flags_match_the_documented_environment() -> None:
    from slsacheck.cli.provenance_commands import _CONTEXT_FLAGS
    from slsacheck.provenance.instep import ENVIRONMENT

    assert {dest: env for _, dest, env, _ in _CONTEXT_FLAGS} == ENVIRONMENT


def test_cli_predicate_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = write(tmp_path, "run.json", taskrun())
    assert main(["provenance", "generate", "--run", str(run), "--predicate-only"]) == 0
    predicate = json.loads(capsys.readouterr().out)
    assert predicate == gen(taskrun()).statement.to_dict()["predicate"]


def test_the_same_output_hinted_twice_is_one_subject() -> None:
    value = {"uri": "registry.example.com/a:1", "digest": D1, "isBuildArtifact": "true"}
    doc = taskrun(
        [
            {"name": "x-ARTIFACT_OUTPUTS", "value": value},
            {"name": "y-ARTIFACT_OUTPUTS", "value": value},
            {"name": "IMAGES", "value": f"registry.example.com/a@{D1}"},
        ]
    )
    generated = gen(doc)
    assert [(s.name, dict(s.digest)) for s in generated.statement.subjects] == [
        ("registry.example.com/a", {"sha256": "a" * 64})
    ]
    assert generated.warnings == ()


def test_a_remote_task_and_step_action_are_recorded_as_config_sources() -> None:
    doc = taskrun()
    doc["spec"]["taskRef"] = {"resolver": "git", "params": [{"name": "url", "value": "https://git.example.com/cat"}]}
    ref = {"uri": "git+https://git.example.com/cat.git", "digest": {"sha1": COMMIT}, "entryPoint": "task/build.yaml"}
    doc["status"]["provenance"] = {"refSource": ref, "featureFlags": {"EnableStepActions": True, "Coschedule": ""}}
    doc["status"]["steps"][0]["provenance"] = {"refSource": {**ref, "entryPoint": "stepaction/push.yaml"}}
    generated = gen(doc)
    assert generated.warnings == ()
    definition = generated.statement.predicate["buildDefinition"]
    assert definition["externalParameters"]["buildConfigSource"] == {
        "ref": f"sha1:{COMMIT}",
        "repository": "git+https://git.example.com/cat.git",
        "path": "task/build.yaml",
    }
    assert definition["internalParameters"] == {
        "tekton-pipelines-feature-flags": {"enableStepActions": True},
        "slsacheck.dev/generator": {"mode": "exported-run"},
    }
    names = [d.get("name") for d in definition["resolvedDependencies"]]
    assert names == ["task", None, "stepAction/build", "inputs/result"]  # the same ref twice: both kept
