"""The webhook with a keyless policy whose trust root comes through TUF.

Real parts: the webhook on HTTPS, the TLS registry, a TUF repository built with
python-tuf and served on loopback, an image carrying a keyless signature from the private
Sigstore that repository vouches for. What is asserted:

- at start the root is fetched in the background round, `/readyz` lists it as cached and
  unexpired, and a review of the keyless-signed image is allowed;
- once the cached root is past its expiry and the mirror cannot give a fresh one, `/readyz`
  is 503 naming the mirror and the expiry, and reviews keep being judged with the last
  verified root (still allowed), never a download in a review's path;
- a mirror that is down from the start: not ready ("not cached yet"), and the review is
  denied as incomplete, never allowed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from securesystemslib.signer import CryptoSigner

from slsacheck.admission.reload import PolicyHolder
from slsacheck.admission.trust_refresh import SERVING, TrustRefresher
from slsacheck.models.digest import Digest
from slsacheck.models.reference import ImageRef
from slsacheck.signing import tuf
from slsacheck.signing.tuf_source import Mirror
from tests.admission import support
from tests.admission.conftest import ServerFactory
from tests.admission.support import Images, RunningWebhook, pod_review, wait_for
from tests.support.keyless_image import sign_keyless
from tests.support.private_sigstore import ISSUER, SUBJECT, PrivateSigstore, make_private_sigstore
from tests.support.registry import RunningRegistry
from tests.support.tuf_repo import TufRepo, keyless_tuf_policy

pytestmark = pytest.mark.integration



@pytest.fixture(scope="module")
def sigstore() -> PrivateSigstore:
    return make_private_sigstore()


@pytest.fixture
def keyless_image(images: Images, registry_tls: RunningRegistry, sigstore: PrivateSigstore) -> support.TestImage:
    image = images.push("keyless-tuf")
    ref = ImageRef.parse(image.text)
    sign_keyless(registry_tls.store(ref.repository), f"{ref.registry}/{ref.repository}",
                 Digest.parse(image.digest), sigstore)
    return image


def _policy(folder: Path, registry: RunningRegistry, repo: TufRepo, mirror: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "root.json").write_bytes(repo.initial_root)
    path = folder / "policy.yaml"
    path.write_text(keyless_tuf_policy(f"{registry.host}/adm/**", mirror, ISSUER, SUBJECT))
    return path


def _ready(server: RunningWebhook) -> tuple[int, dict[str, Any]]:
    reply = server.get("/readyz")
    body: dict[str, Any] = reply.json()
    return reply.status_code, body


def _allowed(server: RunningWebhook, image: support.TestImage) -> tuple[bool, str]:
    answer = server.answer("/validate", pod_review([image.text]))["response"]
    return bool(answer["allowed"]), json.dumps(answer)



@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("SLSACHECK_CACHE", str(path))
    return path


@pytest.mark.usefixtures("cache")
def test_root_fetched_in_the_background_then_served_past_expiry_and_reported(
    start_webhook: ServerFactory, registry_tls: RunningRegistry, keyless_image: support.TestImage, tmp_path: Path,
    sigstore: PrivateSigstore,
) -> None:
    repo = TufRepo({"trusted_root.json": json.dumps(sigstore.doc).encode()})
    # a timestamp that runs out a few seconds after the webhook fetched it
    repo.timestamp.signed.expires = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
    repo.publish_timestamp()
    with repo.served() as url:
        server = start_webhook(policies=[_policy(tmp_path / "p", registry_tls, repo, url)],
                               ready_registries=[])
        status, body = _ready(server)
        assert status == 200, body
        assert body["trustRoots"][url]["cached"] is True and body["trustRoots"][url]["expired"] is False
        allowed, why = _allowed(server, keyless_image)
        assert allowed, why
        # the mirror keeps serving the timestamp that has now run out; the cached root expires with it
        wait_for(lambda: _ready(server)[0] == 503, "the expired root to be reported")
        status, body = _ready(server)
        assert any(url in line and "expired" in line for line in body["notReady"]), body
        assert body["trustRoots"][url]["expired"] is True
        allowed, why = _allowed(server, keyless_image)
        assert allowed, why  # judged with the last verified root


@pytest.mark.usefixtures("cache")
def test_a_mirror_down_from_the_start_is_not_ready_and_denies(
    start_webhook: ServerFactory, registry_tls: RunningRegistry, keyless_image: support.TestImage, tmp_path: Path,
    sigstore: PrivateSigstore,
) -> None:
    repo = TufRepo({"trusted_root.json": json.dumps(sigstore.doc).encode()})
    with repo.served() as url:
        pass  # the server is gone: its port refuses connections
    server = start_webhook(policies=[_policy(tmp_path / "p", registry_tls, repo, url)], ready_registries=[])
    status, body = _ready(server)
    assert status == 503
    assert any(url in line and "not cached" in line for line in body["notReady"]), body
    assert body["trustRoots"][url]["lastUpdateError"]
    allowed, why = _allowed(server, keyless_image)
    assert not allowed and url in why, why


def test_the_background_refresh_keeps_the_last_root_on_a_bad_update_and_follows_a_good_one(
    registry_tls: RunningRegistry, tmp_path: Path, cache: Path, sigstore: PrivateSigstore
) -> None:
    first = json.dumps(sigstore.doc).encode()
    repo = TufRepo({"trusted_root.json": first})
    with repo.served() as url:
        holder = PolicyHolder([_policy(tmp_path / "p", registry_tls, repo, url)])
        refresher = TrustRefresher(holder, interval=0.0, check_every=0.05, cache=cache)
        mirror = Mirror(url)

        async def scenario() -> None:
            stop = asyncio.Event()
            loop = asyncio.create_task(refresher.run(stop))
            await refresher.start()
            assert tuf.trusted_root(mirror, SERVING).raw == first
            # an attacker's root, signed with a key the repository's root does not name
            repo.content["trusted_root.json"] = json.dumps(make_private_sigstore().doc).encode()
            repo.publish(sign_with={"targets": CryptoSigner.generate_ed25519()})
            await _until(lambda: "does not verify" in (refresher.report()[1][url]["lastUpdateError"] or ""))
            assert tuf.trusted_root(mirror, SERVING).raw == first
            # the operators publish a rotation of the trusted root, done right
            second = json.dumps(make_private_sigstore().doc).encode()
            repo.content["trusted_root.json"] = second
            repo.publish()
            await _until(lambda: tuf.trusted_root(mirror, SERVING).raw == second)
            await _until(lambda: refresher.report()[1][url]["lastUpdateError"] is None)
            stop.set()
            await loop

        asyncio.run(scenario())
    assert refresher.report()[0] == []


async def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
