"""The review endpoints' HTTP contract, served in front of Starlette (see `app`).

Over the real server (uvicorn, TLS, the gathering protocol): a body over the cap is 413
whether it is declared or streamed in chunks; a body that is not a review is 400 with the
one-line reason; a method other than POST is 405; an unexpected failure inside the review
is a 500 (the API server's failurePolicy decides), logged as one line, never an allow; and
a client that leaves mid-body gets no answer and leaves the server serving.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
from collections.abc import Iterator

import pytest
import requests

from slsacheck.admission.app import MAX_BODY
from tests.admission.support import RunningWebhook, pod_review


def _chunks(total: int, size: int = 1 << 20) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


def test_a_body_over_the_cap_is_refused_declared_or_streamed(webhook: RunningWebhook) -> None:
    before = webhook.metric("bad_requests", endpoint="validate")
    streamed = requests.post(webhook.url + "/validate", data=_chunks(MAX_BODY + 1), verify=str(webhook.ca_path),
                             headers={"Content-Type": "application/json"}, timeout=60)
    assert streamed.status_code == 413 and f"over {MAX_BODY} bytes" in streamed.text
    declared = webhook.post("/mutate", None, raw=b" " * (MAX_BODY + 1))
    assert declared.status_code == 413
    assert webhook.metric("bad_requests", endpoint="validate") == before + 1
    assert webhook.metric("bad_requests", endpoint="mutate") >= 1


def test_not_a_review_is_400_and_other_methods_405(webhook: RunningWebhook) -> None:
    reply = webhook.post("/validate", None, raw=b'{"kind": "Pod"}')
    assert reply.status_code == 400 and "wrong apiVersion/kind" in reply.text.splitlines()[0]
    assert webhook.get("/mutate").status_code == 405
    assert webhook.get("/validate").status_code == 405


def test_an_unexpected_failure_is_a_500_and_a_log_line_never_an_allow(
        webhook: RunningWebhook, caplog: pytest.LogCaptureFixture) -> None:
    async def broken(body: bytes, *, mutate: bool) -> bytes:
        raise RuntimeError("a bug in the review")

    webhook.webhook.answer = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="slsacheck.admission"):
        reply = webhook.post("/validate", pod_review(["registry.test/adm/app:v1"]))
    assert reply.status_code == 500 and "allowed" not in reply.text
    assert any("a bug in the review" in str(getattr(r, "slsacheck_fields", {})) for r in caplog.records)


def test_a_client_that_leaves_mid_body_gets_nothing_and_the_server_serves_on(webhook: RunningWebhook) -> None:
    context = ssl.create_default_context(cafile=str(webhook.ca_path))
    with socket.create_connection((webhook.host, webhook.port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=webhook.host) as tls:
        tls.sendall(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 1000\r\n\r\n{\"apiVersion\":")
    reply = webhook.post("/validate", pod_review(["elsewhere.test/app:v1"]))
    assert reply.status_code == 200 and json.loads(reply.text)["response"]["allowed"] is False
