"""Child TaskRuns: only the PipelineRun's own are read, and a missing one is never silent.

The foreign children are what someone with the files in hand (or a TaskRun of another
team's run in the same cluster) would pass with `--child` to get an image of theirs named
as a subject of this run's provenance.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from slsacheck.cli import main
from slsacheck.provenance.findings import ProvenanceRefused, RunError
from slsacheck.provenance.generate import Options, generate
from slsacheck.provenance.runs import parse_run

RUN_UID = "6b1c1f5e-0000-4000-8000-00000000aaaa"
D_BUILD = "sha256:" + "b" * 64
D_EVIL = "sha256:" + "e" * 64
STEP = "registry.example.com/tools/git@sha256:" + "c" * 64


def _child(task: str, *, image: str = "", digest: str = "") -> dict[str, Any]:
    results = [{"name": "IMAGE_URL", "value": image}, {"name": "IMAGE_DIGEST", "value": digest}] if image else []
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "metadata": {
            "name": f"pr-1-{task}",
            "namespace": "ci",
            "uid": f"uid-{task}",
            "labels": {"tekton.dev/pipelineRun": "pr-1", "tekton.dev/pipelineTask": task},
            "ownerReferences": [
                {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "name": "pr-1", "uid": RUN_UID,
                 "controller": True}
            ],
        },
        "spec": {"taskRef": {"name": task}},
        "status": {
            "conditions": [{"type": "Succeeded", "status": "True"}],
            "startTime": "2026-03-01T10:00:00Z",
            "completionTime": "2026-03-01T10:01:00Z",
            "steps": [{"name": "run", "imageID": STEP}],
            "results": results,
        },
    }


def _pipeline_run() -> dict[str, Any]:
    tasks = [{"name": "clone", "taskRef": {"name": "git-clone"}},
             {"name": "build", "taskRef": {"name": "build-push"}, "runAfter": ["clone"]}]
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"name": "pr-1", "namespace": "ci", "uid": RUN_UID},
        "spec": {"pipelineRef": {"name": "clone-build"}},
        "status": {
            "conditions": [{"type": "Succeeded", "status": "True"}],
            "startTime": "2026-03-01T10:00:00Z",
            "completionTime": "2026-03-01T10:03:00Z",
            "pipelineSpec": {"tasks": tasks},
            "childReferences": [
                {"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": "pr-1-clone", "pipelineTaskName": "clone"},
                {"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": "pr-1-build", "pipelineTaskName": "build"},
            ],
        },
    }


def _build() -> dict[str, Any]:
    return _child("build", image="registry.example.com/team/app", digest=D_BUILD)


def _generate(run: dict[str, Any], *children: dict[str, Any], strict: bool = False) -> Any:
    return generate(parse_run(run, "pr"), [parse_run(c, "child", allow_failed=True) for c in children],
                    Options(strict=strict))


def test_the_runs_own_children_are_read() -> None:
    generated = _generate(_pipeline_run(), _child("clone"), _build())
    assert generated.warnings == ()
    assert [s.name for s in generated.statement.subjects] == ["registry.example.com/team/app"]


def _evil(**changes: Any) -> dict[str, Any]:
    """A TaskRun of someone else that builds the attacker's image, as the --child of this run."""
    doc = _child("build", image="registry.example.com/evil/app", digest=D_EVIL)
    doc["metadata"]["name"] = "other-run-build"
    meta = doc["metadata"]
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    return doc


FOREIGN = {
    "not listed, no label": (
        _evil(labels={"tekton.dev/pipelineTask": "build"}, ownerReferences=None),
        ["not listed in PipelineRun pr-1's status.childReferences", "has no tekton.dev/pipelineRun label"],
    ),
    "another namespace": (
        _evil(namespace="team-b"),
        ["not listed", "is in namespace team-b, not ci"],
    ),
    "owned by another run's uid": (
        _evil(ownerReferences=[{"kind": "PipelineRun", "name": "pr-1", "uid": "someone-elses-uid"}]),
        ["not listed", "is owned by PipelineRun pr-1 (uid someone-elses-uid)"],
    ),
    "labelled for another run": (
        _evil(labels={"tekton.dev/pipelineRun": "pr-2", "tekton.dev/pipelineTask": "build"}),
        ["is labelled tekton.dev/pipelineRun=pr-2, not pr-1"],
    ),
}


@pytest.mark.parametrize("case", sorted(FOREIGN))
@pytest.mark.parametrize("strict", [False, True])
def test_a_foreign_child_is_refused_whatever_strict_says(case: str, strict: bool) -> None:
    evil, reasons = FOREIGN[case]
    with pytest.raises(RunError) as caught:
        _generate(_pipeline_run(), _child("clone"), _build(), copy.deepcopy(evil), strict=strict)
    assert not isinstance(caught.value, ProvenanceRefused)
    for reason in reasons:
        assert reason in caught.value.message
    assert "TaskRun other-run-build" in caught.value.message
    assert "kubectl get taskruns -n ci -l tekton.dev/pipelineRun=pr-1 -o json" in (caught.value.hint or "")


def test_a_listed_name_with_the_wrong_facts_is_refused() -> None:
    """Taking the name of a real child does not make a TaskRun one: every link must agree."""
    run = _pipeline_run()
    run["status"]["childReferences"][1]["uid"] = "uid-build"
    impostor = _build()
    impostor["metadata"]["uid"] = "uid-impostor"
    impostor["metadata"]["namespace"] = "team-b"
    impostor["metadata"]["labels"]["tekton.dev/pipelineTask"] = "clone"
    impostor["metadata"]["ownerReferences"] = [{"kind": "Pod", "name": "x", "uid": "1"}]
    with pytest.raises(RunError) as caught:
        _generate(run, _child("clone"), impostor)
    message = caught.value.message
    assert "uid uid-impostor is not the listed child's uid uid-build" in message
    assert "is labelled tekton.dev/pipelineTask=clone, but the run lists it for build" in message
    assert "is in namespace team-b, not ci" in message
    assert "is owned by Pod x, not by PipelineRun pr-1" in message


def test_a_child_given_twice_is_refused() -> None:
    with pytest.raises(RunError, match="TaskRun pr-1-build is given twice"):
        _generate(_pipeline_run(), _build(), _build())


def test_a_pipelinerun_that_lists_no_children_accepts_none() -> None:
    run = _pipeline_run()
    del run["status"]["childReferences"]
    with pytest.raises(RunError, match=r"not listed in PipelineRun pr-1's status\.childReferences"):
        _generate(run, _build())


def test_a_missing_child_is_a_warning_naming_it_and_an_error_when_strict() -> None:
    generated = _generate(_pipeline_run(), _build())
    (missing,) = [w for w in generated.warnings if w.code == "child.missing"]
    assert "TaskRun pr-1-clone (pipeline task clone)" in missing.message
    assert "was not given (--child)" in missing.message
    with pytest.raises(ProvenanceRefused, match="pr-1-clone"):
        _generate(_pipeline_run(), _build(), strict=True)


def test_with_no_child_at_all_the_hint_says_to_pass_them() -> None:
    with pytest.raises(RunError) as caught:
        _generate(_pipeline_run())
    hint = caught.value.hint or ""
    assert "pass each with --child" in hint and "pr-1-build" in hint and "pr-1-clone" in hint
    assert "kubectl get taskruns" in hint


def _write(folder: Path, name: str, doc: dict[str, Any]) -> str:
    path = folder / name
    path.write_text(json.dumps(doc))
    return str(path)


def test_cli_refuses_a_foreign_child_and_prints_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _write(tmp_path, "pr.json", _pipeline_run())
    good = ["--child", _write(tmp_path, "clone.json", _child("clone")), "--child", _write(tmp_path, "b.json", _build())]
    evil = _write(tmp_path, "evil.json", _evil(namespace="team-b"))
    assert main(["provenance", "generate", "--run", run, *good, "--child", evil]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "is in namespace team-b, not ci" in err and D_EVIL[7:] not in out
    assert main(["provenance", "generate", "--run", run, *good]) == 0
    assert D_BUILD[7:] in capsys.readouterr().out


def test_cli_lists_a_missing_child_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _write(tmp_path, "pr.json", _pipeline_run())
    build = _write(tmp_path, "b.json", _build())
    assert main(["provenance", "generate", "--run", run, "--child", build]) == 0
    err = capsys.readouterr().err
    assert "warning: PipelineRun pr-1: TaskRun pr-1-clone (pipeline task clone) is listed" in err
    assert main(["provenance", "generate", "--strict", "--run", run, "--child", build]) == 2
    assert "pr-1-clone" in capsys.readouterr().err
