"""Reading the files a run comes in: JSON or YAML, one object, several, or a `kind: List`.

YAML is read by the one bounded loader (`slsacheck._yaml`: JSON's types only, timestamps
kept as text, since Kubernetes objects hold nothing else and `runSpec` is copied into the
output; nesting and alias expansion bounded). Files are capped at `MAX_DOCUMENT_BYTES`,
JSON nesting at `_yaml.MAX_DEPTH`; every failure names the file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from slsacheck import _yaml
from slsacheck._json import lone_surrogate
from slsacheck.provenance.findings import RunError

MAX_DOCUMENT_BYTES = 64 << 20
RUN_LIMITS = _yaml.Limits(max_bytes=MAX_DOCUMENT_BYTES)


def check_json_nesting(text: str, source: str) -> None:
    """Refuse JSON nested deeper than the YAML bound (json would recurse until it failed)."""
    depth = _yaml.json_nesting(text)
    if depth > RUN_LIMITS.max_depth:
        raise RunError(
            f"{source}: refused: JSON nested {depth} levels deep",
            expected=f"at most {RUN_LIMITS.max_depth} levels",
            found=f"{depth} levels",
            hint="give the run as kubectl prints it; no Kubernetes object nests this deep",
        )


def read_documents(path: Path) -> list[Mapping[str, Any]]:
    """Every object in a JSON or YAML file, with `kind: List` flattened."""
    try:
        size = path.stat().st_size
        if size > MAX_DOCUMENT_BYTES:
            raise RunError(
                f"{path}: the file is {size / 1e6:.1f} MB",
                expected=f"at most {MAX_DOCUMENT_BYTES >> 20} MiB",
                found=f"{size} bytes",
                hint="export one run (and its TaskRuns) per file",
            )
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RunError(f"cannot read {path}: {exc.strerror or exc}", hint="check the path") from exc
    except UnicodeDecodeError as exc:
        raise RunError(f"{path} is not UTF-8 text", hint="give the run as kubectl prints it (-o json|yaml)") from exc
    return parse_documents(text, str(path))


def parse_documents(text: str, source: str) -> list[Mapping[str, Any]]:
    docs: list[object]
    if text.lstrip().startswith(("{", "[")):
        check_json_nesting(text, source)
        try:
            docs = [json.loads(text)]
        except ValueError as exc:
            raise RunError(
                f"{source}: not valid JSON: {exc}",
                hint="give the run as `kubectl get taskrun|pipelinerun NAME -o json` prints it",
            ) from exc
    else:
        try:
            docs = _yaml.load_all(text, RUN_LIMITS)
        except yaml.YAMLError as exc:
            line, message = _yaml.describe_error(exc)
            raise RunError(
                f"{source}{'' if line is None else f':{line}'}: {message}",
                hint="give the run as `kubectl get taskrun|pipelinerun NAME -o yaml` prints it",
            ) from None
    odd = lone_surrogate(docs)
    if odd is not None:
        raise RunError(
            f"{source}: text at {odd.split('/', 2)[-1]!a} is not valid Unicode (a lone surrogate)",
            expected="UTF-8 text (a \\ud800-\\udfff escape only as half of a pair)",
            hint="provenance made from it could not be signed; fix the run object",
        )
    out: list[Mapping[str, Any]] = []
    for doc in docs:
        if isinstance(doc, Mapping) and doc.get("kind") == "List":
            items = doc.get("items")
            if not isinstance(items, list):
                raise RunError(f"{source}: a kind: List without an items list")
            docs_items = items
        else:
            docs_items = [doc]
        for item in docs_items:
            if not isinstance(item, Mapping):
                raise RunError(
                    f"{source}: not a Tekton run",
                    expected="a TaskRun or PipelineRun object",
                    found=f"a YAML/JSON {type(item).__name__}",
                    hint="give the run as `kubectl get taskrun|pipelinerun NAME -o yaml` prints it",
                )
            out.append(item)
    if not out:
        raise RunError(f"{source}: the file holds no objects", expected="a TaskRun or PipelineRun")
    return out
