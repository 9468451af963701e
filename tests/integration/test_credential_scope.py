"""A registry's credential stays with the registry: URLs it hands back are not trusted.

The registry is the real htpasswd one over TLS, behind a TLS proxy that rewrites its answers
as a hostile or misconfigured registry would: a pagination `Link`, an upload `Location`, a
referrers page or a token realm that points at another loopback server (`Recorder`), over
plain HTTP (a downgrade: refused, nothing sent) or over HTTPS on another host name (followed,
without the credential). The recorder writes down every `Authorization` header it receives.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from slsacheck.errors import Error, TLSError
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Descriptor
from slsacheck.oci import RegistryClient, RegistryOptions, RegistryStore
from tests.integration.conftest import registry_auth
from tests.support.cli import Cli, cli
from tests.support.proxy import Proxy, run_proxy
from tests.support.recorder import Recorder, run_recorder
from tests.support.registry import RunningRegistry, basic_auth_entry, push_scratch, write_docker_config
from tests.support.servers import tls_context

__all__ = ["cli", "registry_auth"]


@dataclass
class Front:
    """The TLS proxy in front of the auth registry, with a docker config holding its credential."""

    registry: RunningRegistry
    proxy: Proxy
    docker_config: Path
    plain: Recorder  # another host over plain HTTP
    other: Recorder  # another host (name `localhost`) over HTTPS

    @property
    def host(self) -> str:
        return self.proxy.host

    @property
    def options(self) -> RegistryOptions:
        assert self.registry.ca_path is not None
        return RegistryOptions(ca_bundle=str(self.registry.ca_path), docker_config=str(self.docker_config),
                               timeout=10.0, retries=0, tags_page_size=1)

    def store(self, repo: str) -> RegistryStore:
        return RegistryStore(RegistryClient(self.host, self.options), repo)

    def flags(self) -> list[str]:
        assert self.registry.ca_path is not None
        return ["--ca-bundle", str(self.registry.ca_path), "--docker-config", str(self.docker_config)]

    def leaked(self) -> list[str]:
        return self.plain.credentials_seen + self.other.credentials_seen


@pytest.fixture
def front(registry_auth: RunningRegistry, tmp_path: Path) -> Iterator[Front]:
    certs = registry_auth.storage.parent / "certs"
    tls = tls_context(str(certs / "registry.crt"), str(certs / "registry.key"))
    assert registry_auth.ca_path is not None and registry_auth.username and registry_auth.password
    with run_proxy(registry_auth.host, upstream_ca=str(registry_auth.ca_path), tls=tls) as proxy, \
            run_recorder() as plain, run_recorder(tls=tls) as other:
        config = write_docker_config(tmp_path / "docker" / "config.json",
                                     {proxy.host: basic_auth_entry(registry_auth.username, registry_auth.password)})
        yield Front(registry_auth, proxy, config, plain, other)


def _two_tags(front: Front, repo: str) -> None:
    push_scratch(front.registry, repo, "a", f"{repo}-a")
    push_scratch(front.registry, repo, "b", f"{repo}-b")


@pytest.mark.parametrize("link", ["relative", "absolute"])
def test_same_origin_pages_keep_the_credential(front: Front, repo_name: str, link: str) -> None:
    _two_tags(front, repo_name)
    url = f"/v2/{repo_name}/tags/list?n=1&page=2"
    if link == "absolute":
        url = f"https://{front.host}{url}"
    front.proxy.add_headers("/tags/list", {"Link": f'<{url}>; rel="next"'}, times=1)
    # The second page needs the credential too (the registry answers 401 without it).
    assert sorted(front.store(repo_name).tags()) == ["a", "a", "b", "b"]
    assert front.proxy.count("GET", "/tags/list") == 2


@pytest.mark.parametrize("to", ["plain", "other"])
def test_audit_repository_tag_pages_send_no_credential_off_the_registry(
        front: Front, repo_name: str, cli: Cli, to: str) -> None:
    _two_tags(front, repo_name)
    recorder = front.plain if to == "plain" else front.other
    host = "127.0.0.1" if to == "plain" else "localhost"
    link = recorder.url(f"/v2/{repo_name}/tags/list?last=a&n=1", host=host)
    front.proxy.add_headers("/tags/list", {"Link": f'<{link}>; rel="next"'})
    run = cli("audit", "--repository", f"{front.host}/{repo_name}", "--quiet", *front.flags(),
              "--format", "json")
    assert front.leaked() == []
    if to == "plain":
        assert front.plain.seen == []  # refused before anything was sent
        doc = run.json()
        errors = [i["error"] for i in doc["images"] if i.get("error")]
        assert any("leaves HTTPS" in e for e in errors), errors
        assert run.code == 3
    else:
        assert [r.path.split("?")[0] for r in front.other.seen] == [f"/v2/{repo_name}/tags/list"]


@pytest.mark.parametrize("to", ["plain", "other"])
def test_catalog_pages_send_no_credential_off_the_registry(front: Front, cli: Cli, to: str,
                                                           repo_name: str) -> None:
    _two_tags(front, repo_name)
    recorder = front.plain if to == "plain" else front.other
    link = recorder.url("/v2/_catalog?last=x&n=1", host="127.0.0.1" if to == "plain" else "localhost")
    front.proxy.add_headers("/v2/_catalog", {"Link": f'<{link}>; rel="next"'})
    front.proxy.fail("/tags/list", 404, times=None)  # keep the audit to the listing itself
    run = cli("audit", "--registry", front.host, "--quiet", *front.flags(), "--format", "json")
    assert front.leaked() == []
    assert front.proxy.count("GET", "/v2/_catalog") >= 1
    if to == "plain":
        assert front.plain.seen == []
        assert "leaves HTTPS" in run.out
    else:
        assert [r.path.split("?")[0] for r in front.other.seen] == ["/v2/_catalog"]


@pytest.mark.parametrize("to", ["plain", "other"])
def test_referrers_pages_send_no_credential_off_the_registry(front: Front, repo_name: str, to: str) -> None:
    push_scratch(front.registry, repo_name, "a", repo_name)
    store = front.store(repo_name)
    subject = store.resolve("a").digest
    recorder = front.plain if to == "plain" else front.other
    recorder.body = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}).encode()
    link = recorder.url(f"/v2/{repo_name}/referrers/{subject}?page=2", host="127.0.0.1" if to == "plain"
                        else "localhost")
    index = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}).encode()
    front.proxy.respond("/referrers/", 200, index, headers={"Content-Type": mt.OCI_INDEX,
                                                            "Link": f'<{link}>; rel="next"'}, times=1)
    if to == "plain":
        with pytest.raises(TLSError, match="leaves HTTPS"):
            store.referrers(subject)
        assert front.plain.seen == []
    else:
        assert store.referrers(subject) == []
        assert [r.path.split("?")[0] for r in front.other.seen] == [f"/v2/{repo_name}/referrers/{subject}"]
    assert front.leaked() == []


@pytest.mark.parametrize("to", ["plain", "other"])
def test_upload_location_off_the_registry_gets_no_credential(front: Front, repo_name: str, to: str) -> None:
    recorder = front.plain if to == "plain" else front.other
    recorder.status = 201
    location = recorder.url(f"/v2/{repo_name}/blobs/uploads/stolen", host="127.0.0.1" if to == "plain"
                            else "localhost")
    front.proxy.add_headers("/blobs/uploads/", {"Location": location}, method="POST")
    data = b"layer bytes for " + repo_name.encode()
    blob = Descriptor.of(data, mt.OCI_LAYER)
    store = front.store(repo_name)
    if to == "plain":
        with pytest.raises(TLSError, match="leaves HTTPS"):
            store.push_blob(blob, data)
        assert front.plain.seen == []
    else:
        store.push_blob(blob, data)  # the other host said 201: the upload went there, bare
        assert [r.method for r in front.other.seen] == ["PUT"]
    assert front.leaked() == []


def test_token_realm_over_plain_http_is_refused(front: Front, repo_name: str) -> None:
    realm = front.plain.url("/token")
    front.proxy.add_headers("/v2/", {"WWW-Authenticate": f'Bearer realm="{realm}",service="registry"'})
    with pytest.raises(TLSError, match="plain HTTP") as caught:
        list(front.store(repo_name).tags())
    assert front.plain.seen == []
    assert caught.value.exit_code == 3


def test_token_realm_on_another_host_gets_an_anonymous_request(front: Front, repo_name: str) -> None:
    front.other.body = json.dumps({"token": "anonymous", "expires_in": 300}).encode()
    realm = front.other.url("/token", host="localhost")
    front.proxy.add_headers("/v2/", {"WWW-Authenticate": f'Bearer realm="{realm}",service="registry"'})
    with pytest.raises(Error):  # the registry itself takes no such token
        list(front.store(repo_name).tags())
    assert {r.path.split("?")[0] for r in front.other.seen} == {"/token"}
    assert front.leaked() == []


@pytest.mark.parametrize("to", ["same", "plain", "other"])
def test_redirects_keep_the_credential_home_and_never_leave_https(front: Front, repo_name: str, to: str) -> None:
    push_scratch(front.registry, repo_name, "a", repo_name)
    store = front.store(repo_name)
    manifest = store.fetch_manifest("a")
    layer = manifest.layers[0]
    path = f"/v2/{repo_name}/blobs/{layer.digest}"
    if to == "same":
        target = f"https://{front.host}{path}?moved=1"  # the registry itself, with the credential
    elif to == "plain":
        target = front.plain.url(path)
    else:
        target = front.other.url(path, host="localhost")
    front.proxy.respond(path, 307, b"", headers={"Location": target}, times=1)
    if to == "same":
        assert len(store.fetch_blob(layer)) == layer.size
    elif to == "plain":
        with pytest.raises(TLSError, match="leaves HTTPS"):
            store.fetch_blob(layer)
        assert front.plain.seen == []
    else:
        with pytest.raises(Error):  # the other host answers with bytes that are not the blob
            store.fetch_blob(layer)
        assert [r.path for r in front.other.seen] == [path]
    assert front.leaked() == []
