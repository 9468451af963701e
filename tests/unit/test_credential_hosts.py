"""Which hosts a registry's credential may reach: the rules, without a network.

The integration tests (tests/integration/test_credential_scope.py) show the rules at work
against a real registry; here are the edges of the host comparison itself.
"""

from __future__ import annotations

import pytest

from slsacheck.errors import RegistryError, TLSError
from slsacheck.oci._http import RegistryClient, origin


def _client(registry: str, base: str) -> RegistryClient:
    client = RegistryClient(registry)
    client._base = base  # as if `/v2/` had been pinged
    return client


@pytest.mark.parametrize(("a", "b", "same"), [
    ("https://r.example/v2/x", "https://R.example:443/v2/y", True),
    ("https://r.example/v2/x", "https://r.example:8443/v2/x", False),
    ("https://r.example/v2/x", "http://r.example/v2/x", False),
    ("https://r.example/v2/x", "https://r.example.evil/v2/x", False),
    ("https://r.example@evil.example/v2/", "https://r.example/v2/", False),
])
def test_origin_is_scheme_host_and_port(a: str, b: str, same: bool) -> None:
    assert (origin(a) == origin(b)) is same


@pytest.mark.parametrize(("registry", "base", "realm", "trusted"), [
    ("r.example:5000", "https://r.example:5000", "https://r.example:5001/token", True),
    ("registry.gitlab.com", "https://registry.gitlab.com", "https://gitlab.com/jwt/auth", True),
    ("index.docker.io", "https://registry-1.docker.io", "https://auth.docker.io/token", True),
    ("r.example", "https://r.example", "https://evil.example/token", False),
    ("r.example", "https://r.example", "https://example/token", False),  # one label: no parent rule
    ("gitlab.com", "https://gitlab.com", "https://registry.gitlab.com/token", False),  # children are not parents
    ("127.0.0.1:5000", "https://127.0.0.1:5000", "https://0.0.1/token", False),  # addresses have no parents
    ("127.0.0.1:5000", "https://127.0.0.1:5000", "https://localhost:5000/token", False),
    ("quay.io", "https://quay.io", "https://auth.docker.io/token", False),  # Docker Hub's pair is Hub's alone
])
def test_the_credential_goes_to_a_token_realm_on_the_registry_host_only(
        registry: str, base: str, realm: str, trusted: bool) -> None:
    assert _client(registry, base)._realm_trusted(realm) is trusted


@pytest.mark.parametrize("handed_back", ["http://r.example/v2/x/blobs/uploads/1", "ftp://r.example/x",
                                         "//evil.example:80/x"])
def test_a_url_that_leaves_https_is_refused(handed_back: str) -> None:
    client = _client("r.example", "https://r.example")
    if handed_back.startswith("//"):
        # Scheme-relative: stays on HTTPS, so it is followed, but on another origin (no credential).
        assert not client.same_origin(client.url(handed_back))
        return
    with pytest.raises(TLSError, match="leaves HTTPS"):
        client.url(handed_back)


def test_a_plain_http_registry_may_hand_back_its_own_http_urls() -> None:
    client = _client("127.0.0.1:5000", "http://127.0.0.1:5000")
    assert client.same_origin(client.url("http://127.0.0.1:5000/v2/x/tags/list?last=a"))
    assert not client.same_origin(client.url("http://127.0.0.1:5001/v2/x/tags/list?last=a"))


@pytest.mark.parametrize("handed_back", ["https://user:secret@r.example/v2/x/tags/list",
                                         "https://someone@r.example/v2/x/blobs/uploads/1"])
def test_a_url_with_its_own_credential_is_refused(handed_back: str) -> None:
    client = _client("r.example", "https://r.example")
    with pytest.raises(RegistryError, match="user name or password"):
        client.url(handed_back)
