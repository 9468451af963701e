"""LayoutStore across processes: writers in separate processes (two `slsacheck sign` runs in
one Tekton workspace, sign and attest in parallel steps) lose no index.json entry; a
read-only layout stays readable and gets no lock file; the lock file is no image and no
blob; a lock that is not released in time fails with an error naming it."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import slsacheck
from slsacheck.errors import NotFound, StoreError
from slsacheck.models import Digest
from slsacheck.oci import scratch
from slsacheck.oci._layout_lock import LOCK_NAME
from slsacheck.oci.layout import LayoutStore, MissingBlob
from tests.support.env import missing, require_tool
from tests.support.images import skopeo, skopeo_copy

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


def _run_workers(script: str, go: Path, *args: str) -> None:
    """`_WORKERS` processes running `script` with `args` and their worker number, released
    together by creating `go`; each must succeed."""
    env = {**os.environ, "PYTHONPATH": str(_ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, args[0], str(w), str(_PUSHES), str(go), *args[1:]],
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


def _run_writers(path: Path, go: Path, *, create: bool) -> None:
    _run_workers(_WORKER, go, str(path), "create" if create else "open")


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


# Each worker adds its images, one at a time, to the index tagged `all`: read the tag,
# add a child, push it back, holding the layout's writer lock across the three steps.
_MERGER = """
import contextlib, json, sys, time
from pathlib import Path
from slsacheck.errors import NotFound
from slsacheck.models import mediatypes as mt
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
path, worker, count, go, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]), sys.argv[5]
for _ in range(2000):
    if go.exists():
        break
    time.sleep(0.005)
store = LayoutStore(path)
lock = store.writer_lock if mode == "locked" else contextlib.nullcontext
for i in range(count):
    img = scratch.image({"f": f"{worker}-{i}".encode()})
    scratch.push(store, img)
    with lock():
        try:
            children = json.loads(store.fetch_manifest("all").raw)["manifests"]
        except NotFound:
            children = []
        children.append(img.descriptor.to_json())
        doc = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": children}
        store.push_manifest(json.dumps(doc).encode(), mt.OCI_INDEX, tag="all")
"""


def test_writer_lock_makes_a_read_merge_push_of_one_tag_atomic_across_processes(tmp_path: Path) -> None:
    # What attaching signatures to one `.sig` tag from parallel steps needs on a layout.
    path = tmp_path / "layout"
    LayoutStore(path, create=True)
    _run_workers(_MERGER, tmp_path / "go", str(path), "locked")
    store = LayoutStore(path)
    listed = [c.digest for c in store.fetch_manifest("all").children]
    assert sorted(map(str, listed)) == sorted(
        str(_image(w, i).digest) for w in range(_WORKERS) for i in range(_PUSHES)
    )
    assert [e.annotations.get("org.opencontainers.image.ref.name") for e in store.entries()] == ["all"]


# -- a read-only layout --------------------------------------------------------------

# Reads everything a verifier reads, then tries two writes, and prints what happened.
_READER = """
import json, sys
from pathlib import Path
from slsacheck.errors import Error
from slsacheck.oci.layout import LayoutStore
path = Path(sys.argv[1])
try:
    (path / "probe").write_bytes(b"")
    writable = True
except OSError:
    writable = False
store = LayoutStore(path)
m = store.fetch_manifest("app")
with store.open_blob(m.layers[0]) as f:
    layer = f.read()
out = {
    "writable": writable,
    "digest": str(store.resolve("app").digest),
    "by_digest": str(store.fetch_manifest(str(m.digest)).digest),
    "tags": sorted(store.tags()),
    "entries": len(store.entries()),
    "config": store.fetch_blob(m.config).decode(),
    "layer": len(layer),
    "referrers": [str(d.digest) for d in store.referrers(m.digest)],
}
def attempt(write):
    try:
        write()
    except Error as exc:
        return type(exc).__name__ + ": " + exc.diagnostics()
    except Exception as exc:
        return "foreign " + type(exc).__name__ + ": " + str(exc)
    return "written"
out["retag"] = attempt(lambda: store.push_manifest(m.raw, m.media_type, tag="again"))
out["blob"] = attempt(lambda: store.push_blob(*_new_blob()))
print(json.dumps(out))
"""
_NEW_BLOB = """
from slsacheck.models.descriptor import Descriptor
def _new_blob():
    return Descriptor.of(b"new", "application/octet-stream"), b"new"
"""


def _make_read_only(root: Path, *, writable: bool = False) -> None:
    for d, _, files in os.walk(root):
        for name in files:
            (Path(d) / name).chmod(0o644 if writable else 0o444)
        Path(d).chmod(0o755 if writable else 0o555)


_MOUNT_FAILED = 97


def _in_read_only_mount(path: Path, argv: list[str]) -> list[str]:
    """`argv`, run where `path` is read-only even to root: file modes bind other users;
    root gets `path` bind-mounted read-only in a mount namespace of its own, as a Tekton
    step sees a workspace mounted read-only."""
    if os.geteuid() != 0:
        return argv
    unshare = require_tool("unshare")
    script = f'(mount --bind "$1" "$1" && mount -o remount,bind,ro "$1") || exit {_MOUNT_FAILED}; shift; exec "$@"'
    return [unshare, "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh", str(path), *argv]


def test_a_read_only_layout_is_read_without_a_lock_file(tmp_path: Path) -> None:
    path = tmp_path / "layout"
    store = LayoutStore(path, create=True)
    img = scratch.image({"etc/motd": b"read only\n"})
    subject = scratch.push(store, img, tag="app")
    sig = scratch.artifact(subject, "application/vnd.dev.sigstore.bundle.v0.3+json", b"{}",
                           "application/vnd.dev.sigstore.bundle.v0.3+json")
    scratch.push(store, sig)
    (path / LOCK_NAME).unlink()  # as a layout written by skopeo or buildah has none
    _make_read_only(path)
    before = {p.relative_to(path) for p in path.rglob("*")}

    try:
        result = subprocess.run(
            _in_read_only_mount(path, [sys.executable, "-c", _NEW_BLOB + _READER, str(path)]),
            cwd=_ROOT, env={**os.environ, "PYTHONPATH": str(_ROOT)}, capture_output=True, timeout=60,
        )
    finally:
        after = {p.relative_to(path) for p in path.rglob("*")}
        _make_read_only(path, writable=True)
    if result.returncode == _MOUNT_FAILED:
        missing(f"a read-only bind mount for root (unshare + mount: {result.stderr.decode().strip()})")
    assert result.returncode == 0, result.stderr.decode()
    out = json.loads(result.stdout)

    assert out["writable"] is False  # the reader really met a read-only directory
    assert out["digest"] == out["by_digest"] == str(img.digest)
    assert out["tags"] == ["app"] and out["entries"] == 2
    assert json.loads(out["config"])["os"] == "linux"
    assert out["layer"] == img.blobs[1][0].size
    assert out["referrers"] == [str(sig.digest)]
    # Writes fail with the layout's own error, naming the lock file, not a bare OSError.
    assert out["retag"].startswith("StoreError: ") and LOCK_NAME in out["retag"]
    assert "read-only" in out["retag"] and str(path) in out["retag"]
    assert out["blob"].startswith("StoreError: ") and "must be writable" in out["blob"]
    assert after == before
    assert not (path / LOCK_NAME).exists()


# -- the lock file itself ------------------------------------------------------------


def test_the_lock_file_is_no_image_and_no_blob(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path / "layout", create=True)
    img = scratch.image({"f": b"1"})
    subject = scratch.push(store, img, tag="app")
    scratch.push(store, scratch.artifact(subject, "application/example", b"x", "text/plain"))
    assert (store.path / LOCK_NAME).is_file()
    assert [e.digest for e in store.entries()] == [img.digest, store.referrers(img.digest)[0].digest]
    assert list(store.tags()) == ["app"]
    assert LOCK_NAME not in (store.path / "index.json").read_text()
    # blobs/ holds digests only: every file's name is the digest of its bytes.
    for blob in (store.path / "blobs").rglob("*"):
        if blob.is_file():
            assert str(Digest.of(blob.read_bytes())) == f"{blob.parent.name}:{blob.name}"
    # Opening the directory again with create=True does not take the lock file for a
    # foreign file; reopening a layout keeps what it holds.
    assert list(LayoutStore(store.path, create=True).tags()) == ["app"]


@pytest.mark.integration
def test_skopeo_reads_a_layout_with_the_lock_file(tmp_path: Path) -> None:
    require_tool("skopeo")
    store = LayoutStore(tmp_path / "layout", create=True)
    img = scratch.image({"f": b"skopeo"})
    scratch.push(store, img, tag="app")
    assert (store.path / LOCK_NAME).is_file()
    info = json.loads(skopeo("inspect", f"oci:{store.path}:app"))
    assert info["Digest"] == str(img.digest)
    skopeo_copy(f"oci:{store.path}:app", f"oci:{tmp_path / 'out'}:copied")
    assert LayoutStore(tmp_path / "out").resolve("copied").digest == img.digest


# -- waiting for the lock, and letting it go ------------------------------------------


@contextlib.contextmanager
def _held_by_another_process(path: Path) -> Iterator[None]:
    """flock held on the layout's lock file, as another process's writer would hold it
    (flock belongs to the open file, so a second open in this process competes too)."""
    fd = os.open(path / LOCK_NAME, os.O_RDONLY | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)


def _lock_is_free(path: Path) -> bool:
    fd = os.open(path / LOCK_NAME, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def test_a_held_lock_times_out_with_the_layout_and_lock_file_named(tmp_path: Path) -> None:
    path = tmp_path / "layout"
    store = LayoutStore(path, create=True, lock_timeout=0.2)
    first = scratch.image({"f": b"1"})
    scratch.push(store, first, tag="one")
    index_before = (path / "index.json").read_bytes()
    second = scratch.image({"f": b"2"})
    with _held_by_another_process(path):
        with pytest.raises(StoreError) as caught:
            scratch.push(store, second, tag="two")
        with pytest.raises(StoreError, match="writer lock"):
            store.delete_manifest(first.digest)
    message = caught.value.diagnostics()
    assert store.location in message and str(path / LOCK_NAME) in message
    assert caught.value.hint is not None and "another writer" in caught.value.hint
    assert (path / "index.json").read_bytes() == index_before
    # Let go, the same store writes again: nothing of the failed attempts stayed held.
    scratch.push(store, second, tag="two")
    assert sorted(store.tags()) == ["one", "two"]


def test_a_thread_holding_the_lock_makes_another_wait_and_time_out(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path / "layout", create=True, lock_timeout=0.2)
    img = scratch.image({"f": b"1"})
    for d, data in img.blobs:
        store.push_blob(d, data)
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with store.writer_lock():
            holding.set()
            done.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert holding.wait(30)
        with pytest.raises(StoreError, match="another thread of this process"):
            store.push_manifest(img.manifest, img.media_type, tag="app")
    finally:
        done.set()
        t.join(30)
    store.push_manifest(img.manifest, img.media_type, tag="app")
    assert store.resolve("app").digest == img.digest


def test_the_lock_is_released_when_a_write_fails(tmp_path: Path) -> None:
    path = tmp_path / "layout"
    store = LayoutStore(path, create=True)
    img = scratch.image({"f": b"1"})
    with pytest.raises(MissingBlob):
        store.push_manifest(img.manifest, img.media_type, tag="app")  # its blobs are not there
    assert _lock_is_free(path)
    with pytest.raises(NotFound):
        store.delete_manifest(img.digest)
    assert _lock_is_free(path)
    with pytest.raises(KeyboardInterrupt), store.writer_lock():
        raise KeyboardInterrupt
    assert _lock_is_free(path)
    # Nested writer blocks in one thread take the lock once and release it at the end.
    with store.writer_lock():
        with store.writer_lock():
            assert not _lock_is_free(path)
        assert not _lock_is_free(path)
    assert _lock_is_free(path)
