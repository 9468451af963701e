"""A first-seen image costs the registry what the gate alone would, on connections that last.

Every request and every new connection the server makes goes through the project's
transport (`Transport.send` / `Transport._connect`), which these tests wrap to count:

- a first-seen image named by tag makes exactly the requests an in-process gate makes for
  an image of the same shape, its tag's manifest read once (resolving the tag is that read;
  verification is handed its bytes instead of asking again), and no HEAD;
- N first-seen images, one after the other, open no connection after the first review;
  N at once open at most the registry host's share of the threads, whatever N is;
- a fresh server's first review loads no code: what the first verification would import
  is loaded when the server is built, not inside that review's time budget;
- the manifest handed on is checked against its digest again: bytes changed since they
  were read (as an attacker with memory or a broken cache would change them) are refused,
  and a digest other than the one read goes to the registry.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from slsacheck.admission.judge import _Resolved
from slsacheck.errors import DigestMismatch
from slsacheck.models.reference import ImageRef
from slsacheck.oci._transport import Response, Transport
from slsacheck.oci.registry import RegistryStore
from slsacheck.policy.load import load_policies
from slsacheck.verify.gate import verify_image
from tests.admission.conftest import ServerFactory
from tests.admission.support import AsyncClient, Images, RunningWebhook, pod_review
from tests.support.env import ROOT
from tests.support.registry import RunningRegistry

pytestmark = pytest.mark.integration


@dataclass
class Traffic:
    requests: list[tuple[str, str]] = field(default_factory=list)
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()
            self.connections = 0


@pytest.fixture
def traffic(monkeypatch: pytest.MonkeyPatch) -> Iterator[Traffic]:
    seen = Traffic()
    send, connect = Transport.send, Transport._connect

    def counted_send(self: Transport, method: str, url: str, **kwargs: Any) -> Response:
        with seen.lock:
            seen.requests.append((method, url.split("/v2/", 1)[-1]))
        return send(self, method, url, **kwargs)

    def counted_connect(self: Transport, key: Any) -> Any:
        with seen.lock:
            seen.connections += 1
        return connect(self, key)

    monkeypatch.setattr(Transport, "send", counted_send)
    monkeypatch.setattr(Transport, "_connect", counted_connect)
    yield seen


def _fresh(registry: RunningRegistry, timeout: float) -> Any:
    # Clients are shared per (registry, options): options of its own give this test a client
    # with no connection open yet, so every connection counted is one this test caused.
    return replace(registry.options, retries=0, timeout=timeout)


def _review(server: RunningWebhook, texts: list[str]) -> None:
    answer = server.answer("/validate", pod_review(texts))
    assert answer["response"]["allowed"] is True, answer


def test_a_first_seen_tag_costs_the_gates_own_requests_and_no_more(
    start_webhook: ServerFactory, images: Images, registry_tls: RunningRegistry, traffic: Traffic, policy: Path
) -> None:
    first, *fresh = [images.signed(f"seen{i}") for i in range(5)]
    alone = images.signed("seen-alone")
    server = start_webhook(options=_fresh(registry_tls, 29.0))
    _review(server, [first.text])  # the first review also pings /v2/ and opens the connection
    per_image = []
    for image in fresh:
        traffic.clear()
        _review(server, [image.text])
        per_image.append(list(traffic.requests))
    traffic.clear()
    gate = verify_image(ImageRef.parse(alone.text), load_policies([policy]), options=_fresh(registry_tls, 29.0))
    assert gate.passed, gate.to_json()
    gate_requests = [r for r in traffic.requests if r != ("GET", "")]  # its client's first use pings /v2/
    for image, seen in zip(fresh, per_image, strict=True):
        repo = ImageRef.parse(image.text).repository
        assert len(seen) == len(gate_requests), (seen, gate_requests)
        assert [m for m, _ in seen] == [m for m, _ in gate_requests]
        assert seen.count(("GET", f"{repo}/manifests/v1")) == 1, seen
        assert not any(method == "HEAD" for method, _ in seen), seen
    assert server.metric("resolutions") == 5 and server.metric("verifications") == 5


def test_connections_do_not_grow_with_the_number_of_first_seen_images(
    start_webhook: ServerFactory, images: Images, registry_tls: RunningRegistry, traffic: Traffic
) -> None:
    one_by_one = [images.signed(f"conn{i}") for i in range(6)]
    at_once = [images.signed(f"burst{i}") for i in range(12)]
    server = start_webhook(options=_fresh(registry_tls, 28.0), workers=4, budget_seconds=60)
    share = server.webhook.judge.pool.settings.per_host
    traffic.clear()  # the images' pushes and signatures were made on clients of their own
    _review(server, [one_by_one[0].text])
    kept = traffic.connections  # none when the readiness probe opened it: at most one either way
    assert kept <= 1, kept
    for image in one_by_one[1:]:
        _review(server, [image.text])
    assert traffic.connections == kept, traffic.connections  # kept alive across reviews and threads

    async def burst() -> list[tuple[int, bytes]]:
        async def one(text: str) -> tuple[int, bytes]:
            client = AsyncClient(server.host, server.port, server.ca_path)
            try:
                return await client.post("/validate", json.dumps(pod_review([text])).encode())
            finally:
                await client.close()

        return await asyncio.gather(*(one(i.text) for i in at_once))

    for status, body in asyncio.run(burst()):
        assert status == 200 and json.loads(body)["response"]["allowed"] is True, body
    # Twelve images at once: no more connections than threads the host may hold at once.
    assert traffic.connections - kept <= share - 1, (traffic.connections, share)
    traffic.clear()
    for status, body in asyncio.run(burst()):  # cached now: no registry traffic at all
        assert status == 200, body
    assert traffic.requests == [] and traffic.connections == 0


def test_a_handed_on_manifest_is_checked_against_its_digest_again(
    images: Images, registry_tls: RunningRegistry, traffic: Traffic
) -> None:
    image = images.signed("handed-on")
    other = images.push("handed-on-other")
    ref = ImageRef.parse(image.text)
    store = registry_tls.store(ref.repository)
    assert isinstance(store, RegistryStore)
    manifest = store.fetch_manifest("v1")
    assert str(manifest.digest) == image.digest
    traffic.clear()
    assert _Resolved(store, manifest).fetch_manifest(image.digest) is manifest
    assert traffic.requests == []  # answered from memory
    # The bytes changed after they were read: refused, not judged.
    tampered = replace(manifest, raw=manifest.raw.replace(b"{", b"{ ", 1))
    with pytest.raises(DigestMismatch):
        _Resolved(store, tampered).fetch_manifest(image.digest)
    # Another digest is read from the registry, as without a manifest in hand.
    other_ref = ImageRef.parse(other.text)
    other_store = registry_tls.store(other_ref.repository)
    assert isinstance(other_store, RegistryStore)
    fetched = _Resolved(other_store, manifest).fetch_manifest(other.digest)
    assert str(fetched.digest) == other.digest and traffic.requests


_FIRST_REVIEW = """
import asyncio, json, os, sys
from pathlib import Path
from slsacheck.admission.app import build
from slsacheck.admission.logs import BatchedLines, ReviewLines
from slsacheck.oci.options import RegistryOptions

webhook = build([Path(sys.argv[1])], RegistryOptions(ca_bundle=sys.argv[2]), ready_registries=[],
                review_lines=ReviewLines(BatchedLines(open(os.devnull, "w"))))
before = set(sys.modules)
answer = asyncio.run(webhook.answer(sys.argv[3].encode(), mutate=False))
webhook.judge.close()
print(json.dumps({"allowed": json.loads(answer)["response"]["allowed"],
                  "loaded": sorted(set(sys.modules) - before)}))
"""


def test_the_first_review_after_start_loads_no_code(
    images: Images, registry_tls: RunningRegistry, policy: Path
) -> None:
    # A fresh process, as a restarted server is: whatever the first verification would import
    # (the policy engine, CEL's environment, OpenSSL's backend) is loaded by `build`, not
    # inside the first review's time budget.
    image = images.signed("first-after-start")
    run = subprocess.run(
        [sys.executable, "-c", _FIRST_REVIEW, str(policy), str(registry_tls.ca_path),
         json.dumps(pod_review([image.text]))],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result == {"allowed": True, "loaded": []}, result
