"""Debian's `docker-registry` (CNCF Distribution 2.8) on a free loopback port, four ways.

- `http`: plain HTTP (allowed because the host is loopback);
- `tls`: HTTPS with a server certificate from a CA the tests make (SAN 127.0.0.1, localhost);
- `auth`: HTTPS + htpasswd basic auth, the credentials in a temporary docker config.json;
- `token`: HTTPS + Distribution's token auth, with `tests.support.token_server` as realm.

Storage is a temporary directory with deletes enabled. `start_registry` waits until
`/v2/` answers before yielding and stops the process afterwards. A `RunningRegistry` tells
a test everything it needs: `host`, `url`, `options` (a `RegistryOptions` with the CA and
the docker config set), `ca_path`, `docker_config`, `username`, `password`, `ref(...)`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import requests

from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Descriptor
from slsacheck.models.reference import ImageRef
from slsacheck.oci import RegistryClient, RegistryOptions, RegistryStore, scratch
from tests.support.certs import Issued, issue, make_ca
from tests.support.env import require_tool
from tests.support.processes import stop
from tests.support.servers import serve
from tests.support.token_server import ISSUER, SERVICE, TokenServer

Mode = Literal["http", "tls", "auth", "token"]
_START_TIMEOUT = 20.0


@dataclass
class RunningRegistry:
    mode: Mode
    host: str
    url: str
    options: RegistryOptions
    ca_path: Path | None
    docker_config: Path
    username: str | None
    password: str | None
    storage: Path
    token_server: TokenServer | None = None

    def ref(self, repo: str, tag: str | None = None) -> ImageRef:
        return ImageRef.parse(f"{self.host}/{repo}" + (f":{tag}" if tag else ""))

    def client(self, options: RegistryOptions | None = None) -> RegistryClient:
        """A fresh client (its own connections and tokens), with this registry's options by default."""
        return RegistryClient(self.host, options or self.options)

    def store(self, repo: str, options: RegistryOptions | None = None) -> RegistryStore:
        return RegistryStore(self.client(options), repo)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_docker_config(path: Path, auths: dict[str, dict[str, str]], **extra: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"auths": auths, **extra}))
    path.chmod(0o600)
    return path


def basic_auth_entry(username: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}


def _config(storage: Path, port: int, tls: Issued | None, auth: dict[str, object]) -> str:
    # JSON is YAML: no quoting surprises with paths.
    http: dict[str, object] = {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)}
    if tls is not None:
        http["tls"] = {"certificate": str(tls.cert_path), "key": str(tls.key_path)}
    config = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": http,
    }
    if auth:
        config["auth"] = auth
    return json.dumps(config)


def _wait(process: subprocess.Popen[bytes], url: str, verify: bool | str) -> int | None:
    """The status `/v2/` answers with once the registry is up; None if it never comes up."""
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return None
        with contextlib.suppress(requests.RequestException):
            status = requests.get(f"{url}/v2/", timeout=2, verify=verify).status_code
            if status in (200, 401):
                return status
        time.sleep(0.05)
    return None


@contextlib.contextmanager
def start_registry(workdir: Path, mode: Mode = "http") -> Iterator[RunningRegistry]:
    """Run a registry in `mode` until the context ends."""
    binary = require_tool("docker-registry")
    workdir.mkdir(parents=True, exist_ok=True)
    storage = workdir / "storage"
    certs = workdir / "certs"
    ca = make_ca(certs) if mode != "http" else None
    tls = issue(ca, certs, "registry") if ca is not None else None
    username = password = None
    auths: dict[str, dict[str, str]] = {}
    token_server: TokenServer | None = None
    with contextlib.ExitStack() as stack:
        auth: dict[str, object] = {}
        if mode in ("auth", "token"):
            username, password = "slsacheck", "pw-" + secrets.token_urlsafe(12)
        if mode == "auth":
            htpasswd = require_tool("htpasswd")
            assert username is not None and password is not None
            line = subprocess.run([htpasswd, "-Bbn", username, password], check=True, capture_output=True).stdout
            (workdir / "htpasswd").write_bytes(line.strip() + b"\n")
            auth = {"htpasswd": {"realm": "slsacheck-test", "path": str(workdir / "htpasswd")}}
        if mode == "token":
            assert ca is not None and tls is not None and username is not None and password is not None
            signer = issue(ca, certs, "token-signer", hosts=())
            token_server = TokenServer(signer=signer, tls=tls, users={username: password})
            stack.enter_context(serve(token_server.build()))
            auth = {"token": {"realm": token_server.realm, "service": SERVICE, "issuer": ISSUER,
                              "rootcertbundle": str(ca.cert_path), "autoredirect": False}}
        log = workdir / "registry.log"
        for _ in range(5):
            port = free_port()
            config = workdir / "config.yml"
            config.write_text(_config(storage, port, tls, auth))
            host = f"127.0.0.1:{port}"
            url = f"{'https' if tls else 'http'}://{host}"
            with log.open("wb") as log_fh:
                process = subprocess.Popen([binary, "serve", str(config)], stdout=log_fh, stderr=subprocess.STDOUT)
            stack.callback(stop, process, grace=5)
            status = _wait(process, url, str(ca.cert_path) if ca else True)
            if status is not None:
                if (status == 401) != bool(auth):
                    raise RuntimeError(f"docker-registry ({mode}) answered /v2/ with HTTP {status}: config not applied")
                break
            stop(process, grace=5)
        else:
            raise RuntimeError(f"docker-registry did not start; its log:\n{log.read_text()[-3000:]}")
        if username is not None and password is not None:
            auths[host] = basic_auth_entry(username, password)
        docker_config = write_docker_config(workdir / "docker" / "config.json", auths)
        options = RegistryOptions(
            ca_bundle=str(ca.cert_path) if ca else None, docker_config=str(docker_config), timeout=10.0,
        )
        yield RunningRegistry(
            mode, host, url, options, ca.cert_path if ca else None, docker_config, username, password, storage,
            token_server,
        )


# -- small images pushed directly -------------------------------------------------------


def push_scratch(reg: RunningRegistry, repo: str, tag: str, seed: str) -> scratch.Built:
    """A one-file image (content `seed`, so distinct seeds give distinct digests) pushed as `repo:tag`."""
    built = scratch.image({"hello": seed.encode()})
    scratch.push(reg.store(repo), built, tag=tag)
    return built


@dataclass(frozen=True)
class PushedImage:
    ref: ImageRef
    manifest: Descriptor
    manifest_bytes: bytes
    config: Descriptor
    config_bytes: bytes
    layer: Descriptor
    layer_bytes: bytes


def image_manifest(config: Descriptor, layers: list[Descriptor], **fields: object) -> bytes:
    body: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": config.to_json(),
        "layers": [layer.to_json() for layer in layers],
        **fields,
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def push_small_image(store: RegistryStore, tag: str | None, *, seed: str = "", layer_size: int = 64) -> PushedImage:
    """Push a config, one layer and an OCI manifest (under `tag` if given) straight to `store`."""
    config_bytes = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}, "seed": seed},
        sort_keys=True,
    ).encode()
    layer_bytes = (seed.encode() + secrets.token_bytes(layer_size))[:layer_size]
    config = Descriptor.of(config_bytes, mt.OCI_CONFIG)
    layer = Descriptor.of(layer_bytes, mt.OCI_LAYER)
    store.push_blob(config, config_bytes)
    store.push_blob(layer, layer_bytes)
    raw = image_manifest(config, [layer])
    manifest = store.push_manifest(raw, mt.OCI_MANIFEST, tag=tag)
    ref = ImageRef.parse(f"{store.location}@{manifest.digest}") if tag is None else ImageRef.parse(
        f"{store.location}:{tag}")
    return PushedImage(ref, manifest, raw, config, config_bytes, layer, layer_bytes)
