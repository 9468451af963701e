"""Dry-run or hostile reviews do not starve the webhook (real HTTPS, real registry, real black holes).

A black hole is a TCP server on loopback that accepts connections and never answers: a
registry that hangs. With the issue's numbers (2 verification threads, a short budget), a
flood of dry-run reviews from one user naming images on three black holes is in flight
while another user's review of a freshly signed image on the real registry is admitted.
The host that hung is marked and its next review is answered at once, without a call
(denied, with the reason); and the user who sent a dry run into a black hole is admitted with a signed
image right after. The assertions are on verdicts and counters, never on measured time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.admission.conftest import ServerFactory
from tests.admission.support import AsyncClient, Images, RunningWebhook, pod_review, write_policy
from tests.support.servers import BlackHole, black_hole

pytestmark = pytest.mark.integration

WORKERS = 2
BUDGET = 3.0


@dataclass(frozen=True)
class _Host:
    host: str


@pytest.fixture
def holes() -> Iterator[list[BlackHole]]:
    with ExitStack() as stack:
        yield [stack.enter_context(black_hole()) for _ in range(3)]


@pytest.fixture
def server(start_webhook: ServerFactory, policy: Path, workdir: Path, holes: list[BlackHole]) -> RunningWebhook:
    # The black holes are matched by a policy, as an attacker's images would be by a `**` baseline.
    hole_policies = [write_policy(workdir, _Host(h.host), file=f"hole{i}.yaml", name=f"hole{i}")  # type: ignore[arg-type]
                     for i, h in enumerate(holes)]
    return start_webhook([policy, *hole_policies], workers=WORKERS, budget_seconds=BUDGET)


async def _post(server: RunningWebhook, doc: dict[str, Any]) -> dict[str, Any]:
    client = AsyncClient(server.host, server.port, server.ca_path)
    try:
        status, body = await client.post("/validate", json.dumps(doc).encode())
    finally:
        await client.close()
    assert status == 200, body
    response: dict[str, Any] = json.loads(body)["response"]
    return response


def _flood(holes: list[BlackHole], wave: int, size: int) -> list[dict[str, Any]]:
    return [pod_review([f"{holes[(i + j) % len(holes)].host}/adm/flood/w{wave}-{i}-{j}:v1" for j in range(3)],
                       dry_run=True, username="mallory") for i in range(size)]


async def _until_stuck(server: RunningWebhook, holes: list[BlackHole]) -> None:
    for _ in range(500):
        if sum(h.accepted for h in holes) and server.webhook.judge.pool.running:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the flood never reached a black hole")


def test_a_signed_image_is_admitted_while_a_black_hole_flood_is_in_flight(
    server: RunningWebhook, holes: list[BlackHole], images: Images
) -> None:
    fresh = [images.signed(f"amid-flood{i}") for i in range(2)]

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        first = asyncio.ensure_future(asyncio.gather(*(_post(server, d) for d in _flood(holes, 0, 30))))
        await _until_stuck(server, holes)
        admitted = [await _post(server, pod_review([fresh[0].text], username="alice"))]
        assert not first.done()  # the flood was still in flight when alice's answer came
        # A second wave, and a second new image while it is in flight.
        second = asyncio.ensure_future(asyncio.gather(*(_post(server, d) for d in _flood(holes, 1, 30))))
        await asyncio.sleep(0.05)
        admitted.append(await _post(server, pod_review([fresh[1].text], username="alice")))
        return admitted, [*(await first), *(await second)]

    admitted, flood = asyncio.run(scenario())
    assert [a["allowed"] for a in admitted] == [True, True], admitted
    assert len(flood) == 60 and not any(r["allowed"] for r in flood)
    assert all(r["status"]["code"] == 403 for r in flood)
    assert server.metric("verifications") >= 2 and server.metric("image_decisions", how="verified") == 2
    assert server.metric("unresponsive_marks") >= 1  # the hole that took a thread was marked
    assert server.webhook.judge.pool.waiting == 0  # nothing abandoned is left queued
    gauges = server.get("/metrics").text
    assert "slsacheck_admission_calls_waiting 0" in gauges and "slsacheck_admission_registries_marked " in gauges


def test_a_host_that_hung_is_answered_at_once_with_the_reason(
    server: RunningWebhook, holes: list[BlackHole]
) -> None:
    hole = holes[0].host
    first = asyncio.run(_post(server, pod_review([f"{hole}/adm/x/app:v1"], username="mallory")))
    assert first["allowed"] is False and hole in first["status"]["message"]
    assert server.metric("unresponsive_marks") == 1
    again = asyncio.run(_post(server, pod_review([f"{hole}/adm/x/other:v2"], username="bob")))
    assert again["allowed"] is False
    message = again["status"]["message"]
    assert f"registry {hole} is marked unresponsive" in message and "retry when the registry answers" in message
    assert server.metric("image_decisions", how="unresponsive") == 1
    assert server.metric("resolutions") == 1  # answered from the mark, without a call
    warned = asyncio.run(_post(server, pod_review([f"{hole}/adm/x/third@sha256:{'ab' * 32}"])))
    assert warned["allowed"] is False and "marked unresponsive" in warned["status"]["message"]


def test_the_user_of_a_dry_run_into_a_black_hole_is_admitted_right_after(
    server: RunningWebhook, holes: list[BlackHole], images: Images
) -> None:
    fresh = images.signed("after-dry-run")
    dry = pod_review([f"{holes[1].host}/adm/dry/app{i}:v1" for i in range(5)], dry_run=True)  # user "tester"
    assert asyncio.run(_post(server, dry))["allowed"] is False
    response = asyncio.run(_post(server, pod_review([fresh.text])))  # the same user, a real review
    assert response["allowed"] is True, response
