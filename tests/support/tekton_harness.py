"""Run Tekton Tasks and Pipelines on this machine, as Tekton would run their steps.

There is no Kubernetes here, so the harness does what the Tekton controller and its
entrypoint do for a step, and no more:

- substitutes Tekton's variables in each step's `script`, `args`, `command`, `env`
  values and `workingDir`: `$(params.X)` (given values, else defaults; `[*]` and `[i]`
  of array params, `.key` of object params), `$(results.X.path)`, `$(workspaces.X.path)`
  and `.bound`, `$(context.taskRun.name|uid|namespace)`, `$(context.task.name)`,
  `$(context.pipelineRun.name|uid|namespace)`, `$(context.pipeline.name)`. A variable of
  a known kind that names nothing declared is an error (as Tekton's validation makes it);
  anything else in `$(...)`, such as shell command substitution, is left alone;
- runs each step's script (its `#!` interpreter, default /bin/sh) or command with the
  step's env (plus `stepTemplate` env) and the Task's args, in a temporary root: results
  in `<root>/<taskrun>/results`, a fresh HOME, workspaces bound to the given directories
  (`subPath` honoured), and the slsacheck under test first on PATH (this venv's bin);
- collects results from the result files, stops at the first failing step;
- for a Pipeline, orders tasks by `runAfter` and `$(tasks.T.results.R)` references,
  passes results between them, skips what follows a failure, then runs `finally` tasks
  (which may read `$(tasks.T.status)` and `$(tasks.status)`).

Not done: volumes and volumeMounts (emptyDirs and the projected token are not needed on a
developer machine), securityContext (steps run as the current user), sidecars, retries,
timeouts beyond a per-step limit, `valueFrom` env. A step whose image is not slsacheck's
(git-clone, Trivy, kaniko) cannot run here: a Pipeline task, or a Task, with such a step
must be given a *stand-in*, a function that does the task's job on this machine and
returns the results the real task would write. A test may also replace a runnable task
with a stand-in (to play a pipeline that skipped a step). Every stand-in says so in its
TaskRun's log, and the result records that the task stood in.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.env import ROOT

VENV_BIN = Path(sys.executable).parent
SLSACHECK_IMAGE = re.compile(r"(^|/)slsacheck(:[^@]+)?@sha256:[0-9a-f]{64}$")
STEP_TIMEOUT = 180
_VARIABLE = re.compile(r"\$\(((?:params|results|workspaces|context|tasks|steps)\.[^()\s]*)\)")


class HarnessError(AssertionError):
    """The Task or Pipeline is not one Tekton would accept, or the harness cannot run it."""


@dataclass(frozen=True)
class StandInCall:
    """What a stand-in gets: the task's resolved params, its bound workspaces, its results dir."""

    params: Mapping[str, Any]
    workspaces: Mapping[str, Path]
    results_dir: Path


StandIn = Callable[[StandInCall], Mapping[str, str]]


@dataclass
class TaskRunResult:
    name: str
    succeeded: bool
    results: dict[str, str] = field(default_factory=dict)
    log: str = ""
    stood_in: bool = False
    exit_code: int = 0


@dataclass
class PipelineRunResult:
    name: str
    uid: str
    succeeded: bool
    task_runs: dict[str, TaskRunResult]
    skipped: list[str]
    results: dict[str, Any]

    def log(self) -> str:
        return "\n".join(f"--- {name}\n{run.log}" for name, run in self.task_runs.items())


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    if not isinstance(doc, dict):
        raise HarnessError(f"{path} is not one YAML mapping")
    return doc


# -- variables ---------------------------------------------------------------------------


def _param_value(params: Mapping[str, Any], ref: str, where: str) -> Any:
    """`NAME`, `NAME[*]`, `NAME[i]` or `NAME.key` in `params`."""
    match = re.fullmatch(r"(.+?)(?:\[(\*|\d+)\])?", ref)
    assert match is not None
    name, index = match.group(1), match.group(2)
    if name in params:
        value = params[name]
    elif "." in name and name.rsplit(".", 1)[0] in params:
        head, key = name.rsplit(".", 1)
        value = params[head]
        if not isinstance(value, dict) or key not in value:
            raise HarnessError(f"{where}: $(params.{ref}) names no key of object param {head}")
        value = value[key]
    else:
        raise HarnessError(f"{where}: $(params.{ref}) names no declared param")
    if index == "*":
        return value
    if index is not None:
        if not isinstance(value, list) or int(index) >= len(value):
            raise HarnessError(f"{where}: $(params.{ref}) is out of range")
        return value[int(index)]
    return value


def substitute(text: str, values: Callable[[str], Any], where: str) -> str:
    """Replace every Tekton variable in `text`; each must resolve to a string."""

    def one(match: re.Match[str]) -> str:
        value = values(match.group(1))
        if not isinstance(value, str):
            raise HarnessError(f"{where}: $({match.group(1)}) is not a string here (arrays expand only in args)")
        return value

    return _VARIABLE.sub(one, text)


def substitute_list(items: Sequence[str], values: Callable[[str], Any], where: str) -> list[str]:
    """Substitute in a list of strings; an item that is exactly an array variable expands in place."""
    out: list[str] = []
    for item in items:
        whole = _VARIABLE.fullmatch(item)
        value = values(whole.group(1)) if whole else None
        if isinstance(value, list):
            out.extend(str(v) for v in value)
        else:
            out.append(substitute(item, values, where))
    return out


# -- tasks --------------------------------------------------------------------------------


def _declared_params(spec: Mapping[str, Any], given: Mapping[str, Any], where: str) -> dict[str, Any]:
    declared = {p["name"]: p for p in spec.get("params", [])}
    unknown = set(given) - set(declared)
    if unknown:
        raise HarnessError(f"{where}: params {sorted(unknown)} are not declared")
    out: dict[str, Any] = {}
    for name, decl in declared.items():
        if name in given:
            value = given[name]
        elif "default" in decl:
            value = decl["default"]
        else:
            raise HarnessError(f"{where}: param {name} has no value and no default")
        kind = decl.get("type", "array" if isinstance(value, list) else "string")
        expected = {"string": str, "array": list, "object": dict}[kind]
        if not isinstance(value, expected):
            raise HarnessError(f"{where}: param {name} is declared {kind} but got {type(value).__name__}")
        out[name] = value
    return out


def _foreign_steps(spec: Mapping[str, Any]) -> list[str]:
    return [s.get("image", "") for s in spec.get("steps", []) if not SLSACHECK_IMAGE.search(s.get("image", ""))]


class Harness:
    """Runs Tasks and Pipelines under `root` (a temporary directory)."""

    def __init__(self, root: Path, *, env: Mapping[str, str] | None = None, namespace: str = "default") -> None:
        self.root = root
        self.env = dict(env or {})
        self.namespace = namespace

    def _base_env(self, home: Path) -> dict[str, str]:
        path = os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "/usr/bin:/bin")])
        # The steps run the slsacheck of this checkout, not whichever one the venv was installed from.
        return {"PATH": path, "HOME": str(home), "LANG": "C.UTF-8", "PYTHONPATH": str(ROOT), **self.env}

    def run_task(
        self,
        task: Mapping[str, Any],
        *,
        params: Mapping[str, Any] | None = None,
        workspaces: Mapping[str, Path] | None = None,
        name: str | None = None,
        context: Mapping[str, str] | None = None,
        stand_in: StandIn | None = None,
    ) -> TaskRunResult:
        """Run one Task (a `kind: Task` document or a bare spec) as a TaskRun named `name`."""
        spec = task.get("spec", task)
        task_name = task.get("metadata", {}).get("name", "task")
        run_name = name or f"{task_name}-run-{uuid.uuid4().hex[:5]}"
        where = f"TaskRun {run_name}"
        resolved = _declared_params(spec, params or {}, where)
        bound = self._bind(spec, workspaces or {}, where)
        run_dir = self.root / run_name
        results_dir, home, scripts = run_dir / "results", run_dir / "home", run_dir / "scripts"
        for d in (results_dir, home, scripts):
            d.mkdir(parents=True, exist_ok=True)
        declared_results = {r["name"] for r in spec.get("results", [])}
        ctx = {
            "context.taskRun.name": run_name,
            "context.taskRun.uid": str(uuid.uuid4()),
            "context.taskRun.namespace": self.namespace,
            "context.task.name": task_name,
            **(context or {}),
        }

        def values(ref: str) -> Any:
            kind, _, rest = ref.partition(".")
            if kind == "params":
                return _param_value(resolved, rest, where)
            if kind == "results" and rest.endswith(".path") and rest[: -len(".path")] in declared_results:
                return str(results_dir / rest[: -len(".path")])
            if kind == "workspaces":
                ws, _, attr = rest.rpartition(".")
                if ws in bound and attr == "path":
                    return str(bound[ws]) if bound[ws] is not None else ""
                if ws in bound and attr == "bound":
                    return "true" if bound[ws] is not None else "false"
            if ref in ctx:
                return ctx[ref]
            raise HarnessError(f"{where}: $({ref}) names nothing this Task declares")

        foreign = _foreign_steps(spec)
        if foreign and stand_in is None:
            raise HarnessError(f"{where}: steps with images {foreign} cannot run here; give a stand-in")
        if stand_in is not None:
            call = StandInCall(resolved, {k: v for k, v in bound.items() if v is not None}, results_dir)
            written = dict(stand_in(call))
            for key, value in written.items():
                if key not in declared_results:
                    raise HarnessError(f"{where}: the stand-in wrote result {key}, which the Task does not declare")
                (results_dir / key).write_text(value)
            why = f"images {foreign} are not slsacheck's" if foreign else "replaced by the test"
            log = f"[stand-in for {task_name}: {why}]\n"
            return TaskRunResult(run_name, True, self._results(results_dir), log, stood_in=True)

        template_env = spec.get("stepTemplate", {}).get("env", [])
        log_parts: list[str] = []
        for index, step in enumerate(spec.get("steps", [])):
            step_where = f"{where} step {step.get('name', index)}"
            _refuse_unsupported(step, ("onError", "ref", "stdoutConfig", "stderrConfig"), step_where)
            env = self._base_env(home)
            for item in [*template_env, *step.get("env", [])]:
                if "valueFrom" in item:
                    raise HarnessError(f"{step_where}: env {item['name']} uses valueFrom, which the harness lacks")
                env[item["name"]] = substitute(str(item.get("value", "")), values, step_where)
            args = substitute_list(step.get("args", []), values, step_where)
            if "script" in step:
                script = substitute(step["script"], values, step_where)
                path = scripts / f"{index}-{step.get('name', 'step')}"
                path.write_text(script)
                first = script.splitlines()[0] if script else ""
                interpreter = first[2:].split() if first.startswith("#!") else ["/bin/sh"]
                argv = [*interpreter, str(path), *args]
            else:
                argv = [*substitute_list(step.get("command", []), values, step_where), *args]
            cwd = substitute(step.get("workingDir", ""), values, step_where) or str(run_dir)
            proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                                  timeout=STEP_TIMEOUT, check=False)
            log_parts.append(f"[{step.get('name', index)}]\n{proc.stdout}{proc.stderr}")
            if proc.returncode != 0:
                return TaskRunResult(run_name, False, self._results(results_dir), "".join(log_parts),
                                     exit_code=proc.returncode)
        return TaskRunResult(run_name, True, self._results(results_dir), "".join(log_parts))

    @staticmethod
    def _bind(spec: Mapping[str, Any], given: Mapping[str, Path], where: str) -> dict[str, Path | None]:
        declared = {w["name"]: w for w in spec.get("workspaces", [])}
        unknown = set(given) - set(declared)
        if unknown:
            raise HarnessError(f"{where}: workspaces {sorted(unknown)} are not declared")
        bound: dict[str, Path | None] = {}
        for name, decl in declared.items():
            if name not in given and not decl.get("optional", False):
                raise HarnessError(f"{where}: required workspace {name} is not bound")
            bound[name] = given.get(name)
        return bound

    @staticmethod
    def _results(results_dir: Path) -> dict[str, str]:
        return {p.name: p.read_text() for p in sorted(results_dir.iterdir()) if p.is_file()}

    # -- pipelines ------------------------------------------------------------------------

    def run_pipeline(
        self,
        pipeline: Mapping[str, Any],
        tasks: Mapping[str, Mapping[str, Any]],
        *,
        params: Mapping[str, Any] | None = None,
        workspaces: Mapping[str, Path] | None = None,
        stand_ins: Mapping[str, StandIn] | None = None,
        name: str | None = None,
    ) -> PipelineRunResult:
        """Run `pipeline`; `tasks` maps Task names to documents for `taskRef: {name}`;
        `stand_ins` maps pipeline task names to stand-ins (required for resolver refs)."""
        spec = pipeline["spec"]
        pipeline_name = pipeline.get("metadata", {}).get("name", "pipeline")
        run_name = name or f"{pipeline_name}-run-{uuid.uuid4().hex[:5]}"
        run_uid = str(uuid.uuid4())
        where = f"PipelineRun {run_name}"
        resolved = _declared_params(spec, params or {}, where)
        given_ws = dict(workspaces or {})
        for decl in spec.get("workspaces", []):
            if decl["name"] not in given_ws and not decl.get("optional", False):
                raise HarnessError(f"{where}: required workspace {decl['name']} is not bound")
        stand_ins = stand_ins or {}
        ctx = {"context.pipelineRun.name": run_name, "context.pipelineRun.uid": run_uid,
               "context.pipelineRun.namespace": self.namespace, "context.pipeline.name": pipeline_name}
        runs: dict[str, TaskRunResult] = {}
        statuses: dict[str, str] = {}

        def values(ref: str) -> Any:
            kind, _, rest = ref.partition(".")
            if kind == "params":
                return _param_value(resolved, rest, where)
            if ref in ctx:
                return ctx[ref]
            if kind == "tasks":
                if rest == "status":
                    return "Failed" if "Failed" in statuses.values() else "Succeeded"
                task, _, tail = rest.partition(".")
                if tail == "status":
                    return statuses.get(task, "None")
                if tail.startswith("results.") and task in runs:
                    result = tail[len("results."):]
                    if result in runs[task].results:
                        return runs[task].results[result]
            raise HarnessError(f"{where}: $({ref}) does not resolve")

        def run_one(pt: Mapping[str, Any]) -> TaskRunResult:
            task_where = f"{where} task {pt['name']}"
            _refuse_unsupported(pt, ("when", "matrix", "retries", "timeout", "pipelineRef"), task_where)
            ref = pt.get("taskRef", {})
            doc = pt.get("taskSpec") or (tasks.get(ref["name"]) if "name" in ref else None)
            stand_in = stand_ins.get(pt["name"])
            if doc is None and stand_in is None:
                raise HarnessError(f"{task_where}: taskRef {ref} is not given and has no stand-in")
            task_params: dict[str, Any] = {}
            for p in pt.get("params", []):
                value = p["value"]
                if isinstance(value, list):
                    task_params[p["name"]] = substitute_list(value, values, task_where)
                else:
                    task_params[p["name"]] = substitute(str(value), values, task_where)
            bound: dict[str, Path] = {}
            for ws in pt.get("workspaces", []):
                if ws["workspace"] in given_ws:
                    path = given_ws[ws["workspace"]] / ws.get("subPath", "")
                    path.mkdir(parents=True, exist_ok=True)
                    bound[ws["name"]] = path
            task_run = f"{run_name}-{pt['name']}"
            if doc is None:
                assert stand_in is not None
                results_dir = self.root / task_run / "results"
                results_dir.mkdir(parents=True, exist_ok=True)
                written = dict(stand_in(StandInCall(task_params, bound, results_dir)))
                log = f"[stand-in for {pt['name']}: {ref} is resolved remotely and its images are not slsacheck's]\n"
                return TaskRunResult(task_run, True, written, log, stood_in=True)
            return self.run_task(doc, params=task_params, workspaces=bound, name=task_run, context=ctx,
                                 stand_in=stand_in)

        skipped: list[str] = []
        for pt in _ordered(spec.get("tasks", []), where):
            failed_before = any(s == "Failed" for s in statuses.values())
            if failed_before:
                skipped.append(pt["name"])
                statuses[pt["name"]] = "None"
                continue
            runs[pt["name"]] = run_one(pt)
            statuses[pt["name"]] = "Succeeded" if runs[pt["name"]].succeeded else "Failed"
        for pt in spec.get("finally", []):
            runs[pt["name"]] = run_one(pt)
            statuses[pt["name"]] = "Succeeded" if runs[pt["name"]].succeeded else "Failed"
        succeeded = all(s != "Failed" for s in statuses.values())
        results: dict[str, Any] = {}
        for r in spec.get("results", []):
            try:
                results[r["name"]] = substitute(r["value"], values, where)
            except HarnessError:
                if succeeded:
                    raise
        return PipelineRunResult(run_name, run_uid, succeeded, runs, skipped, results)


def _refuse_unsupported(node: Mapping[str, Any], keys: Sequence[str], where: str) -> None:
    """Fail rather than run something differently from Tekton."""
    found = [k for k in keys if k in node]
    if found:
        raise HarnessError(f"{where}: {found} are not supported by the harness")


_TASK_RESULT = re.compile(r"\$\(tasks\.([^.()]+)\.results\.")


def _ordered(tasks: Sequence[Mapping[str, Any]], where: str) -> list[Mapping[str, Any]]:
    """Tasks in an order that honours runAfter and result references (declaration order on ties)."""
    names = [t["name"] for t in tasks]
    deps: dict[str, set[str]] = {}
    for t in tasks:
        found = set(t.get("runAfter", []))
        found |= set(_TASK_RESULT.findall(json.dumps(t.get("params", []))))
        unknown = found - set(names)
        if unknown:
            raise HarnessError(f"{where}: task {t['name']} depends on unknown tasks {sorted(unknown)}")
        deps[t["name"]] = found
    order: list[Mapping[str, Any]] = []
    done: set[str] = set()
    while len(order) < len(tasks):
        ready = [t for t in tasks if t["name"] not in done and deps[t["name"]] <= done]
        if not ready:
            raise HarnessError(f"{where}: the tasks {sorted(set(names) - done)} form a cycle")
        order.append(ready[0])
        done.add(ready[0]["name"])
    return order


def step_action_task(step_action: Mapping[str, Any]) -> dict[str, Any]:
    """A StepAction as the one-step Task that would call it with the same params: its
    `$(step.results.X.path)` becomes the Task's `$(results.X.path)`."""
    spec = step_action["spec"]
    step = {k: v for k, v in spec.items() if k in ("image", "env", "args", "command", "script", "workingDir")}
    step["name"] = step_action["metadata"]["name"]
    if "script" in step:
        step["script"] = step["script"].replace("$(step.results.", "$(results.")
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "Task",
        "metadata": {"name": step_action["metadata"]["name"]},
        "spec": {"params": spec.get("params", []), "results": spec.get("results", []), "steps": [step]},
    }
