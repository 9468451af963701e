"""A progress bar for audits on a terminal (rich), and nothing anywhere else.

`progress(enabled)` yields a callback taking each finished record. It draws only when
stderr is a TTY and `--quiet` was not given; rich is imported only then, so pipes, CI
logs and the library never load it. The total grows as sources are listed.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

Callback = Callable[[dict[str, Any]], None]


@contextlib.contextmanager
def progress(enabled: bool) -> Iterator[Callback | None]:
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
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("", total=None)

        def update(record: dict[str, Any]) -> None:
            outcome = str(record.get("outcome"))
            counts[outcome] = counts.get(outcome, 0) + 1
            text = " ".join(f"{k} {v}" for k, v in counts.items() if v)
            bar.update(task, advance=1, description=text)

        yield update
