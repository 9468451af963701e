"""LayoutStore across processes: writers in separate processes (two `slsacheck sign` runs in
one Tekton workspace, sign and attest in parallel steps) lose no index.json entry; a
read-only layout stays readable and gets no lock file; the lock file is no image and no
blob; a lock that is not released in time fails with an error naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import slsacheck
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore

_WORKERS = 4
_PUSHES = 12
_ROOT = Path(slsacheck.__file__).resolve().parents[1]

# Each worker waits for the start file, so that all of them write at once, then pushes its
# images, each under a tag of its own. A worker that fails exits non-zero with the error.
_WORKER = """
import sys, time
from pathlib import Path
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
path, worker, count, go, create = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]), sys.argv[5]
for _ in range(2000):
    if go.exists():
        break
    time.sleep(0.005)
store = LayoutStore(path, create=create == "create")
for i in range(count):
    scratch.push(store, scratch.image({"f": f"{worker}-{i}".encode()}), tag=f"w{worker}-{i}")
"""


def _image(worker: int, i: int) -> scratch.Built:
    return scratch.image({"f": f"{worker}-{i}".encode()})


def _run_writers(path: Path, go: Path, *, create: bool) -> None:
    env = {**os.environ, "PYTHONPATH": str(_ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(path), str(w), str(_PUSHES), str(go), "create" if create else "open"],
            cwd=_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for w in range(_WORKERS)
    ]
    go.touch()
    failures = []
    for p in procs:
        _, err = p.communicate(timeout=120)
        if p.returncode != 0:
            failures.append(err.decode(errors="replace")[-2000:])
    assert failures == []


def _assert_all_tags(path: Path) -> None:
    store = LayoutStore(path)
    expected = {f"w{w}-{i}": _image(w, i).digest for w in range(_WORKERS) for i in range(_PUSHES)}
    assert sorted(store.tags()) == sorted(expected)
    for tag, digest in expected.items():
        assert store.resolve(tag).digest == digest
        assert store.fetch_manifest(tag).raw == _image(*map(int, tag[1:].split("-"))).manifest
    assert len(store.entries()) == len(expected)


def test_writer_processes_lose_no_tag(tmp_path: Path) -> None:
    path = tmp_path / "layout"
    LayoutStore(path, create=True)
    _run_writers(path, tmp_path / "go", create=False)
    _assert_all_tags(path)


def test_writer_processes_creating_one_layout_lose_no_tag(tmp_path: Path) -> None:
    # Every writer asks for the layout to be made: one makes it, the others use it, and no
    # late `create` writes an empty index.json over entries already pushed.
    path = tmp_path / "fresh"
    _run_writers(path, tmp_path / "go", create=True)
    _assert_all_tags(path)
