"""Under load and under change: shared verifications, and policy reloads that cannot break the gate.

- 200 reviews in flight at once for 20 distinct images (half signed, half not) make
  exactly 20 tag resolutions and 20 verifications (one per digest), and every answer is
  the right one for its image;
- a valid policy change takes effect without a restart; a broken one is refused, logged,
  counted, and the previous policy keeps answering.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from tests.admission.conftest import ServerFactory
from tests.admission.support import AsyncClient, Images, RunningWebhook, pod_review, wait_for, write_policy
from tests.support.registry import RunningRegistry

pytestmark = pytest.mark.integration


async def _flood(server: RunningWebhook, docs: list[dict[str, object]]) -> list[tuple[int, bytes]]:
    async def one(doc: dict[str, object]) -> tuple[int, bytes]:
        client = AsyncClient(server.host, server.port, server.ca_path)
        try:
            return await client.post("/validate", json.dumps(doc).encode())
        finally:
            await client.close()

    return await asyncio.gather(*(one(d) for d in docs))


def test_200_concurrent_reviews_for_20_images_make_20_verifications(
    start_webhook: ServerFactory, images: Images
) -> None:
    signed = [images.signed(f"load{i}") for i in range(10)]
    unsigned = [images.push(f"load-unsigned{i}") for i in range(10)]
    distinct = [*signed, *unsigned]
    server = start_webhook(workers=4, budget_seconds=60)
    docs = [pod_review([distinct[i % 20].text], uid=f"uid-{i}") for i in range(200)]
    replies = asyncio.run(_flood(server, docs))
    for i, (status, body) in enumerate(replies):
        assert status == 200, body
        response = json.loads(body)["response"]
        assert response["uid"] == f"uid-{i}"
        image = distinct[i % 20]
        assert response["allowed"] is (image in signed), (image, response)
        if image not in signed:
            assert image.digest in response["status"]["message"]
    assert server.metric("verifications") == 20
    assert server.metric("resolutions") == 20
    decided = sum(server.metric("image_decisions", how=how) for how in ("verified", "shared", "cache"))
    assert decided == 200 and server.metric("image_decisions", how="verified") == 20



def test_policy_reload_applies_valid_changes_and_refuses_broken_ones(
    start_webhook: ServerFactory, images: Images, workdir: Path, registry_tls: RunningRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = images.signed("reload-good")
    bare = images.push("reload-bare")
    path = write_policy(workdir, registry_tls, file="reload.yaml", name="reload")
    server = start_webhook([path])
    first = server.get("/readyz").json()["policySetDigest"]
    assert server.answer("/validate", pod_review([bare.text]))["response"]["allowed"] is False

    # Valid change: only signed images are in scope now, and unmatched images are allowed.
    write_policy(workdir, registry_tls, file="reload.yaml", name="reload", no_match="allow",
                 include=(f"adm/{images.run}/reload-good",))
    wait_for(lambda: server.get("/readyz").json()["policySetDigest"] != first, "the reload")
    assert server.metric("reloads", result="applied") == 1
    assert server.answer("/validate", pod_review([bare.text]))["response"]["allowed"] is True
    assert server.answer("/validate", pod_review([good.text]))["response"]["allowed"] is True
    second = server.get("/readyz").json()["policySetDigest"]

    # Broken change: refused, loudly; the previous policy keeps answering.
    with caplog.at_level(logging.ERROR, logger="slsacheck.admission"):
        path.write_text(path.read_text().replace("threshold: 1", "threshold: 0"))
        wait_for(lambda: server.metric("reloads", result="rejected") == 1, "the refusal")
    ready = server.get("/readyz").json()
    assert ready["policySetDigest"] == second and "threshold" in ready["lastReloadError"]
    refused = [r for r in caplog.records if "REFUSED" in r.getMessage()]
    assert refused and refused[0].slsacheck_fields["kept_digest"] == second  # type: ignore[attr-defined]
    assert server.answer("/validate", pod_review([bare.text]))["response"]["allowed"] is True
    path.write_text("not: [valid")  # not even YAML
    wait_for(lambda: server.metric("reloads", result="rejected") == 2, "the second refusal")
    assert server.get("/readyz").json()["policySetDigest"] == second
    assert server.answer("/validate", pod_review([good.text]))["response"]["allowed"] is True
