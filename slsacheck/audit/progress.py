"""Progress of an audit on stderr: a bar on a terminal, plain lines everywhere else.

`progress(enabled, interval=...)` yields a `Bar` (call it with each finished record;
`total(n)` once the sources are listed out), or None when `--quiet` was given. On a
terminal it draws a rich progress bar (rich is imported only then). Without a terminal
(CI logs, pipes) it writes one plain line every `interval` seconds, and one at the end:
`audited 1200/5000, 3 failed, 2 errors, 41 img/s` (`/?` while the sources are still
being listed). The library never prints: only the CLI asks for progress.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from slsacheck._display import unguarded

DEFAULT_INTERVAL = 30.0


class Bar:
    def __init__(self, advance: Callable[[dict[str, Any]], None], total: Callable[[int], None]) -> None:
        self._advance = advance
        self.total = total

    def __call__(self, record: dict[str, Any]) -> None:
        self._advance(record)


class Lines:
    """Counts records and writes a line when `interval` seconds have passed since the last one."""

    def __init__(self, out: TextIO, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._out = out
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._started = self._last = clock()
        self.done = self.failed = self.errors = 0
        self.expected: int | None = None

    def record(self, record: dict[str, Any]) -> None:
        with self._lock:
            self.done += 1
            outcome = record.get("outcome")
            self.failed += outcome == "fail"
            self.errors += outcome == "error"
            now = self._clock()
            if now - self._last >= self._interval:
                self._last = now
                self._write(now)

    def total(self, count: int) -> None:
        with self._lock:
            self.expected = count

    def finish(self) -> None:
        with self._lock:
            self._write(self._clock())

    def line(self, now: float) -> str:
        elapsed = max(now - self._started, 1e-6)
        total = "?" if self.expected is None else str(self.expected)
        return (f"audited {self.done}/{total}, {self.failed} failed, {self.errors} errors, "
                f"{self.done / elapsed:.0f} img/s")

    def _write(self, now: float) -> None:
        print(self.line(now), file=self._out, flush=True)


@contextlib.contextmanager
def progress(enabled: bool, *, interval: float = DEFAULT_INTERVAL) -> Iterator[Bar | None]:
    if not enabled:
        yield None
        return
    if not sys.stderr.isatty():
        lines = Lines(unguarded(sys.stderr), interval)
        yield Bar(lines.record, lines.total)
        lines.finish()
        return
    try:
        from rich.console import Console  # noqa: PLC0415 - only for terminals
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: PLC0415
    except ImportError:  # rich is a dependency; a broken install still audits, silently
        yield None
        return
    counts = {"pass": 0, "warn": 0, "fail": 0, "error": 0, "inventory": 0}
    with Progress(TextColumn("auditing"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), console=Console(file=unguarded(sys.stderr)), transient=True) as bar:
        task = bar.add_task("", total=None)

        def update(record: dict[str, Any]) -> None:
            outcome = str(record.get("outcome"))
            counts[outcome] = counts.get(outcome, 0) + 1
            text = " ".join(f"{k} {v}" for k, v in counts.items() if v)
            bar.update(task, advance=1, description=text)

        def total(count: int) -> None:
            bar.update(task, total=count)

        yield Bar(update, total)
