"""Fixtures for the admission tests: the loopback registry (TLS), a CA and serving
certificate for the webhook, signed and unsigned images, a policy, and webhook servers.

The registry fixtures are the integration suite's (`tests/integration/conftest.py`),
imported so pytest finds them here too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from slsacheck.admission.app import build
from tests.admission.support import Images, RunningWebhook, TestImage, serve_webhook, write_policy
from tests.integration.conftest import registry_auth, registry_http, registry_tls  # noqa: F401 - fixtures
from tests.support.certs import Issued, issue, make_ca
from tests.support.registry import RunningRegistry


@dataclass(frozen=True)
class WebhookTLS:
    ca: Issued
    serving: Issued


@pytest.fixture(scope="session")
def webhook_tls(tmp_path_factory: pytest.TempPathFactory) -> WebhookTLS:
    directory = tmp_path_factory.mktemp("webhook-certs")
    ca = make_ca(directory, "slsacheck webhook test CA")
    return WebhookTLS(ca, issue(ca, directory, "webhook", hosts=("127.0.0.1", "localhost")))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("admission")


@pytest.fixture(scope="module")
def images(registry_tls: RunningRegistry, workdir: Path) -> Images:  # noqa: F811
    return Images(registry_tls, workdir)


@dataclass(frozen=True)
class Stock:
    """Images every test of a module may use: signed ones and an unsigned one."""

    good: tuple[TestImage, ...]
    bad: TestImage


@pytest.fixture(scope="module")
def stock(images: Images) -> Stock:
    good = tuple(images.signed(f"good{i}") for i in range(4))
    return Stock(good, images.push("unsigned"))


@pytest.fixture(scope="module")
def policy(workdir: Path, registry_tls: RunningRegistry, images: Images) -> Path:  # noqa: F811
    return write_policy(workdir, registry_tls)


ServerFactory = Callable[..., RunningWebhook]


@pytest.fixture
def start_webhook(webhook_tls: WebhookTLS, registry_tls: RunningRegistry,  # noqa: F811
                  policy: Path) -> Iterator[ServerFactory]:
    """`start_webhook(policies=[...], mode=..., budget_seconds=..., **build_kwargs)` -> a running webhook."""
    with ExitStack() as stack:

        def start(policies: list[Path] | None = None, **kwargs: Any) -> RunningWebhook:
            options = kwargs.pop("options", replace(registry_tls.options, retries=0))
            webhook = build(policies or [policy], options, **kwargs)
            return stack.enter_context(serve_webhook(webhook, webhook_tls.serving, webhook_tls.ca.cert_path))

        yield start


@pytest.fixture
def webhook(start_webhook: ServerFactory) -> RunningWebhook:
    return start_webhook()
