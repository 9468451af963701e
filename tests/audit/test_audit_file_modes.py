"""Audit report files follow the umask, as any other tool's output, unless --file-mode
asks for another mode (they used to be 0600 whatever the umask)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from tests.support.cli import Cli, cli

__all__ = ["cli"]


@pytest.fixture
def umask() -> Iterator[None]:
    previous = os.umask(0o022)
    os.umask(previous)
    yield
    os.umask(previous)


def _audit(cli: Cli, tmp_path: Path, out: Path, *extra: str) -> list[int]:
    scratch.push(LayoutStore(tmp_path / "img", create=True), scratch.image({"f": b"a"}), tag="v1")
    run = cli("audit", "--quiet", "--format", "json", "--format", "html", "--output", f"{out}/", *extra,
              f"oci:{tmp_path / 'img'}:v1")
    assert run.code == 0, run.err
    return sorted(stat.S_IMODE(p.stat().st_mode) for p in out.iterdir())


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_reports_follow_the_umask(tmp_path: Path, cli: Cli, umask: None, mask: int, mode: int) -> None:
    os.umask(mask)
    assert _audit(cli, tmp_path, tmp_path / "reports") == [mode, mode]


def test_file_mode_overrides_the_umask(tmp_path: Path, cli: Cli, umask: None) -> None:
    os.umask(0o022)
    assert _audit(cli, tmp_path, tmp_path / "reports", "--file-mode", "0600") == [0o600, 0o600]


def test_a_file_mode_that_is_not_octal_is_a_usage_error(cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli("audit", "--file-mode", "rw-r--r--", "oci:/nowhere:v1")
    assert info.value.code == 2 and "not an octal file mode" in capsys.readouterr().err
