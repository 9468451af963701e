"""Registries for the integration tests: Debian's docker-registry on loopback, four ways.

`registry_http`, `registry_tls`, `registry_auth` (htpasswd) and `registry_token` (token
auth with a loopback token server) are session-scoped `RunningRegistry` values (see
`tests.support.registry`); tests keep to their own repository names so they can share
them. `pushed_image` pushes a small image and returns what it pushed.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.registry import Mode, PushedImage, RunningRegistry, push_small_image, start_registry


def _registry(tmp_path_factory: pytest.TempPathFactory, mode: Mode) -> Iterator[RunningRegistry]:
    workdir: Path = tmp_path_factory.mktemp(f"registry-{mode}")
    with start_registry(workdir, mode) as running:
        yield running


@pytest.fixture(scope="session")
def registry_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    yield from _registry(tmp_path_factory, "http")


@pytest.fixture(scope="session")
def registry_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    yield from _registry(tmp_path_factory, "tls")


@pytest.fixture(scope="session")
def registry_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    yield from _registry(tmp_path_factory, "auth")


@pytest.fixture(scope="session")
def registry_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    yield from _registry(tmp_path_factory, "token")


@pytest.fixture
def repo_name() -> str:
    """A repository name no other test uses."""
    return f"test/{secrets.token_hex(6)}"


@pytest.fixture
def pushed_image() -> Callable[..., PushedImage]:
    """`pushed_image(registry, repo, tag="v1", seed="", layer_size=64)` -> PushedImage."""

    def push(registry: RunningRegistry, repo: str, tag: str | None = "v1", **kwargs: object) -> PushedImage:
        return push_small_image(registry.store(repo), tag, **kwargs)  # type: ignore[arg-type]

    return push
