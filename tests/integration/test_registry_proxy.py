"""HTTPS to a registry through the proxy the environment names: a CONNECT tunnel, TLS end to
end (the registry's certificate is still what is checked), proxy credentials from the
proxy URL, NO_PROXY honoured, and a proxy that fails said to be the proxy."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from slsacheck.errors import RegistryError
from slsacheck.oci import RegistryClient, RegistryOptions, RegistryStore
from slsacheck.oci._errors import UntrustedCertificate
from tests.support.connect_proxy import ConnectProxy, connect_proxy
from tests.support.registry import PushedImage, RunningRegistry, free_port

_PROXY_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy",
               "NO_PROXY")


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConnectProxy]:
    for name in _PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    with connect_proxy(credentials="proxyuser:proxy pass") as running:
        yield running


def _resolve(registry: RunningRegistry, image: PushedImage, options: RegistryOptions | None = None) -> str:
    client = RegistryClient(registry.host, options or registry.options)
    return str(RegistryStore(client, image.ref.repository).resolve("v1").digest)


def test_https_goes_through_the_tunnel_with_the_proxy_credentials(
    proxy: ConnectProxy, registry_tls: RunningRegistry, repo_name: str, pushed_image: Callable[..., PushedImage],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image = pushed_image(registry_tls, repo_name)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url("proxyuser:proxy%20pass"))
    assert _resolve(registry_tls, image) == str(image.manifest.digest)
    assert proxy.tunnels and set(proxy.tunnels) == {registry_tls.host}


def test_a_proxy_that_refuses_or_is_down_is_named(
    proxy: ConnectProxy, registry_tls: RunningRegistry, repo_name: str, pushed_image: Callable[..., PushedImage],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image = pushed_image(registry_tls, repo_name)
    options = RegistryOptions(ca_bundle=registry_tls.options.ca_bundle, retries=0, timeout=5)
    for url in (proxy.url(), proxy.url("proxyuser:wrong"), f"http://127.0.0.1:{free_port()}"):
        monkeypatch.setenv("HTTPS_PROXY", url)
        with pytest.raises(RegistryError, match="the proxy in between failed") as err:
            _resolve(registry_tls, image, options)
        assert "Traceback" not in str(err.value)
    assert proxy.tunnels == []


def test_the_tunnel_does_not_stand_in_for_the_registry_certificate(
    proxy: ConnectProxy, registry_tls: RunningRegistry, repo_name: str, pushed_image: Callable[..., PushedImage],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image = pushed_image(registry_tls, repo_name)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url("proxyuser:proxy%20pass"))
    with pytest.raises(UntrustedCertificate):
        _resolve(registry_tls, image, RegistryOptions(retries=0, timeout=5))  # the system store: not the test CA


def test_no_proxy_sends_the_registry_direct(
    proxy: ConnectProxy, registry_tls: RunningRegistry, repo_name: str, pushed_image: Callable[..., PushedImage],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image = pushed_image(registry_tls, repo_name)
    monkeypatch.setenv("https_proxy", proxy.url("proxyuser:proxy%20pass"))
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.0/8")
    assert _resolve(registry_tls, image) == str(image.manifest.digest)
    assert proxy.tunnels == []
