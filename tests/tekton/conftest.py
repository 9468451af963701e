"""Fixtures for the Tekton tests: a registry with TLS and htpasswd auth, a key pair."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.images import buildah_images  # noqa: F401 (a session fixture the e2e tests use)
from tests.support.registry import RunningRegistry, start_registry
from tests.support.tekton_harness import VENV_BIN


@pytest.fixture(scope="session")
def tekton_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """docker-registry on loopback with TLS (a test CA) and htpasswd auth: what a Task meets
    with a private registry, its CA in the registry-ca workspace, its credentials in
    docker-credentials."""
    with start_registry(tmp_path_factory.mktemp("tekton-registry"), "auth") as running:
        yield running


@pytest.fixture(scope="session")
def signing_secrets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory laid out like the cosign-keys Secret: cosign.key, cosign.pub, cosign.password."""
    folder = tmp_path_factory.mktemp("cosign-keys")
    password = "tekton-e2e-password"
    subprocess.run(
        [str(VENV_BIN / "slsacheck"), "generate-key-pair", "--output-key-prefix", str(folder / "cosign")],
        env={**os.environ, "COSIGN_PASSWORD": password}, check=True, capture_output=True, timeout=60,
    )
    (folder / "cosign.password").write_text(password)
    return folder
