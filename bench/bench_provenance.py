"""Benchmark: provenance generation against the floor of reading its inputs.

1. Writes a synthetic completed PipelineRun with 200 pipeline tasks, and its 200 child
   TaskRuns (one `kind: List` file), holding 1,000 results in all: per task an
   IMAGE_URL/IMAGE_DIGEST pair, CHAINS-GIT_URL/CHAINS-GIT_COMMIT, and one plain result; plus
   two step images per task (some shared, so de-duplication works).
2. Times `generate_from_files` (read, check, hints, deep inspection, statement, JSON Schema
   and in-toto model validation, deterministic bytes) against `json.load` of the same two
   files, in the same process. Rounds alternate; the best round of each counts. The first
   generation runs untimed so the schema validators are built once, as in a long-lived
   process (the first-call cost is printed too). The same pipeline without the validation
   step is timed as well, to show where the time goes.

Run: `.venv/bin/python bench/bench_provenance.py [--tasks N] [--rounds R]`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slsacheck.provenance import slsa_v1  # noqa: E402
from slsacheck.provenance.generate import generate_from_files  # noqa: E402
from slsacheck.provenance.runs import load_runs  # noqa: E402

START, END = "2026-03-01T10:00:00Z", "2026-03-01T10:30:00Z"


def synthetic(tasks: int) -> tuple[dict[str, Any], dict[str, Any]]:
    names = [f"task-{i:03d}" for i in range(tasks)]
    pipeline = {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"name": "bench", "uid": "bench-uid"},
        "spec": {"pipelineRef": {"name": "bench-pipeline"}},
        "status": {
            "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}],
            "startTime": START,
            "completionTime": END,
            "pipelineSpec": {"tasks": [{"name": n, "taskRef": {"name": "build"}} for n in names]},
            "childReferences": [{"kind": "TaskRun", "name": f"bench-{n}", "pipelineTaskName": n} for n in names],
        },
    }
    children = []
    for i, name in enumerate(names):
        digest = f"sha256:{i:064x}"
        children.append(
            {
                "apiVersion": "tekton.dev/v1",
                "kind": "TaskRun",
                "metadata": {
                    "name": f"bench-{name}",
                    "uid": f"uid-{i}",
                    "labels": {"tekton.dev/pipelineRun": "bench", "tekton.dev/pipelineTask": name},
                },
                "spec": {"taskRef": {"name": "build"}, "params": [{"name": "IMAGE", "value": f"r.example/app{i}"}]},
                "status": {
                    "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}],
                    "startTime": START,
                    "completionTime": END,
                    "steps": [
                        {"name": "build", "imageID": f"r.example/tools/buildah@sha256:{i % 7:064x}"},
                        {"name": "push", "imageID": f"r.example/tools/push@sha256:{i:064x}"},
                    ],
                    "results": [
                        {"name": "IMAGE_URL", "value": f"r.example/team/app{i}\n"},
                        {"name": "IMAGE_DIGEST", "value": digest},
                        {"name": "CHAINS-GIT_URL", "value": f"https://git.example/team/app{i % 10}"},
                        {"name": "CHAINS-GIT_COMMIT", "value": f"{i:040x}"},
                        {"name": "notes", "value": "built <fast> & well " * 4},
                    ],
                },
            }
        )
    return pipeline, {"apiVersion": "v1", "kind": "List", "items": children}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_path, list_path = Path(tmp, "run.json"), Path(tmp, "children.json")
        pipeline, children = synthetic(args.tasks)
        run_path.write_text(json.dumps(pipeline))
        list_path.write_text(json.dumps(children))
        results = sum(len(c["status"]["results"]) for c in children["items"])

        t0 = time.perf_counter()
        first = generate_from_files(run_path, [list_path])
        first_call = time.perf_counter() - t0
        subjects = len(first.statement.subjects)
        size = len(first.statement.to_bytes())

        floor, ours, unvalidated = [], [], []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            for path in (run_path, list_path):
                with path.open() as handle:
                    json.load(handle)
            floor.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            generated = generate_from_files(run_path, [list_path])
            generated.statement.to_bytes()
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            run, kids = load_runs(run_path, [list_path])
            slsa_v1.generate(run, kids)[0].to_bytes()
            unvalidated.append(time.perf_counter() - t0)

    best_floor, best_ours = min(floor), min(ours)
    print(f"input: 1 PipelineRun, {args.tasks} TaskRuns, {results} results; output: {subjects} subjects, {size} bytes")
    print(f"json.load of the inputs (floor): {best_floor * 1000:8.2f} ms")
    print(f"generate + validate + serialise: {best_ours * 1000:8.2f} ms  (first call {first_call * 1000:.1f} ms)")
    print(f"  of which read + generate + serialise, without validation: {min(unvalidated) * 1000:8.2f} ms")
    print(f"ratio: {best_ours / best_floor:.1f}x the floor ({min(unvalidated) / best_floor:.1f}x without validation)")


if __name__ == "__main__":
    main()
