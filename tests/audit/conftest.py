"""Fixtures of the audit tests: the integration tests' loopback registries, a proxy in front of
the plain-HTTP one, the ~50-image scenario behind it (tests/audit/scenario.py), and one
policy audit of it in every format, shared by the report tests (session-scoped: built once)."""

from __future__ import annotations

import contextlib
import io
import secrets
from collections.abc import Iterator

import pytest

from slsacheck.cli import main
from tests.audit.scenario import Audit, Expected, build
from tests.integration.conftest import registry_http, registry_tls, registry_token, repo_name
from tests.support.proxy import Proxy, run_proxy
from tests.support.registry import RunningRegistry

__all__ = ["registry_http", "registry_tls", "registry_token", "repo_name"]

FORMATS = ("json", "junit", "sarif", "markdown", "html", "text")


@pytest.fixture(scope="session")
def audit_proxy(registry_http: RunningRegistry) -> Iterator[Proxy]:
    with run_proxy(registry_http.host) as running:
        yield running


@pytest.fixture(scope="session")
def scenario(registry_http: RunningRegistry, audit_proxy: Proxy, tmp_path_factory: pytest.TempPathFactory
             ) -> Expected:
    return build(registry_http, audit_proxy, tmp_path_factory.mktemp("audit-scenario"),
                 f"audit-{secrets.token_hex(4)}")


@pytest.fixture(scope="session")
def policy_audit(scenario: Expected, audit_proxy: Proxy, tmp_path_factory: pytest.TempPathFactory) -> Audit:
    """`slsacheck audit` of the whole scenario with its policy, every format into one directory."""
    out = tmp_path_factory.mktemp("audit-out") / "reports"
    argv = ["audit", "--repository", scenario.app, "--repository", scenario.broken, *scenario.explicit,
            "--policy", str(scenario.policy), "--output", f"{out}/", "--concurrency", "6"]
    for fmt in FORMATS:
        argv += ["--format", fmt]
    err = io.StringIO()
    first = len(audit_proxy.requests)
    with contextlib.redirect_stderr(err):
        code = main(argv)
    return Audit(scenario, audit_proxy, code, out, err.getvalue(), list(audit_proxy.requests[first:]))
