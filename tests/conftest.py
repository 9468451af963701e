"""Shared fixtures. Real parts (registry, buildah, skopeo, node peers) live in tests/support."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.env import shared_dir


@pytest.fixture(scope="session")
def shared() -> Path:
    return shared_dir()
