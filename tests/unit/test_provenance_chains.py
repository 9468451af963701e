"""slsacheck's SLSA v1 statements against Tekton Chains' expected v2alpha4 statements.

Fixtures are read from the shared folder (`anchors/chains/`, see its README), never copied:
- the `taskrun1` / `pipelinerun1` unit inputs against the hand-TRANSCRIBED expectations;
- the `examples/` runs, completed here as the cluster would complete them (the defaults
  Tekton's webhook adds, a status with results, step image IDs, times and a UID), against
  the rendered `test/testdata/slsa/v2alpha4` templates.

Fields are compared one by one. Where slsacheck is deliberately different, the test names
the difference and asserts slsacheck's behaviour instead:
- MALFORMED_DIGEST: Chains records refSource digests like `{"sha1": "ab123"}` and git
  commits like `{"sha1": "taskrun"}`; slsacheck records the dependency without the digest
  and warns (`ref.digest`, `git.commit`).
- ONE_NAME: Chains lists `abc` and `index.docker.io/library/abc` for one artifact;
  slsacheck lists it once, normalised.
- SILENT_DROP: Chains drops a hint with a bad digest without a word; slsacheck warns.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from slsacheck.errors import Error
from slsacheck.provenance.documents import read_documents
from slsacheck.provenance.generate import Generated, Options, generate
from slsacheck.provenance.runs import Run, parse_run
from tests.support.env import shared_file

CHAINS = "anchors/chains"
# What Chains writes, byte for byte: its builder id and nothing of slsacheck's own.
AS_CHAINS = Options(reproduce_chains=True)
UNIT = "pkg__chains__formats__slsa__testdata__slsa-v2alpha4__{}.json"


def _fixture(name: str) -> Path:
    return shared_file(CHAINS, name)


def _unit_run(name: str) -> Run:
    (doc,) = read_documents(_fixture(UNIT.format(name)))
    return parse_run(doc, name)


def _transcribed(name: str) -> dict[str, Any]:
    data = json.loads(_fixture(f"TRANSCRIBED__slsa-v2alpha4__{name}.json").read_text())
    assert data["_transcribed"] is True
    return dict(data["expected"])


def _codes(generated: Generated) -> list[str]:
    return [w.code for w in generated.warnings]


def _is_well_formed(digest: dict[str, str]) -> bool:
    lengths = {"sha1": 40, "sha256": 64, "sha512": 128}
    return all(re.fullmatch(f"[0-9a-f]{{{lengths.get(k, 0)}}}", v) for k, v in digest.items())


def _expected_dependency(dep: dict[str, Any]) -> dict[str, Any]:
    """MALFORMED_DIGEST: what slsacheck writes for an entry Chains writes with a bad digest."""
    if "digest" in dep and not _is_well_formed(dep["digest"]):
        return {k: v for k, v in dep.items() if k != "digest"}
    return dep


# -- unit fixtures against the transcribed statements ---------------------------------


def test_taskrun1_matches_chains_field_by_field() -> None:
    expected = _transcribed("taskrun1.expected")
    generated = generate(_unit_run("taskrun1"), options=Options(builder_id="test_builder-1", reproduce_chains=True))
    got = generated.statement.to_dict()
    assert got["_type"] == expected["_type"]
    assert got["predicateType"] == expected["predicateType"]
    assert got["subject"] == expected["subject"]  # upstream compares this test in exact order
    bd, exp_bd = got["predicate"]["buildDefinition"], expected["predicate"]["buildDefinition"]
    assert bd["buildType"] == exp_bd["buildType"] == "https://tekton.dev/chains/v2/slsa"
    assert bd["externalParameters"] == exp_bd["externalParameters"]
    # PascalCase feature flags in the input come out with Tekton's JSON names, as in Go.
    assert bd["internalParameters"] == exp_bd["internalParameters"]
    assert bd["resolvedDependencies"] == [_expected_dependency(d) for d in exp_bd["resolvedDependencies"]]
    rd, exp_rd = got["predicate"]["runDetails"], expected["predicate"]["runDetails"]
    assert rd["builder"] == exp_rd["builder"] == {"id": "test_builder-1"}
    assert rd["metadata"] == exp_rd["metadata"]
    assert rd["byproducts"] == exp_rd["byproducts"]  # base64 of Go's json.Marshal, byte for byte


def test_taskrun1_malformed_digests_are_warnings_not_digests() -> None:
    generated = generate(_unit_run("taskrun1"), options=Options(builder_id="test_builder-1", reproduce_chains=True))
    by_code = {w.code: w for w in generated.warnings}
    assert "sha1:ab123" in by_code["ref.digest"].message  # MALFORMED_DIGEST: the task's refSource
    assert "'taskrun'" in by_code["git.commit"].message  # MALFORMED_DIGEST: CHAINS-GIT_COMMIT param
    assert "run.no-kind" in by_code  # the unit fixture has no apiVersion/kind


def _child_of(name: str, run: Run) -> Run:
    """A unit fixture as the controller labels it: Chains' unit inputs leave the
    `tekton.dev/pipelineRun` label out, and slsacheck accepts no child without it."""
    child = _unit_run(name)
    return replace(child, labels={**child.labels, "tekton.dev/pipelineRun": run.name})


def _pipelinerun1(deep: bool) -> Generated:
    run = _unit_run("pipelinerun1")
    children = (_child_of("taskrun1", run), _child_of("taskrun2", run))
    return generate(run, children, Options(builder_id="test_builder-1", deep_inspection=deep, reproduce_chains=True))


def _unordered(items: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(i, sort_keys=True) for i in items)


def test_pipelinerun1_without_deep_inspection_matches_chains() -> None:
    expected = _transcribed("pipelinerun1.expected-no-deep-inspection")
    generated = _pipelinerun1(deep=False)
    got = generated.statement.to_dict()
    assert got["_type"] == expected["_type"]
    assert got["predicateType"] == expected["predicateType"]
    # ONE_NAME: Chains' three subjects are two artifacts; `abc` is written once, normalised.
    expected_names = {"index.docker.io/library/abc" if s["name"] == "abc" else s["name"] for s in expected["subject"]}
    assert [s["name"] for s in got["subject"]] == ["index.docker.io/library/abc", "test.io/test/image"]
    assert {s["name"] for s in got["subject"]} == expected_names
    assert {json.dumps(s["digest"]) for s in got["subject"]} == {json.dumps(s["digest"]) for s in expected["subject"]}
    bd, exp_bd = got["predicate"]["buildDefinition"], expected["predicate"]["buildDefinition"]
    assert bd["buildType"] == exp_bd["buildType"]
    assert bd["externalParameters"] == exp_bd["externalParameters"]
    assert bd["internalParameters"] == exp_bd["internalParameters"] == {}
    # Upstream compares dependencies order-insensitively; slsacheck also keeps Chains' order.
    exp_deps = [_expected_dependency(d) for d in exp_bd["resolvedDependencies"]]
    assert _unordered(bd["resolvedDependencies"]) == _unordered(exp_deps)
    assert bd["resolvedDependencies"] == exp_deps
    rd, exp_rd = got["predicate"]["runDetails"], expected["predicate"]["runDetails"]
    assert rd["builder"] == exp_rd["builder"]
    assert rd["metadata"] == exp_rd["metadata"]
    assert _unordered(rd["byproducts"]) == _unordered(exp_rd["byproducts"])


def test_pipelinerun1_reports_what_chains_drops_silently() -> None:
    generated = _pipelinerun1(deep=False)
    messages = {(w.code, w.where.split()[-1]) for w in generated.warnings}
    assert ("hint.digest", "img2-ARTIFACT_OUTPUTS") in messages  # SILENT_DROP: digest "sha256:"
    assert ("git.commit", "CHAINS-GIT_COMMIT") in messages  # MALFORMED_DIGEST: commit "abcd"
    assert sum(w.code == "ref.digest" for w in generated.warnings) == 3  # pipeline + 2 pipelineTask refs
    subjects = {s.name for s in generated.statement.subjects}
    assert "def" not in subjects and "index.docker.io/library/def" not in subjects


def test_pipelinerun1_with_deep_inspection_adds_the_childrens_artifacts() -> None:
    got = _pipelinerun1(deep=True).statement.to_dict()
    names = [s["name"] for s in got["subject"]]
    # Pipeline-level subjects first, then each child's, as Chains' v2alpha4 orders them.
    assert names == [
        "index.docker.io/library/abc",
        "test.io/test/image",
        "gcr.io/my/image/fromstep3",
        "gcr.io/my/image",
    ]
    byproducts = {b["name"] for b in got["predicate"]["runDetails"]["byproducts"]}
    assert "stepResults/taskrun-build/step1_result1" in byproducts
    assert "taskRunResults/git-clone/some-uri" in byproducts
    assert "stepResults/taskrun-build/step3_result1-ARTIFACT_OUTPUTS" not in byproducts  # a subject
    deps = got["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert {
        "name": "inputs/result",
        "uri": "https://github.com/tektoncd/pipeline",
        "digest": {"sha1": "7f2f46e1b97df36b2b82d1b1d87c81b8b3d21601"},
    } in deps
    # MALFORMED_DIGEST: Chains adds sha1 'sha:taskdefault', 'taskrun' and 'abcd' for one git URL.
    git = [d for d in deps if d["uri"] == "git+https://git.test.com.git"]
    assert git == [{"name": "inputs/result", "uri": "git+https://git.test.com.git"}]


# -- e2e examples against the rendered templates --------------------------------------

STEP_DIGEST = "sha256:" + "1" * 64
UID = "5e1f2b7c-0000-4000-8000-00000000abcd"
START, FINISH = "2026-01-02T03:04:05Z", "2026-01-02T03:05:06Z"


def _render(template: str, *, uri_digests: list[tuple[str, str]], name: str) -> dict[str, Any]:
    """Go text/template, for the placeholders Chains' e2e templates use."""

    def each(match: re.Match[str]) -> str:
        body = match.group(1)
        return "".join(body.replace("{{.URI}}", u).replace("{{.Digest}}", d) for u, d in uri_digests)

    text = re.sub(r"\{\{range \.URIDigest\}\}(.*?)\{\{end\}\}", each, template, flags=re.S)
    for placeholder, value in {
        "{{.UID}}": UID,
        "{{index .BuildStartTimes 0}}": START,
        "{{index .BuildFinishedTimes 0}}": FINISH,
        "{{.PipelineStartedOn}}": START,
        "{{.PipelineFinishedOn}}": FINISH,
        "{{.TektonObjectName}}": name,
    }.items():
        text = text.replace(placeholder, value)
    assert "{{" not in text
    return dict(json.loads(text))


def _defaulted_task_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """What Tekton's webhook adds to an inline taskSpec."""
    spec = copy.deepcopy(spec)
    for step in spec.get("steps", []):
        step.setdefault("computeResources", {})
    for result in spec.get("results", []):
        result.setdefault("type", "string")
        for prop in result.get("properties", {}).values():
            prop.setdefault("type", "string")
    return spec


def _completed(doc: dict[str, Any], results: list[dict[str, Any]], image: str) -> dict[str, Any]:
    """An example TaskRun as `kubectl get -o json` shows it once it succeeded."""
    doc = copy.deepcopy(doc)
    doc["metadata"]["uid"] = UID
    doc["spec"]["serviceAccountName"] = doc["spec"].get("serviceAccountName") or "default"
    doc["spec"].setdefault("timeout", "1h0m0s")
    doc["spec"]["taskSpec"] = _defaulted_task_spec(doc["spec"]["taskSpec"])
    steps = doc["spec"]["taskSpec"]["steps"]
    doc["status"] = {
        "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}],
        "startTime": START,
        "completionTime": FINISH,
        "steps": [{"name": s["name"], "container": f"step-{s['name']}", "imageID": image} for s in steps],
        "results": results,
        "taskSpec": doc["spec"]["taskSpec"],
    }
    return doc


def _example(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load(_fixture(name).read_text()))


def _template(name: str) -> str:
    return _fixture(f"test__testdata__slsa__v2alpha4__{name}.json").read_text()


def _compare_example(got: dict[str, Any], want: dict[str, Any]) -> None:
    """Field by field; `internalParameters` is release-specific and skipped, as upstream does."""
    assert got["_type"] == want["_type"]
    assert got["predicateType"] == want["predicateType"]
    assert got["subject"] == want["subject"]
    bd, want_bd = got["predicate"]["buildDefinition"], want["predicate"]["buildDefinition"]
    assert bd["buildType"] == want_bd["buildType"]
    assert bd["externalParameters"] == want_bd["externalParameters"]
    assert bd.get("resolvedDependencies") == [_expected_dependency(d) for d in want_bd["resolvedDependencies"]]
    rd, want_rd = got["predicate"]["runDetails"], want["predicate"]["runDetails"]
    assert rd["builder"] == want_rd["builder"] == {"id": "https://tekton.dev/chains/v2"}
    assert rd["metadata"] == want_rd["metadata"]
    assert rd.get("byproducts") == want_rd.get("byproducts")


def test_example_task_output_image() -> None:
    doc = _completed(
        _example("examples__taskruns__task-output-image.yaml"),
        [
            {"name": "IMAGE_URL", "type": "string", "value": "gcr.io/foo/bar\n"},
            {
                "name": "IMAGE_DIGEST",
                "type": "string",
                "value": "sha256:05f95b26ed10668b7183c1e2da98610e91372fa9f510046d4ce5812addad86b5\n",
            },
        ],
        f"docker.io/library/busybox@{STEP_DIGEST}",
    )
    generated = generate(parse_run(doc, "task-output-image"), options=AS_CHAINS)
    want = _render(
        _template("task-output-image"),
        uri_digests=[("oci://docker.io/library/busybox", STEP_DIGEST.removeprefix("sha256:"))],
        name=doc["metadata"]["name"],
    )
    _compare_example(generated.statement.to_dict(), want)
    assert generated.warnings == ()


def test_example_task_with_object_type_hinting() -> None:
    img1 = "sha256:586789aa031fafc7d78a5393cdc772e0b55107ea54bb8bcf3f2cdac6c6da51ee"
    img2 = "sha256:05f95b26ed10668b7183c1e2da98610e91372fa9f510046d4ce5812addad86b5"
    results = [
        {"name": "first-ARTIFACT_OUTPUTS", "type": "object", "value": {"uri": "gcr.io/foo/img1", "digest": img1}},
        {
            "name": "second-ARTIFACT_OUTPUTS",
            "type": "object",
            "value": {"uri": "gcr.io/foo/img2", "digest": img2, "isBuildArtifact": "true"},
        },
        {"name": "third-IMAGE_URL", "type": "string", "value": "gcr.io/foo/bar"},
        {"name": "third-IMAGE_DIGEST", "type": "string", "value": img2[:-1] + "6"},
        {
            "name": "IMAGES",
            "type": "string",
            "value": "gcr.io/test/img3@sha256:2996854378975c2f8011ddf0526975d1aaf1790b404da7aad4bf25293055bc8b",
        },
        {
            "name": "fourth-ARTIFACT_OUTPUTS",
            "type": "object",
            "value": {"uri": "gcr.io/test/img4", "digest": "sha256:basd-sha", "isBuildArtifact": "true"},
        },
    ]
    doc = _completed(
        _example("examples__v2alpha4__task-with-object-type-hinting.yaml"),
        results,
        f"docker.io/library/bash@{STEP_DIGEST}",
    )
    generated = generate(parse_run(doc, "object-type-hinting"), options=AS_CHAINS)
    want = _render(
        _template("task-with-object-type-hinting"),
        uri_digests=[("oci://docker.io/library/bash", STEP_DIGEST.removeprefix("sha256:"))],
        name=doc["metadata"]["name"],
    )
    _compare_example(generated.statement.to_dict(), want)
    # SILENT_DROP: Chains drops fourth-ARTIFACT_OUTPUTS ("sha256:basd-sha") without a word.
    assert [(w.code, w.where.split()[-1]) for w in generated.warnings] == [("hint.digest", "fourth-ARTIFACT_OUTPUTS")]


def _completed_pipeline(
    doc: dict[str, Any], task: str, results: list[dict[str, Any]], task_results: list[dict[str, Any]], image: str
) -> tuple[Run, Run]:
    """An example PipelineRun and its one TaskRun, as the cluster shows them when done."""
    doc = copy.deepcopy(doc)
    doc["metadata"].setdefault("name", doc["metadata"].get("generateName", "") + "x7k2p")
    doc["metadata"]["uid"] = UID
    spec = doc["spec"]
    spec["taskRunTemplate"] = {"serviceAccountName": "default"}
    spec["timeouts"] = {"pipeline": "1h0m0s"}
    for declared in spec["pipelineSpec"].get("results", []):
        declared.setdefault("description", "")
    for pipeline_task in spec["pipelineSpec"]["tasks"]:
        task_spec = _defaulted_task_spec(pipeline_task["taskSpec"])
        task_spec.update({"metadata": {}, "spec": None})
        pipeline_task["taskSpec"] = task_spec
    doc["status"] = {
        "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}],
        "startTime": START,
        "completionTime": FINISH,
        "pipelineSpec": spec["pipelineSpec"],
        "results": results,
        "childReferences": [{"kind": "TaskRun", "name": f"{doc['metadata']['name']}-{task}", "pipelineTaskName": task}],
    }
    child_doc = {
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "metadata": {
            "name": f"{doc['metadata']['name']}-{task}",
            "uid": "child-uid",
            "labels": {"tekton.dev/pipelineRun": doc["metadata"]["name"], "tekton.dev/pipelineTask": task},
        },
        "spec": {"serviceAccountName": "default", "taskSpec": spec["pipelineSpec"]["tasks"][0]["taskSpec"]},
    }
    steps = spec["pipelineSpec"]["tasks"][0]["taskSpec"]["steps"]
    child_doc["status"] = {
        "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}],
        "startTime": START,
        "completionTime": FINISH,
        "steps": [{"name": s["name"], "imageID": image} for s in steps],
        "results": task_results,
    }
    return parse_run(doc, "pipeline"), parse_run(child_doc, "child")


def test_example_pipeline_output_image() -> None:
    url, digest = "gcr.io/foo/bar\n", "sha256:05f95b26ed10668b7183c1e2da98610e91372fa9f510046d4ce5812addad86b5\n"
    image = "distroless.dev/busybox@sha256:186312fcf3f381b5fc1dd80b1afc0d316f3ed39fb4add8ff900d1f0c7c49a92c"
    hinted = [{"name": "IMAGE_URL", "value": url}, {"name": "IMAGE_DIGEST", "value": digest}]
    run, child = _completed_pipeline(
        _example("examples__pipelineruns__pipeline-output-image.yaml"), "buildimage", hinted, hinted, image
    )
    generated = generate(run, [child], Options(deep_inspection=False, reproduce_chains=True))
    want = _render(
        _template("pipeline-output-image"),
        uri_digests=[("oci://distroless.dev/busybox", image.rsplit(":", 1)[1])],
        name=run.name,
    )
    _compare_example(generated.statement.to_dict(), want)
    # MALFORMED_DIGEST: the CHAINS-GIT_COMMIT param is "my-git-commit", not a commit SHA.
    assert [w.code for w in generated.warnings] == ["git.commit"]


def test_example_pipeline_with_object_type_hinting() -> None:
    digest = "sha256:586789aa031fafc7d78a5393cdc772e0b55107ea54bb8bcf3f2cdac6c6da51ee"
    out1 = {"uri": "gcr.io/foo/img1", "digest": digest, "isBuildArtifact": "true"}
    out2 = {"uri": "gcr.io/foo/img2", "digest": digest}
    run, child = _completed_pipeline(
        _example("examples__v2alpha4__pipeline-with-object-type-hinting.yaml"),
        "t1",
        [{"name": "output1-ARTIFACT_OUTPUTS", "value": out1}, {"name": "output2-ARTIFACT_OUTPUTS", "value": out2}],
        [{"name": "output1", "value": out1}, {"name": "output2", "value": out2}],
        f"docker.io/library/busybox@{STEP_DIGEST}",
    )
    generated = generate(run, [child], Options(deep_inspection=False, reproduce_chains=True))
    want = _render(
        _template("pipeline-with-object-type-hinting"),
        uri_digests=[("oci://docker.io/library/busybox", STEP_DIGEST.removeprefix("sha256:"))],
        name=run.name,
    )
    _compare_example(generated.statement.to_dict(), want)
    assert generated.warnings == ()


@pytest.mark.parametrize("name", ["task-output-image", "pipeline-output-image", "task-with-object-type-hinting"])
def test_chains_templates_themselves_pass_slsacheck_validation(name: str) -> None:
    """The rendered upstream documents are valid provenance by slsacheck's schemas too,
    except where they carry Chains' malformed git digests (pipeline-output-image)."""
    from slsacheck.provenance.validate import check

    want = _render(_template(name), uri_digests=[("oci://docker.io/library/busybox", "1" * 64)], name="x")
    problems = check(want)
    if name == "pipeline-output-image":
        assert [p.path[-1] for p in problems] == ["sha1"]  # {"sha1": "my-git-commit"}
    else:
        assert problems == []


def test_pipelinerun1_alone_falls_back_to_its_embedded_taskruns() -> None:
    """Not a Chains behaviour (Chains reads child TaskRuns from the API): an old-style export
    embeds its TaskRuns' status, which slsacheck reads, and says what is missing."""
    from slsacheck.provenance.generate import generate_from_files

    generated = generate_from_files(_fixture(UNIT.format("pipelinerun1")))
    deps = generated.statement.predicate["buildDefinition"]["resolvedDependencies"]
    assert {"uri": "oci://test.io/test/clone-image"} in deps  # the embedded imageIDs carry no digest
    assert {"uri": "oci://test.io/test/build-image"} in deps
    assert _codes(generated).count("child.embedded") == 2
    assert _codes(generated).count("step.unpinned") == 2


_WRONG_SHAPES: tuple[Any, ...] = (None, -1, "x", [], {}, [None], {"a": 1}, True)


def _fields(node: Any, path: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _fields(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _fields(value, (*path, index))
    return out


@pytest.mark.parametrize("fmt", ["slsa-v1", "slsa-v0.2"])
def test_a_run_field_of_another_shape_is_a_clean_error_or_warning_in_both_formats(fmt: str) -> None:
    """The exported run is the user's file: any spec or status field of the wrong type ends in
    slsacheck's own error or a warning, never a crash (the v0.2 writer iterated a taskRef's
    characters and hashed a list as a task name)."""
    docs = {name: read_documents(_fixture(UNIT.format(name)))[0] for name in ("pipelinerun1", "taskrun1")}
    targets = [("pipelinerun1", p) for p in _fields(docs["pipelinerun1"]["status"]["pipelineSpec"], ())]
    targets += [("taskrun1", p) for p in _fields(docs["taskrun1"]["status"]["taskSpec"], ())]
    tried = 0
    for which, path in targets:
        for value in _WRONG_SHAPES:
            changed = copy.deepcopy(docs)
            spec = changed[which]["status"]["pipelineSpec" if which == "pipelinerun1" else "taskSpec"]
            if path:
                parent = spec
                for step in path[:-1]:
                    parent = parent[step]
                parent[path[-1]] = value
            else:
                changed[which]["status"]["pipelineSpec" if which == "pipelinerun1" else "taskSpec"] = value
            run = parse_run(changed["pipelinerun1"], "pipelinerun1")
            child = parse_run(changed["taskrun1"], "taskrun1")
            child = replace(child, labels={**child.labels, "tekton.dev/pipelineRun": run.name})
            for subject_run, children in ((run, (child,)), (child, ())):
                tried += 1
                with contextlib.suppress(Error):  # anything else fails the test
                    generate(subject_run, children, Options(builder_id="b", format=fmt))
    assert tried > 200
