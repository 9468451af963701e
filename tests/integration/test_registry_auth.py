"""Auth and TLS against the real registry: htpasswd Basic, token (Bearer) auth through a
loopback token server, credentials from docker config files and credential helpers,
wrong credentials, unknown CAs, and plain HTTP refused where it is not allowed."""

from __future__ import annotations

import json
import os
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from slsacheck.errors import AuthError, TLSError
from slsacheck.oci import RegistryClient, RegistryOptions, RegistryStore
from tests.support.certs import make_ca
from tests.support.registry import (
    PushedImage,
    RunningRegistry,
    basic_auth_entry,
    push_small_image,
    write_docker_config,
)

pytestmark = pytest.mark.integration


def _with_config(registry: RunningRegistry, config: Path) -> RegistryOptions:
    return RegistryOptions(ca_bundle=registry.options.ca_bundle, docker_config=str(config), timeout=10.0)


def _assert_secret_absent(err: BaseException, secret: str) -> None:
    assert isinstance(err, AuthError)
    for text in (str(err), err.diagnostics(), repr(err), str(err.hint), str(err.found), str(err.expected)):
        assert secret not in text


# -- Basic (htpasswd) ---------------------------------------------------------------------------


def test_basic_auth_from_docker_config(registry_auth: RunningRegistry, repo_name: str,
                                       pushed_image: Callable[..., PushedImage]) -> None:
    image = pushed_image(registry_auth, repo_name, "v1")
    store = registry_auth.store(repo_name)
    assert store.fetch_manifest("v1").raw == image.manifest_bytes
    assert store.client.token_requests == 0


def test_basic_auth_without_credentials(registry_auth: RunningRegistry, repo_name: str, tmp_path: Path) -> None:
    config = write_docker_config(tmp_path / "config.json", {})
    store = registry_auth.store(repo_name, _with_config(registry_auth, config))
    with pytest.raises(AuthError) as err:
        store.resolve("v1")
    assert err.value.status == 401 and err.value.registry == registry_auth.host
    assert registry_auth.host in err.value.message
    assert f"no credential for this registry in {config}" in str(err.value.hint)


def test_basic_auth_wrong_password_names_source_never_secret(registry_auth: RunningRegistry, repo_name: str,
                                                              tmp_path: Path) -> None:
    wrong = "wrong-" + "x" * 12
    config = write_docker_config(tmp_path / "config.json",
                                 {registry_auth.host: basic_auth_entry("slsacheck", wrong)})
    store = registry_auth.store(repo_name, _with_config(registry_auth, config))
    with pytest.raises(AuthError) as err:
        store.resolve("v1")
    assert err.value.status == 401
    assert registry_auth.host in err.value.message
    hint = str(err.value.hint)
    assert str(config) in hint and registry_auth.host in hint and "'slsacheck'" in hint
    _assert_secret_absent(err.value, wrong)
    assert registry_auth.password is not None
    _assert_secret_absent(err.value, registry_auth.password)


def test_docker_config_environment_variable(registry_auth: RunningRegistry, repo_name: str,
                                            monkeypatch: pytest.MonkeyPatch,
                                            pushed_image: Callable[..., PushedImage]) -> None:
    image = pushed_image(registry_auth, repo_name, "v1")
    monkeypatch.setenv("DOCKER_CONFIG", str(registry_auth.docker_config.parent))
    monkeypatch.setenv("HOME", str(registry_auth.docker_config.parent / "no-home"))
    store = registry_auth.store(repo_name, RegistryOptions(ca_bundle=registry_auth.options.ca_bundle))
    assert store.resolve("v1").digest == image.manifest.digest


# -- credential helper ------------------------------------------------------------------------------


@pytest.fixture
def helper_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, Any]], Path]:
    """Install `docker-credential-test` answering with the given JSON; returns the log of asks."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    asked = tmp_path / "asked"

    def install(answer: dict[str, Any]) -> Path:
        script = bin_dir / "docker-credential-test"
        script.write_text(f"#!/bin/sh\nread server\necho \"$1 $server\" >> {asked}\ncat <<'EOF'\n"
                          f"{json.dumps(answer)}\nEOF\n")
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        return asked

    return install


def test_credential_helper_basic(registry_auth: RunningRegistry, repo_name: str, tmp_path: Path,
                                 helper_on_path: Callable[[dict[str, Any]], Path],
                                 pushed_image: Callable[..., PushedImage]) -> None:
    image = pushed_image(registry_auth, repo_name, "v1")
    asked = helper_on_path({"ServerURL": registry_auth.host, "Username": registry_auth.username,
                            "Secret": registry_auth.password})
    config = write_docker_config(tmp_path / "c" / "config.json", {}, credHelpers={registry_auth.host: "test"})
    store = registry_auth.store(repo_name, _with_config(registry_auth, config))
    assert store.resolve("v1").digest == image.manifest.digest
    assert asked.read_text().split() == ["get", registry_auth.host]


def test_credential_helper_wrong_secret(registry_auth: RunningRegistry, repo_name: str, tmp_path: Path,
                                        helper_on_path: Callable[[dict[str, Any]], Path]) -> None:
    helper_on_path({"ServerURL": registry_auth.host, "Username": "slsacheck", "Secret": "helper-secret-1234"})
    config = write_docker_config(tmp_path / "c" / "config.json", {}, credsStore="test")
    store = registry_auth.store(repo_name, _with_config(registry_auth, config))
    with pytest.raises(AuthError) as err:
        store.resolve("v1")
    assert "docker-credential-test" in str(err.value.hint) and "credsStore" in str(err.value.hint)
    _assert_secret_absent(err.value, "helper-secret-1234")


# -- Bearer tokens ------------------------------------------------------------------------------------


def test_token_auth_round_trip_and_token_reuse(registry_token: RunningRegistry, repo_name: str) -> None:
    server = registry_token.token_server
    assert server is not None
    store = registry_token.store(repo_name)
    image = push_small_image(store, "v1")
    before = len(server.issued)
    for _ in range(5):
        assert store.resolve("v1").digest == image.manifest.digest
        assert store.fetch_blob(image.config) == image.config_bytes
    assert len(server.issued) - before <= 1  # one pull token, reused (none if cached already)
    users = {user for user, _ in server.issued}
    assert users == {"slsacheck"}
    scopes = {s for _, asked in server.issued for s in asked}
    assert f"repository:{repo_name}:pull,push" in scopes and f"repository:{repo_name}:pull" in scopes


def test_token_scope_per_repository(registry_token: RunningRegistry, repo_name: str) -> None:
    server = registry_token.token_server
    assert server is not None
    client = registry_token.client()
    first = RegistryStore(client, repo_name + "-a")
    second = RegistryStore(client, repo_name + "-b")
    push_small_image(first, "v1")
    push_small_image(second, "v1")
    scopes = {s for _, asked in server.issued for s in asked}
    assert {f"repository:{repo_name}-a:pull,push", f"repository:{repo_name}-b:pull,push"} <= scopes


def test_expired_or_rejected_token_is_replaced(registry_token: RunningRegistry, repo_name: str) -> None:
    server = registry_token.token_server
    assert server is not None
    store = registry_token.store(repo_name)
    image = push_small_image(store, "v1")
    store.resolve("v1")
    fetched = store.client.token_requests
    # A token the registry does not accept any more (revoked, signed by a rotated key).
    store.client._tokens = {k: ("Bearer not.a.token", v[1]) for k, v in store.client._tokens.items()}
    assert store.resolve("v1").digest == image.manifest.digest
    assert store.client.token_requests == fetched + 1
    # A token past its lifetime is not sent at all.
    store.client._tokens = {k: (v[0], 0.0) for k, v in store.client._tokens.items()}
    store.resolve("v1")
    assert store.client.token_requests == fetched + 2


def test_token_auth_wrong_password(registry_token: RunningRegistry, repo_name: str, tmp_path: Path) -> None:
    wrong = "not-the-password-5678"
    config = write_docker_config(tmp_path / "config.json", {registry_token.host: basic_auth_entry("slsacheck", wrong)})
    store = registry_token.store(repo_name, _with_config(registry_token, config))
    with pytest.raises(AuthError) as err:
        store.resolve("v1")
    assert registry_token.host in err.value.message and "token server" in err.value.message
    assert str(config) in str(err.value.hint)
    _assert_secret_absent(err.value, wrong)


def test_token_auth_anonymous_is_refused(registry_token: RunningRegistry, repo_name: str, tmp_path: Path) -> None:
    store = registry_token.store(repo_name, _with_config(registry_token, write_docker_config(tmp_path / "c.json", {})))
    with pytest.raises(AuthError) as err:
        store.resolve("v1")
    assert err.value.status == 401 and "no credential" in str(err.value.hint)


def test_identity_token_from_helper(registry_token: RunningRegistry, repo_name: str, tmp_path: Path,
                                    helper_on_path: Callable[[dict[str, Any]], Path]) -> None:
    server = registry_token.token_server
    assert server is not None
    image = push_small_image(registry_token.store(repo_name), "v1")
    refresh = server.new_refresh_token("slsacheck")
    helper_on_path({"ServerURL": registry_token.host, "Username": "<token>", "Secret": refresh})
    config = write_docker_config(tmp_path / "c" / "config.json", {}, credHelpers={registry_token.host: "test"})
    store = registry_token.store(repo_name, _with_config(registry_token, config))
    assert store.fetch_manifest("v1").raw == image.manifest_bytes
    # A refresh token the server does not know: refused, and the message says where it came from.
    helper_on_path({"ServerURL": registry_token.host, "Username": "<token>", "Secret": "stale-refresh-token"})
    store = registry_token.store(repo_name, _with_config(registry_token, config))
    with pytest.raises(AuthError) as err:
        store.resolve("v1")
    assert "identity token" in str(err.value.hint) and "docker-credential-test" in str(err.value.hint)
    _assert_secret_absent(err.value, "stale-refresh-token")


# -- TLS -------------------------------------------------------------------------------------------


def test_unknown_ca_is_a_tls_error(registry_tls: RunningRegistry, repo_name: str, tmp_path: Path) -> None:
    other_ca = make_ca(tmp_path / "other")
    for options in (RegistryOptions(ca_bundle=str(other_ca.cert_path)), RegistryOptions()):
        with pytest.raises(TLSError) as err:
            registry_tls.store(repo_name, options).resolve("v1")
        assert registry_tls.host in err.value.message and "does not verify" in err.value.message
        assert "--ca-bundle" in str(err.value.hint)


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """`registry.example.test` resolves to 127.0.0.1 (a name that is not a loopback name)."""
    name = "registry.example.test"
    real = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host == name else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    yield name


def test_plain_http_refused_for_non_loopback_name(registry_http: RunningRegistry, repo_name: str,
                                                  fake_dns: str, pushed_image: Callable[..., PushedImage]) -> None:
    image = pushed_image(registry_http, repo_name, "v1")
    port = registry_http.host.rsplit(":", 1)[1]
    name = f"{fake_dns}:{port}"
    with pytest.raises(TLSError) as err:
        RegistryStore(RegistryClient(name, RegistryOptions(retries=0)), repo_name).resolve("v1")
    assert "--allow-http-registry" in str(err.value.hint)
    allowed = RegistryStore(RegistryClient(name, RegistryOptions(allow_http=frozenset({name}))), repo_name)
    assert allowed.resolve("v1").digest == image.manifest.digest
    assert allowed.client.base_url == f"http://{name}"


def test_loopback_tls_registry_is_not_downgraded(registry_tls: RunningRegistry) -> None:
    client = registry_tls.client()
    assert client.base_url == f"https://{registry_tls.host}"


def test_certificate_for_another_name_is_refused(registry_tls: RunningRegistry, repo_name: str,
                                                 fake_dns: str) -> None:
    port = registry_tls.host.rsplit(":", 1)[1]
    client = RegistryClient(f"{fake_dns}:{port}", RegistryOptions(ca_bundle=registry_tls.options.ca_bundle))
    with pytest.raises(TLSError) as err:
        RegistryStore(client, repo_name).resolve("v1")
    assert "does not verify" in err.value.message
