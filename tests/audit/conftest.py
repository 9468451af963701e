"""The audit tests share the integration tests' loopback registries (tests/integration/conftest.py)."""

from tests.integration.conftest import registry_http, registry_tls, repo_name

__all__ = ["registry_http", "registry_tls", "repo_name"]
