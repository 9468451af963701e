"""Where the tests find what they need, and what happens when it is missing.

Upstream reference data stays in the shared folder beside the project (`../shared`,
or `$SLSACHECK_SHARED`); the project commits no copy. A missing tool, peer or data
folder skips the test on a developer's machine and fails it in CI (`CI=true`), where
everything must be present.
"""

from __future__ import annotations

import importlib
import os
import shutil
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(what: str) -> None:
    """Skip (developer machine) or fail (CI) because `what` is not available."""
    if IN_CI:
        pytest.fail(f"{what} is required in CI (CI=true) but is missing", pytrace=False)
    pytest.skip(f"{what} is not available")


def shared_dir() -> Path:
    """The shared folder of upstream data: `$SLSACHECK_SHARED`, default `../shared`."""
    path = Path(os.environ.get("SLSACHECK_SHARED", ROOT.parent / "shared"))
    if not path.is_dir():
        missing(f"upstream reference data (SLSACHECK_SHARED={path})")
    return path


def shared_file(*parts: str) -> Path:
    path = shared_dir().joinpath(*parts)
    if not path.exists():
        missing(f"upstream reference file {path} (SLSACHECK_SHARED)")
    return path


def require_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        missing(f"the tool {name!r} (Debian package; dev/test installs it)")
    assert found is not None
    return found


def require_module(name: str, where: str = "the test extra") -> types.ModuleType:
    """Import `name`, or skip (developer machine) / fail (CI) naming where it comes from."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f"the Python module {name!r} ({where}; ./dev/test installs it)")
        raise  # unreachable: missing() skips or fails

