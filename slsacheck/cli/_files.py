"""Where the CLI writes files a flag names, all flags alike.

Every file-writing flag (`--outfile`, `--output FILE`, `--report`, `--record`,
`--output-key-prefix`) goes through `write_file`: a missing directory is created (as
`mkdir -p` would, with the umask's mode), the file is written whole or not at all (a
temporary sibling renamed over it), and any OS failure is an `InputError` that names the
flag, the path and the reason, never a traceback. The new file's mode follows the umask
unless the caller asks for one (a private key is 0600 whatever the umask).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from slsacheck.errors import InputError


def _refuse(flag: str, path: Path, exc: OSError, what: str) -> InputError:
    reason = exc.strerror or type(exc).__name__
    if isinstance(exc, FileExistsError | NotADirectoryError):
        reason = "a part of the path is a file, not a directory"
    return InputError(
        f"{flag} {path}: cannot write {what}: {reason}",
        hint="give a writable path; a missing directory is created, but not inside a file or a read-only place",
    )


def ensure_parent(path: Path, *, flag: str, what: str = "the file") -> None:
    """Create `path`'s directory when missing; refuse when that cannot be done."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _refuse(flag, path, exc, what) from None


def write_file(path: Path, data: bytes, *, flag: str, what: str = "the file", mode: int | None = None) -> None:
    """Write `data` to `path` whole or not at all, creating its directory.

    `mode=None` leaves the mode to the umask (as any other tool's output); an explicit mode
    is set on the file before a byte of `data` is in it.
    """
    ensure_parent(path, flag=flag, what=what)
    partial = path.with_name(f".{path.name}.partial")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666 if mode is None else mode)
        with os.fdopen(fd, "wb") as out:
            if mode is not None:
                os.fchmod(out.fileno(), mode)
            out.write(data)
        partial.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise _refuse(flag, path, exc, what) from None
