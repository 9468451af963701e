"""A progress bar for audits on a terminal (rich), and nothing anywhere else.

`progress(enabled)` yields a `Bar` (call it with each finished record; `total(n)` once the
sources are listed out), or None: it draws only when stderr is a TTY and `--quiet` was not
given; rich is imported only then, so pipes, CI logs and the library never load it.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

from slsacheck._display import unguarded


class Bar:
    def __init__(self, advance: Callable[[dict[str, Any]], None], total: Callable[[int], None]) -> None:
        self._advance = advance
        self.total = total

    def __call__(self, record: dict[str, Any]) -> None:
        self._advance(record)


@contextlib.contextmanager
def progress(enabled: bool) -> Iterator[Bar | None]:
    if not enabled or not sys.stderr.isatty():
        yield None
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
