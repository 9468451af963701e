"""Shared fixtures. Real parts (registry, buildah, skopeo, node peers) live in tests/support."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.env import shared_dir


@pytest.fixture(scope="session")
def shared() -> Path:
    return shared_dir()


@pytest.fixture(autouse=True, scope="session")
def _private_trust_root_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test reads or fills the user's TUF cache: a run starts with nothing cached."""
    import os

    os.environ["SLSACHECK_CACHE"] = str(tmp_path_factory.mktemp("slsacheck-cache"))
