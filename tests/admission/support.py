"""Real parts for the admission tests: the webhook on HTTPS, signed images, reviews.

- `serve_webhook(webhook, tls)`: the Starlette app on a real uvicorn server, TLS with a
  certificate from a CA the test made, on a free loopback port, in a thread;
- `Images`: pushes `FROM scratch` images to the loopback registry and signs + attests
  them with a real key (cosign formats, through slsacheck's attach layer);
- `write_policy`: an ImagePolicy demanding a signature and a `custom` attestation by
  the release key for the test registry's `adm/**` repositories;
- `review_from(path, images)`: an upstream AdmissionReview from the shared anchors with
  its image fields rewritten in memory (never on disk) to test images;
- `AsyncClient`: a small HTTP/1.1-over-TLS client on asyncio streams, so that hundreds of
  reviews can really be in flight at once (used by the concurrency test and the bench).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from slsacheck.admission.app import create_app
from slsacheck.admission.review import images_of, parse_review
from slsacheck.admission.serving import http_protocol
from slsacheck.admission.webhook import Webhook
from slsacheck.attach.sign import attest_image, sign_image
from slsacheck.models.reference import ImageRef
from slsacheck.oci import scratch
from slsacheck.signing.keys import generate_key_pair
from slsacheck.signing.keysigner import KeySigner
from tests.support.certs import Issued
from tests.support.policy_evidence import key_policy
from tests.support.registry import RunningRegistry, free_port

ANCHORS = "anchors/admission"
CON = "sse-secure-systems__connaisseur__test__testdata__admission_requests__"
K8S_FIXTURE = ("kubernetes__kubernetes__staging__src__k8s.io__api__testdata__HEAD__"
               "admission.k8s.io.v1.AdmissionReview.json")
WORKLOADS = {
    "Deployment": CON + "01_deployment.json",
    "Pod": CON + "02_pod.json",
    "CronJob": CON + "04_cronjob.json",
    "DaemonSet": CON + "06_daemonset.json",
    "StatefulSet": CON + "07_statefulset.json",
    "Job": CON + "08_job.json",
    "Deployment (initContainers)": CON + "09_dply_multi_image.json",
    "Pod (initContainers)": CON + "19_pod_initcontainer.json",
    "Pod (ephemeralContainers)": CON + "20_pod_ephemeralcontainer.json",
}
UPDATE = CON + "10_update.json"
ROLE = CON + "11_role.json"
PREDICATE = {"buildDefinition": {"buildType": "https://tekton.dev/chains/v2/slsa"}}


# -- the server --------------------------------------------------------------------------


@dataclass
class RunningWebhook:
    url: str
    host: str
    port: int
    webhook: Webhook
    ca_path: Path

    def post(self, path: str, doc: Any, *, raw: bytes | None = None) -> requests.Response:
        data = raw if raw is not None else json.dumps(doc).encode()
        return requests.post(self.url + path, data=data, headers={"Content-Type": "application/json"},
                             verify=str(self.ca_path), timeout=30)

    def answer(self, path: str, doc: Any) -> dict[str, Any]:
        reply = self.post(path, doc)
        assert reply.status_code == 200, reply.text
        body: dict[str, Any] = reply.json()
        return body

    def get(self, path: str) -> requests.Response:
        return requests.get(self.url + path, verify=str(self.ca_path), timeout=30)

    def metric(self, family: str, **labels: str) -> float:
        value: float = getattr(self.webhook.metrics, family).value(**labels)
        return value


@contextlib.contextmanager
def serve_webhook(webhook: Webhook, tls: Issued, ca_path: Path, *, reload_interval: float = 0.05
                  ) -> Iterator[RunningWebhook]:
    import uvicorn

    app = create_app(webhook, reload_interval=reload_interval)
    for _ in range(5):
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, ssl_certfile=str(tls.cert_path),
                                ssl_keyfile=str(tls.key_path), http=http_protocol(), log_config=None, access_log=False,
                                log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"webhook-{port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if server.started:
            break
        server.should_exit = True
        thread.join(5)
    else:
        raise RuntimeError("the webhook server did not start")
    try:
        yield RunningWebhook(f"https://127.0.0.1:{port}", "127.0.0.1", port, webhook, ca_path)
    finally:
        server.should_exit = True
        thread.join(10)


# -- images and policies -------------------------------------------------------------------


@dataclass(frozen=True)
class TestImage:
    text: str  # registry/repo:tag
    digest: str


class Images:
    """Pushes images to `registry` under `adm/<run>/...` and signs them with the release key."""

    def __init__(self, registry: RunningRegistry, workdir: Path) -> None:
        self.registry = registry
        self.run = secrets.token_hex(4)
        private, public = generate_key_pair(b"", scrypt_n=2**15)
        self.signer = KeySigner.from_pem(private, password=lambda: b"")
        (workdir / "release.pub").write_bytes(public)
        other, _ = generate_key_pair(b"", scrypt_n=2**15)
        self.other = KeySigner.from_pem(other, password=lambda: b"")

    def push(self, name: str, tag: str = "v1", *, seed: str | None = None) -> TestImage:
        repo = f"adm/{self.run}/{name}"
        built = scratch.image({"hello": (seed or f"{self.run}/{name}:{tag}").encode()})
        scratch.push(self.registry.store(repo), built, tag=tag)
        return TestImage(f"{self.registry.host}/{repo}:{tag}", str(built.digest))

    def sign(self, image: TestImage, *, by: KeySigner | None = None, attest: bool = True) -> TestImage:
        ref = ImageRef.parse(image.text)
        store = self.registry.store(ref.repository)
        signer = by or self.signer
        sign_image(store, ref, signer, fmt="legacy")
        if attest:
            attest_image(store, ref, signer, predicate_type="https://cosign.sigstore.dev/attestation/v1",
                         predicate=PREDICATE, fmt="legacy")
        return image

    def signed(self, name: str, tag: str = "v1") -> TestImage:
        return self.sign(self.push(name, tag))


def write_policy(workdir: Path, registry: RunningRegistry, *, name: str = "release", no_match: str = "deny",
                 file: str = "policy.yaml", mode: str = "enforce", include: Sequence[str] = ("adm/**",)) -> Path:
    """The policy, written atomically (a new inode, as a ConfigMap update makes)."""
    path = workdir / file
    patterns = [f"{registry.host}/{p}" for p in include]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(key_policy(name, patterns, mode=mode, no_match=no_match))
    os.replace(tmp, path)
    return path


# -- reviews ----------------------------------------------------------------------------------


def _set(doc: Any, pointer: str, value: str) -> None:
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer.lstrip("/").split("/")]
    node = doc
    for token in tokens[:-1]:
        node = node[int(token)] if isinstance(node, list) else node[token]
    node[tokens[-1]] = value


def rewrite_images(doc: dict[str, Any], images: Sequence[str], *, which: str = "object") -> dict[str, Any]:
    """`doc` with the i-th image field of request[which] set to images[i % len(images)]."""
    request = doc["request"]
    found = images_of(request["kind"]["kind"], request[which])
    for i, item in enumerate(found):
        _set(request[which], item.pointer, images[i % len(images)])
    return doc


def review_from(path: Path, images: Sequence[str], *, uid: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    doc["request"]["uid"] = uid or str(uuid.uuid4())
    return rewrite_images(doc, images)


def pod_review(images: Sequence[str], *, uid: str | None = None, operation: str = "CREATE",
               dry_run: bool = False, old_images: Sequence[str] | None = None,
               username: str = "tester") -> dict[str, Any]:
    """A v1 Pod review with one container per image (as the API server sends it)."""
    def pod(imgs: Sequence[str]) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app", "namespace": "team"},
                "spec": {"containers": [{"name": f"c{i}", "image": img} for i, img in enumerate(imgs)]}}

    request: dict[str, Any] = {
        "uid": uid or str(uuid.uuid4()),
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
        "name": "app", "namespace": "team", "operation": operation,
        "userInfo": {"username": username}, "dryRun": dry_run,
        "object": pod(images), "oldObject": pod(old_images) if old_images is not None else None,
        "options": {"kind": "CreateOptions" if operation == "CREATE" else "UpdateOptions",
                    "apiVersion": "meta.k8s.io/v1"},
    }
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


# Where each workload kind keeps its pod spec, as the Kubernetes API defines it (written out
# here, not taken from the code under test).
WORKLOAD_KINDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "Pod": ("", "pods", ("spec",)),
    "Deployment": ("apps", "deployments", ("spec", "template", "spec")),
    "StatefulSet": ("apps", "statefulsets", ("spec", "template", "spec")),
    "DaemonSet": ("apps", "daemonsets", ("spec", "template", "spec")),
    "ReplicaSet": ("apps", "replicasets", ("spec", "template", "spec")),
    "Job": ("batch", "jobs", ("spec", "template", "spec")),
    "CronJob": ("batch", "cronjobs", ("spec", "jobTemplate", "spec", "template", "spec")),
}
# Every place a pod spec names an image to pull, with the JSON Pointer (below the pod spec) of
# the image in `pod_spec_with`'s layout.
IMAGE_LOCATIONS = {
    "initContainers": "/initContainers/0/image",
    "containers": "/containers/0/image",
    "ephemeralContainers": "/ephemeralContainers/0/image",
    "volumes": "/volumes/1/image/reference",
}


def pod_spec_with(images: Mapping[str, str]) -> dict[str, Any]:
    """A pod spec with an image at each of IMAGE_LOCATIONS (`images` maps location -> image),
    beside fields that name none (a ConfigMap volume before the image volume)."""
    return {
        "initContainers": [{"name": "setup", "image": images["initContainers"]}],
        "containers": [{"name": "app", "image": images["containers"], "ports": [{"containerPort": 80}]}],
        "ephemeralContainers": [{"name": "debugger", "image": images["ephemeralContainers"],
                                 "targetContainerName": "app"}],
        "volumes": [{"name": "config", "configMap": {"name": "app-config"}},
                    {"name": "models", "image": {"reference": images["volumes"], "pullPolicy": "IfNotPresent"}}],
    }


def workload_review(kind: str, spec: Mapping[str, Any], *, uid: str | None = None, username: str = "tester",
                    dry_run: bool = False) -> dict[str, Any]:
    """A v1 CREATE review of a `kind` workload whose pod spec is `spec`."""
    group, resource, path = WORKLOAD_KINDS[kind]
    obj: dict[str, Any] = {"apiVersion": f"{group}/v1" if group else "v1", "kind": kind,
                           "metadata": {"name": "app", "namespace": "team"}}
    node = obj
    for token in path[:-1]:
        node = node.setdefault(token, {})
    node[path[-1]] = json.loads(json.dumps(spec))
    request: dict[str, Any] = {
        "uid": uid or str(uuid.uuid4()),
        "kind": {"group": group, "version": "v1", "kind": kind},
        "resource": {"group": group, "version": "v1", "resource": resource},
        "name": "app", "namespace": "team", "operation": "CREATE", "userInfo": {"username": username},
        "dryRun": dry_run, "object": obj, "oldObject": None,
        "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
    }
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def resolve_pointer(doc: Any, pointer: str) -> Any:
    """RFC 6901: the value `pointer` names in `doc` (KeyError/IndexError when there is none)."""
    node = doc
    for token in pointer.lstrip("/").split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


def apply_patch(doc: Any, ops: Sequence[Mapping[str, Any]]) -> Any:
    """RFC 6902 `replace` ops applied to a copy of `doc`; a target that does not exist fails,
    as it does at the API server."""
    out = json.loads(json.dumps(doc))
    for op in ops:
        assert op["op"] == "replace", op
        resolve_pointer(out, op["path"])  # must exist
        parent, _, last = op["path"].rpartition("/")
        container = resolve_pointer(out, parent) if parent else out
        key = last.replace("~1", "/").replace("~0", "~")
        container[int(key) if isinstance(container, list) else key] = op["value"]
    return out


def images_in(doc: Mapping[str, Any]) -> list[str]:
    review = parse_review(json.dumps(doc).encode())
    return [i.image for i in images_of(review.kind, review.object)]


# -- an async client ------------------------------------------------------------------------------


class AsyncClient:
    """HTTP/1.1 over TLS on one kept-alive connection (asyncio streams); one request at a time."""

    def __init__(self, host: str, port: int, ca_path: Path) -> None:
        self.host, self.port = host, port
        self.ssl = ssl.create_default_context(cafile=str(ca_path))
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port, ssl=self.ssl)
        return self._reader, self._writer

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        reader, writer = await self._connect()
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        writer.write(head + body)
        await writer.drain()
        status_line = await reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        return status, await reader.readexactly(length)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        self._reader = self._writer = None


def wait_for(condition: Callable[[], bool], what: str, *, seconds: float = 30) -> None:
    """Poll `condition` until it holds; fail naming `what` after `seconds` (a bounded loop)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
