"""tekton-lint (npm, tests/peers) over every file in tekton/, with the repository's
`.tektonlintrc.yaml` (two rules off, each with its reason there)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.env import ROOT, missing

LINT = ROOT / "tests" / "peers" / "node_modules" / ".bin" / "tekton-lint"


def _lint(cwd: Path, *patterns: str) -> list[dict[str, Any]]:
    if not LINT.exists():
        missing("tekton-lint (run `npm ci` in tests/peers)")
    if shutil.which("node") is None:
        missing("node (tekton-lint runs on it)")
    proc = subprocess.run([str(LINT), "--format", "json", *patterns], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)
    try:
        problems = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"tekton-lint did not answer in JSON (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    assert isinstance(problems, list)
    return problems


def test_tekton_files_have_no_findings() -> None:
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tekton").rglob("*.yaml"))
    assert len(files) >= 9
    problems = _lint(ROOT, *files)
    assert problems == [], json.dumps(problems, indent=1)


def test_the_config_keeps_the_linter_working(tmp_path: Path) -> None:
    """With the same config, a Task with an unpinned image and a Pipeline passing an
    undeclared param and binding no required workspace are found: the linter is on."""
    shutil.copy(ROOT / ".tektonlintrc.yaml", tmp_path / ".tektonlintrc.yaml")
    (tmp_path / "bad.yaml").write_text(
        """\
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: bad-task
spec:
  params:
    - name: unused
  workspaces:
    - name: source
  steps:
    - name: run
      image: docker.io/library/alpine
      script: echo hi
---
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: bad-pipeline
spec:
  tasks:
    - name: run
      taskRef:
        name: bad-task
      params:
        - name: undeclared
          value: x
"""
    )
    messages = "\n".join(p["message"] for p in _lint(tmp_path, "bad.yaml"))
    assert "undeclared" in messages
    assert "workspace" in messages
    assert "alpine" in messages
