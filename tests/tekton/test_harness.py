"""The Task harness itself: variables, ordering, failure, finally (small inline Tasks, /bin/sh)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.tekton_harness import Harness, HarnessError, StandInCall

IMAGE = "ghcr.io/slsacheck/slsacheck:0.1.0@sha256:" + "0" * 64

ECHO = yaml.safe_load(f"""
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: echo
spec:
  params:
    - name: word
    - name: words
      type: array
      default: ["a b", "c"]
    - name: obj
      type: object
      properties: {{key: {{type: string}}}}
      default: {{key: from-object}}
    - name: fail
      default: "no"
  workspaces:
    - name: out
      optional: true
  results:
    - name: said
    - name: where
  steps:
    - name: say
      image: {IMAGE}
      args: ["$(params.words[*])", "$(params.words[1])"]
      env:
        - name: WORD
          value: $(params.word)
        - name: KEY
          value: $(params.obj.key)
        - name: OUT
          value: $(workspaces.out.path)
        - name: RUN
          value: $(context.taskRun.name)
        - name: FAIL
          value: $(params.fail)
      script: |
        #!/bin/sh
        set -eu
        if [ "$FAIL" = "yes" ]; then echo "failing as asked" >&2; exit 7; fi
        printf "%s" "$WORD|$KEY|$#|$1|$3|$(echo shell-kept)|$RUN" > "$(results.said.path)"
        printf "%s" "${{OUT:-unbound}}" > "$(results.where.path)"
""")


def _pipeline(tasks: list[dict[str, Any]], final: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"params": [{"name": "first", "default": "one"}], "tasks": tasks,
                            "results": [{"name": "last", "value": "$(tasks.second.results.said)"}]}
    if final:
        spec["finally"] = final
    return {"apiVersion": "tekton.dev/v1", "kind": "Pipeline", "metadata": {"name": "p"}, "spec": spec}


def test_task_variables(tmp_path: Path) -> None:
    run = Harness(tmp_path).run_task(ECHO, params={"word": "hi"}, name="tr-1")
    assert run.succeeded, run.log
    assert run.results == {"said": "hi|from-object|3|a b|c|shell-kept|tr-1", "where": "unbound"}
    bound = Harness(tmp_path).run_task(ECHO, params={"word": "hi"}, workspaces={"out": tmp_path}, name="tr-2")
    assert bound.results["where"] == str(tmp_path)


def test_task_failure_and_bad_input(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    failed = h.run_task(ECHO, params={"word": "x", "fail": "yes"})
    assert not failed.succeeded and failed.exit_code == 7 and "failing as asked" in failed.log
    with pytest.raises(HarnessError, match="no value and no default"):
        h.run_task(ECHO)
    with pytest.raises(HarnessError, match="not declared"):
        h.run_task(ECHO, params={"word": "x", "typo": "y"})
    broken = yaml.safe_load(yaml.safe_dump(ECHO))
    broken["spec"]["steps"][0]["env"][0]["value"] = "$(params.wrod)"
    with pytest.raises(HarnessError, match=r"\$\(params.wrod\)"):
        h.run_task(broken, params={"word": "x"})
    foreign = yaml.safe_load(yaml.safe_dump(ECHO))
    foreign["spec"]["steps"][0]["image"] = "docker.io/library/alpine@sha256:" + "1" * 64
    with pytest.raises(HarnessError, match="give a stand-in"):
        h.run_task(foreign, params={"word": "x"})


def test_pipeline_order_results_failure_and_finally(tmp_path: Path) -> None:
    # Declared out of order: `second` needs `first`'s result, `third` runs after `second`.
    tasks: list[dict[str, Any]] = [
        {"name": "third", "runAfter": ["second"], "taskRef": {"name": "echo"},
         "params": [{"name": "word", "value": "three"}, {"name": "fail", "value": "yes"}]},
        {"name": "second", "taskRef": {"name": "echo"},
         "params": [{"name": "word", "value": "$(tasks.first.results.said)"},
                    {"name": "words", "value": ["$(params.first)", "x", "y"]}]},
        {"name": "first", "taskRef": {"name": "remote"}, "params": [{"name": "word", "value": "$(params.first)"}]},
        {"name": "fourth", "runAfter": ["third"], "taskRef": {"name": "echo"},
         "params": [{"name": "word", "value": "never"}]},
    ]
    final = [{"name": "report", "taskRef": {"name": "echo"},
              "params": [{"name": "word", "value": "$(tasks.third.status)/$(tasks.status)"}]}]

    def remote(call: StandInCall) -> dict[str, str]:
        return {"said": f"stood-in:{call.params['word']}"}

    run = Harness(tmp_path).run_pipeline(_pipeline(tasks, final), {"echo": ECHO}, stand_ins={"first": remote},
                                         name="pr")
    assert list(run.task_runs) == ["first", "second", "third", "report"]
    assert run.task_runs["first"].stood_in and "stand-in" in run.task_runs["first"].log
    assert run.task_runs["second"].results["said"] == "stood-in:one|from-object|4|one|y|shell-kept|pr-second"
    assert not run.task_runs["third"].succeeded
    assert run.skipped == ["fourth"]
    assert run.task_runs["report"].results["said"].startswith("Failed/Failed|")
    assert not run.succeeded
    assert run.results["last"].startswith("stood-in:one")


def test_pipeline_cycles_and_unknown_tasks(tmp_path: Path) -> None:
    cycle = [{"name": "a", "runAfter": ["b"], "taskRef": {"name": "echo"}, "params": [{"name": "word", "value": "a"}]},
             {"name": "b", "runAfter": ["a"], "taskRef": {"name": "echo"}, "params": [{"name": "word", "value": "b"}]}]
    with pytest.raises(HarnessError, match="cycle"):
        Harness(tmp_path).run_pipeline(_pipeline(cycle), {"echo": ECHO})
    unknown = [{"name": "a", "runAfter": ["zz"], "taskRef": {"name": "echo"}}]
    with pytest.raises(HarnessError, match="unknown tasks"):
        Harness(tmp_path).run_pipeline(_pipeline(unknown), {"echo": ECHO})


def test_what_the_harness_cannot_do_is_refused(tmp_path: Path) -> None:
    guarded = [{"name": "a", "taskRef": {"name": "echo"}, "params": [{"name": "word", "value": "a"}],
                "when": [{"input": "x", "operator": "in", "values": ["y"]}]}]
    with pytest.raises(HarnessError, match="not supported"):
        Harness(tmp_path).run_pipeline(_pipeline(guarded), {"echo": ECHO})
    lenient = yaml.safe_load(yaml.safe_dump(ECHO))
    lenient["spec"]["steps"][0]["onError"] = "continue"
    with pytest.raises(HarnessError, match="not supported"):
        Harness(tmp_path).run_task(lenient, params={"word": "x"})
