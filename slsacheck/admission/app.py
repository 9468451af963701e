"""The webhook as an ASGI application (Starlette): routes, body limits, lifespan.

Routes: `POST /validate`, `POST /mutate` (AdmissionReview JSON in and out; a body that
is not an AdmissionReview is HTTP 400 with a one-line reason, a body over the cap 413),
`GET /healthz` (the process answers: liveness only), `GET /readyz` (200 when a policy set
is loaded, every registry it depends on answered its last probe and every TUF trust root
it names is cached and unexpired, else 503 naming what is not ready; see `readiness`), `GET /metrics` (Prometheus text).

The review routes are answered by a plain ASGI function in front of Starlette: a review
is the one request served thousands of times a second, and Starlette's request object,
router, middleware and response classes were a fifth of its CPU. The body cap, the 400/413
answers and the 500 on an unexpected error are the same; every other request (and the
lifespan) goes to the Starlette app.

`build(...)` assembles the parts from settings (the named constructor the CLI uses);
`create_app(webhook, ...)` takes them ready-made (tests inject). The lifespan starts the
policy watcher and the readiness probes (waiting a bounded time for their first round)
and stops them, and the verification threads, on shutdown. Starlette is imported here
only: the CLI imports this module inside `slsacheck serve`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from slsacheck.admission.judge import Judge, JudgeSettings
from slsacheck.admission.logs import ReviewLines, log_event
from slsacheck.admission.metrics import Metrics
from slsacheck.admission.readiness import Readiness
from slsacheck.admission.reload import PolicyHolder
from slsacheck.admission.review import MalformedReview
from slsacheck.admission.trust_refresh import TrustRefresher
from slsacheck.admission.webhook import Webhook, WebhookSettings
from slsacheck.oci.options import RegistryOptions
from slsacheck.policy.model import NoMatch

MAX_BODY = 8 * 1024 * 1024  # object + oldObject of the largest objects etcd stores, with room
REVIEW_PATHS = {"/validate": False, "/mutate": True}  # path -> mutate

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
TEXT = b"text/plain; charset=utf-8"
JSON = b"application/json"


def build(
    policy_paths: Sequence[str | Path],
    options: RegistryOptions,
    *,
    mode: str = "enforce",
    budget_seconds: float = 8.0,
    workers: int = 8,
    no_match: NoMatch | None = None,
    verdict_ttl: float = 600.0,
    fail_ttl: float = 30.0,
    tag_ttl: float = 15.0,
    cache_size: int = 10_000,
    ready_registries: Sequence[str] | None = None,
    ready_interval: float = 10.0,
    host_workers: int | None = None,
    requester_workers: int | None = None,
    unresponsive_cooldown: float = 10.0,
    trust_refresh_interval: float = 3600.0,
    review_lines: ReviewLines | None = None,
) -> Webhook:
    """A webhook over these policy files (raises PolicyError if they do not load).

    `ready_registries`: the registries `/readyz` probes (None: those the policies name; empty: none).
    `host_workers` / `requester_workers`: threads one registry / one requester may hold (None: half).
    A registry call that runs past half the budget marks its host unresponsive for
    `unresponsive_cooldown` seconds. TUF trust roots the policies name are refreshed every
    `trust_refresh_interval` seconds (sooner when one nears its expiry). `review_lines`: where
    each review's log line goes (None: through the logging module).
    """
    # A thread cannot be stopped, so a call to a host that never answers must end about when
    # its review is answered: its first request, retried once at most, over HTTPS and (for
    # hosts allowed plain HTTP) HTTP again, is 2 x 2 timeouts, 80 % of the budget, plus the
    # connections' own set-up. The user's review that follows its dry run into a black hole
    # then finds its share of the threads free again.
    retries = min(options.retries, 1)
    timeout = min(options.timeout, 0.8 * budget_seconds / (2 * (1 + retries)))
    options = replace(options, timeout=timeout, retries=retries)
    metrics = Metrics()
    holder = PolicyHolder(policy_paths, no_match=no_match, metrics=metrics)
    settings = JudgeSettings(options, workers, verdict_ttl, fail_ttl, tag_ttl, cache_size, host_workers,
                             requester_workers, slow_after=budget_seconds / 2, cooldown=unresponsive_cooldown)
    judge = Judge(settings, metrics)
    _load_review_code()
    trust = TrustRefresher(holder, interval=trust_refresh_interval)
    readiness = Readiness(holder, options, registries=ready_registries, interval=ready_interval, trust=trust)
    return Webhook(holder, judge, metrics, WebhookSettings(mode, budget_seconds), readiness,
                   lines=review_lines)


def _load_review_code() -> None:
    """Load now what the first verification would load inside its review's budget (about
    50 ms on the development machine, twice a verification's own time): the gate, the
    registry client, the policy engine, CEL's environment and OpenSSL's backend, which
    cryptography loads on the first signature it checks."""
    from cryptography.hazmat.backends import default_backend  # noqa: PLC0415 - a server's start-up only

    from slsacheck.policy import cel  # noqa: PLC0415

    for module in ("slsacheck.oci.open", "slsacheck.verify.authorities", "slsacheck.verify.gate",
                   "slsacheck.policy.evaluate"):
        importlib.import_module(module)
    cel.prepare()
    default_backend()


async def _send(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


class _Gone(Exception):
    """The client disconnected before its request body was read: nobody to answer."""


async def _read_body(scope: Scope, receive: Receive) -> bytes | None:
    """The request body; None when it is over MAX_BODY (declared or sent)."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > MAX_BODY:
            return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise _Gone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _review(webhook: Webhook, mutate: bool, scope: Scope, receive: Receive, send: Send) -> None:
    try:
        body = await _read_body(scope, receive)
    except _Gone:
        return
    if body is None:
        webhook.metrics.bad_requests.inc(endpoint="mutate" if mutate else "validate")
        await _send(send, 413, f"request body over {MAX_BODY} bytes\n".encode(), TEXT)
        return
    try:
        out = await webhook.answer(body, mutate=mutate)
    except MalformedReview as exc:
        await _send(send, 400, (exc.diagnostics() + "\n").encode(), TEXT)
        return
    except Exception as exc:  # the API server applies its failurePolicy to a 500: never an allow from here
        log_event(logging.ERROR, "review failed (HTTP 500)", endpoint="mutate" if mutate else "validate",
                  error=repr(exc))
        await _send(send, 500, b"Internal Server Error", TEXT)
        return
    await _send(send, 200, out, JSON)


def create_app(webhook: Webhook, *, reload_interval: float = 2.0) -> ASGIApp:
    async def review_route(_: Request) -> Response:
        # Only reached by a method other than POST (POST is answered in `app`): Starlette's 405.
        return PlainTextResponse("Method Not Allowed", status_code=405)

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(_: Request) -> Response:
        loaded = webhook.holder.current
        report = webhook.readiness.report()  # the last probes' results: never a registry call here
        doc = {
            "ready": report.ready,
            "notReady": list(report.not_ready),
            "policySetDigest": loaded.digest,
            "policies": [p.name for p in loaded.policies.policies],
            "noMatch": loaded.policies.no_match,
            "mode": webhook.settings.mode,
            "lastReloadError": webhook.holder.last_error,
            "registriesFrom": report.source,
            "registries": report.registries,
            "trustRoots": report.trust_roots,
        }
        return Response(json.dumps(doc), status_code=200 if report.ready else 503, media_type="application/json")

    async def metrics(_: Request) -> Response:
        text = webhook.metrics.render() + webhook.judge.pool.render_metrics() + webhook.readiness.render_metrics()
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        stop = asyncio.Event()
        watcher = asyncio.create_task(webhook.holder.watch(reload_interval, stop))
        prober = asyncio.create_task(webhook.readiness.run(stop))
        tasks = [watcher, prober]
        trust = webhook.readiness.trust
        if trust is not None:
            tasks.append(asyncio.create_task(trust.run(stop)))
        try:
            if trust is not None:
                await trust.start()  # missing TUF roots fetched before the first review, within bounds
            await webhook.readiness.start()  # the first round, so /readyz starts with facts
            yield
        finally:
            stop.set()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            webhook.judge.close()

    routes = [
        Route("/validate", review_route, methods=["POST"]),
        Route("/mutate", review_route, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    rest = Starlette(routes=routes, lifespan=lifespan)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        mutate = REVIEW_PATHS.get(scope["path"]) if scope["type"] == "http" else None
        if mutate is not None and scope["method"] == "POST":
            await _review(webhook, mutate, scope, receive, send)
        else:
            await rest(scope, receive, send)

    return app
