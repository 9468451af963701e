"""Stopping a server process a test started: politely, then surely, never waiting forever.

`stop(process, grace=...)` sends SIGTERM to a process that is still running, waits up to
`grace` seconds for it to exit, and only then kills it (and waits for the kill, bounded too).
"""

from __future__ import annotations

import subprocess
from typing import Any


def stop(process: subprocess.Popen[Any], *, grace: float = 10) -> None:
    """Terminate `process` if it runs; kill it if it has not exited after `grace` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
