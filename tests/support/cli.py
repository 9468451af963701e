"""The `slsacheck` CLI run in-process, as the integration tests call it.

`cli(*argv)` (a pytest fixture: test modules import it by name) runs
`slsacheck.cli.main` with COSIGN_PASSWORD empty and returns a `Run`: the exit code and
what was written to stdout and stderr. `stdin=` feeds bytes to a command that reads
`-`. `registry_flags` are the flags that reach a test registry (its CA, its credentials).
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from slsacheck.cli import main
from tests.support.registry import RunningRegistry


@dataclass
class Run:
    """One `slsacheck` invocation: exit code and captured output."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Cli = Callable[..., Run]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`cli(*argv, stdin=None)` runs `slsacheck.cli.main` and returns a `Run`."""
    monkeypatch.setenv("COSIGN_PASSWORD", "")

    def run(*argv: str, stdin: bytes | None = None) -> Run:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        code = main(list(argv))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def registry_flags(reg: RunningRegistry) -> list[str]:
    """The CLI flags that reach `reg` (its CA, its credentials)."""
    flags = []
    if reg.ca_path is not None:
        flags += ["--ca-bundle", str(reg.ca_path)]
    if reg.username is not None:
        flags += ["--docker-config", str(reg.docker_config)]
    return flags
