"""A Tekton result directory, read as untrusted input that ends up signed and published.

In-step provenance records the files of the result directory (`/tekton/results`, or a
StepAction's step results) as subjects, inputs and byproducts of a statement that is then
signed and pushed to a registry. Every earlier step of the same Task can write to that
directory, and the attesting step holds the signing key, its password and registry
credentials. So a file there is read only when it is exactly what Tekton makes a result:

- opened relative to the directory with `O_NOFOLLOW` (a symbolic link is refused, never
  followed: a link to `/proc/self/environ` or to a mounted Secret would publish it), and
  `O_NONBLOCK` (a FIFO cannot hang the step); then checked with `fstat` on the open
  descriptor, so what is checked is what is read (no check-then-open race);
- a regular file with one link (a hard link is another name for a file someone else
  named), at most `MAX_RESULT_BYTES`, UTF-8 text;
- named as Tekton names results (`RESULT_NAME`);
- at most `MAX_FILES` files and `MAX_TOTAL_BYTES` in all.

Anything else is a `RunError` naming the file: nothing is skipped silently, because a
result the step cannot read is a result the provenance would not record.
The directory path itself comes from the Task's own script (`$(results.X.path)`), not
from an earlier step, and may pass through Tekton's own links (`/tekton/steps/...`).
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

from slsacheck.provenance.findings import RunError
from slsacheck.provenance.runs import MAX_RESULT_BYTES

# Tekton's ResultNameFormat (pkg/apis/pipeline/v1/result_validation.go).
RESULT_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
MAX_FILES = 64
MAX_TOTAL_BYTES = 4 * MAX_RESULT_BYTES
_HINT = (
    "the result directory holds only the results earlier steps wrote with printf; remove the entry, "
    "or write the value itself as a result"
)


def read_results(path: Path) -> list[tuple[str, str]]:
    """(name, text) of every result file in `path`, sorted by name; see the module docstring."""
    try:
        dir_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise RunError(
            f"cannot read the result directory {path}: {exc.strerror or exc}",
            hint="pass the Task's result directory (/tekton/results, or the directory of $(results.NAME.path))",
        ) from exc
    try:
        names = sorted(os.listdir(dir_fd))
        if len(names) > MAX_FILES:
            raise RunError(
                f"the result directory {path} holds {len(names)} entries",
                expected=f"at most {MAX_FILES} result files",
                found=f"{len(names)} entries",
                hint=_HINT,
            )
        out: list[tuple[str, str]] = []
        total = 0
        for name in names:
            text = _read_one(dir_fd, path / name, name)
            total += len(text.encode("utf-8"))
            if total > MAX_TOTAL_BYTES:
                raise RunError(
                    f"the result files in {path} add up to more than {MAX_TOTAL_BYTES >> 20} MiB (at {name})",
                    expected=f"at most {MAX_TOTAL_BYTES} bytes in all",
                    found=f"over {total} bytes",
                    hint="write large outputs to a registry and put their digest in the result",
                )
            out.append((name, text))
        return out
    finally:
        os.close(dir_fd)


def _refuse(where: Path, what: str, found: str) -> RunError:
    return RunError(
        f"result file {where} is {what}; not read",
        expected="a regular file written by an earlier step, named as a Tekton result",
        found=found,
        hint=_HINT,
    )


def _read_one(dir_fd: int, where: Path, name: str) -> str:
    if not RESULT_NAME.fullmatch(name):
        raise _refuse(where, "not named as a Tekton result", repr(name)[:80])
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refuse(where, "a symbolic link", "a symbolic link") from exc
        raise RunError(f"cannot read result file {where}: {exc.strerror or exc}", hint=_HINT) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _refuse(where, _kind(info.st_mode), _kind(info.st_mode))
        if info.st_nlink != 1:
            raise _refuse(where, "a hard link", f"{info.st_nlink} links to one file")
        if info.st_size > MAX_RESULT_BYTES:
            raise _too_large(where, info.st_size)
        data = _read_bounded(fd, where)
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RunError(f"result file {where} is not UTF-8 text", hint=_HINT) from exc


def _read_bounded(fd: int, where: Path) -> bytes:
    # The size from fstat is a hint: a file still being appended to is cut at the cap.
    chunks: list[bytes] = []
    size = 0
    while chunk := os.read(fd, 1 << 16):
        size += len(chunk)
        if size > MAX_RESULT_BYTES:
            raise _too_large(where, size)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(where: Path, size: int) -> RunError:
    return RunError(
        f"result file {where} is {size / 1e6:.1f} MB, too large to be a Tekton result",
        expected=f"at most {MAX_RESULT_BYTES >> 10} KiB",
        found=f"{size} bytes or more",
        hint="write large outputs to a registry and put their digest in the result",
    )


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"
