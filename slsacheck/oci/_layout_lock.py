"""The writer lock of one OCI layout directory, held across threads and processes.

Writers of a layout read index.json, change it and rename a new one over it; two writers
interleaving lose one's entry. Two `slsacheck` processes writing one layout (parallel
Tekton steps sharing a workspace) are as real as two threads, so a writer holds both:

1. a re-entrant in-process lock per directory (by real path), so threads of one process
   queue here and never contend on the file lock below;
2. then, on Linux and other POSIX systems, `flock` on `LOCK_NAME` inside the directory.
   The kernel drops it when its process dies, so a crashed writer leaves no stale lock
   behind (the file itself stays; it is empty and never means "locked" by existing).
   Where there is no `fcntl` (Windows), only the in-process lock serialises writers.

Invariants: only writers take the lock (a read-only layout is read without creating the
lock file); waiting is bounded (`StoreError` naming the layout and the lock file); the
lock is released on every path out of the `with` block.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from slsacheck.errors import StoreError

if sys.platform != "win32":
    import fcntl

# A dot file: OCI tools (skopeo, buildah, cosign) read only oci-layout, index.json and
# blobs/<alg>/<hex>, and slsacheck itself never lists the layout root.
LOCK_NAME = ".slsacheck.lock"
DEFAULT_TIMEOUT = 60.0
_FIRST_POLL = 0.001
_MAX_POLL = 0.05


class _DirectoryLock:
    """Shared by every LayoutStore of one directory in this process."""

    def __init__(self) -> None:
        self.local = threading.RLock()
        self.depth = 0  # nesting of the thread holding `local`; only it reads or writes this
        self.fd: int | None = None


_LOCKS: dict[str, _DirectoryLock] = {}
_LOCKS_GUARD = threading.Lock()


def _directory_lock(path: Path) -> _DirectoryLock:
    key = os.path.realpath(path)
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, _DirectoryLock())


def _timed_out(location: str, lock_file: Path, timeout: float, holder: str) -> StoreError:
    return StoreError(
        f"{location}: gave up waiting {timeout:g}s for the layout's writer lock {lock_file}",
        found=f"held by {holder}",
        hint="another writer (a parallel slsacheck sign/attest/copy into the same layout) is still at "
        "work: run the writers one after another, or raise the wait; a lock of a process that "
        "died is released by the kernel, so deleting the file is never needed",
        repository=location,
    )


def _open_lock_file(lock_file: Path, location: str) -> int:
    try:
        # Read-only is enough for flock, so a lock file made by another user still serves.
        return os.open(lock_file, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        raise StoreError(
            f"{location}: cannot write to the layout: cannot open its lock file {lock_file}: {exc.strerror}",
            hint="the layout directory must be writable to add images to it (is it mounted read-only?); "
            "reading it needs no write access",
            repository=location,
        ) from None


def _flock(lock_file: Path, location: str, timeout: float) -> int | None:
    """An open descriptor of `lock_file` holding an exclusive flock, within `timeout`."""
    if sys.platform == "win32":
        return None
    fd = _open_lock_file(lock_file, location)
    deadline = time.monotonic() + timeout
    poll = _FIRST_POLL
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                pass
            except OSError as exc:
                raise StoreError(
                    f"{location}: cannot lock {lock_file}: {exc.strerror}",
                    hint="the filesystem must support flock (local disks and NFS do)",
                    repository=location,
                ) from None
            left = deadline - time.monotonic()
            if left <= 0:
                raise _timed_out(location, lock_file, timeout, "another process")
            time.sleep(min(poll, left))
            poll = min(poll * 2, _MAX_POLL)
    except BaseException:
        os.close(fd)
        raise


@contextlib.contextmanager
def writing(path: Path, location: str, timeout: float = DEFAULT_TIMEOUT) -> Iterator[None]:
    """Hold the writer lock of the layout at `path` (an existing directory) for the block.

    Re-entrant in one thread: a nested block takes neither lock again."""
    timeout = max(timeout, 0.0)  # a negative wait would mean "forever" to RLock.acquire
    lock = _directory_lock(path)
    lock_file = path / LOCK_NAME
    if not lock.local.acquire(timeout=timeout):
        raise _timed_out(location, lock_file, timeout, "another thread of this process")
    try:
        if lock.depth == 0:
            lock.fd = _flock(lock_file, location, timeout)
        lock.depth += 1
        try:
            yield
        finally:
            lock.depth -= 1
            if lock.depth == 0 and lock.fd is not None:
                # Closing the last descriptor of the open file releases the flock.
                fd, lock.fd = lock.fd, None
                os.close(fd)
    finally:
        lock.local.release()
