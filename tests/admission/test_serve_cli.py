"""`slsacheck serve` as a real process: HTTPS, a private registry's credentials, JSON logs.

The registry demands basic auth; the credentials come from a docker config.json given
with `--docker-config` (as the mounted `kubernetes.io/dockerconfigjson` Secret is). With
it a signed image is admitted; without it the same review is denied with the registry's
reason (fail closed). Every log line is JSON with the uid, images, digests, decision and
duration, and never contains the password.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from slsacheck.signing.keys import generate_key_pair
from tests.admission.conftest import WebhookTLS
from tests.admission.support import AsyncClient, Images, pod_review, write_policy
from tests.support.env import ROOT
from tests.support.processes import stop
from tests.support.registry import RunningRegistry, free_port

pytestmark = pytest.mark.integration


class Served:
    def __init__(self, process: subprocess.Popen[bytes], url: str, ca: Path, log: Path) -> None:
        self.process, self.url, self.ca, self.log = process, url, ca, log

    def validate(self, doc: object) -> dict[str, object]:
        reply = requests.post(self.url + "/validate", json=doc, verify=str(self.ca), timeout=30)
        assert reply.status_code == 200, reply.text
        response: dict[str, object] = reply.json()["response"]
        return response

    def logs(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]  # every line


@pytest.fixture
def serve(webhook_tls: WebhookTLS, tmp_path: Path) -> Iterator[Callable[..., Served]]:
    with ExitStack() as stack:

        def start(*args: str) -> Served:
            port = free_port()
            log = tmp_path / f"serve-{port}.log"
            handle = stack.enter_context(log.open("wb"))
            process = subprocess.Popen(
                [sys.executable, "-m", "slsacheck", "serve", "--host", "127.0.0.1", "--port", str(port),
                 "--tls-cert", str(webhook_tls.serving.cert_path), "--tls-key", str(webhook_tls.serving.key_path),
                 *args], cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
            stack.callback(stop, process)
            url = f"https://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    if requests.get(url + "/readyz", verify=str(webhook_tls.ca.cert_path), timeout=2).ok:
                        return Served(process, url, webhook_tls.ca.cert_path, log)
                except requests.RequestException:
                    time.sleep(0.1)
            raise AssertionError(f"slsacheck serve did not come up:\n{log.read_text()[-3000:]}")

        yield start


def test_serve_uses_the_docker_config_and_logs_json_without_secrets(
    serve: Callable[..., Served], registry_auth: RunningRegistry, tmp_path: Path
) -> None:
    images = Images(registry_auth, tmp_path)
    image = images.signed("private")
    policy = write_policy(tmp_path, registry_auth)
    common = ["--policy", str(policy), "--ca-bundle", str(registry_auth.ca_path)]
    with_creds = serve(*common, "--docker-config", str(registry_auth.docker_config))
    response = with_creds.validate(pod_review([image.text], uid="uid-with-creds"))
    assert response["allowed"] is True, response

    empty = tmp_path / "empty-docker" / "config.json"
    empty.parent.mkdir()
    empty.write_text('{"auths": {}}')
    without = serve(*common, "--docker-config", str(empty))
    response = without.validate(pod_review([image.text], uid="uid-without-creds"))
    assert response["allowed"] is False
    message = str(response["status"]["message"])  # type: ignore[index]
    assert "verification.complete: resolving" in message and "HTTP 401" in message

    for served, uid, decision in ((with_creds, "uid-with-creds", "allowed"), (without, "uid-without-creds", "denied")):
        stop(served.process)
        text = served.log.read_text()
        assert registry_auth.password is not None and registry_auth.password not in text
        entries = served.logs()
        assert entries and all("event" in e and "time" in e for e in entries)
        review = next(e for e in entries if e.get("uid") == uid)
        assert review["decision"] == decision and review["duration_ms"] is not None
        assert review["requester"] == "tester"
        assert review["images"][0]["image"] == image.text  # type: ignore[index]
        if decision == "allowed":
            assert review["images"][0]["digest"] == image.digest  # type: ignore[index]


def test_log_lines_carry_terminal_controls_only_escaped(serve: Callable[..., Served], registry_tls: RunningRegistry,
                                                       tmp_path: Path) -> None:
    # The log lines reach stderr without the terminal guard: the JSON itself must keep an
    # attacker's image text (ESC sequences, a C1 CSI, a bidi override) from the operator's terminal.
    (tmp_path / "release.pub").write_bytes(generate_key_pair(b"", scrypt_n=2**15)[1])
    policy = write_policy(tmp_path, registry_tls)
    served = serve("--policy", str(policy), "--ca-bundle", str(registry_tls.ca_path), "--ready-registry", "none")
    hostile = "evil.test/\x1b]0;owned\x07\x1b[2J/app\u009b31m\u202e:v1"
    response = served.validate(pod_review([hostile], uid="uid-hostile"))
    assert response["allowed"] is False
    stop(served.process)
    data = served.log.read_bytes()
    for raw in ("\x1b", "\x07", "\u009b", "\u202e"):
        assert raw.encode() not in data, raw
    review = next(e for e in served.logs() if e.get("uid") == "uid-hostile")
    assert review["images"][0]["image"] == hostile  # type: ignore[index]


def test_every_review_of_a_concurrent_burst_has_its_line_after_a_clean_stop(
        serve: Callable[..., Served], registry_tls: RunningRegistry, tmp_path: Path) -> None:
    # Lines of one event-loop step are written together: none may be lost, whatever the step
    # held when the server stopped.
    (tmp_path / "release.pub").write_bytes(generate_key_pair(b"", scrypt_n=2**15)[1])
    policy = write_policy(tmp_path, registry_tls)
    served = serve("--policy", str(policy), "--ca-bundle", str(registry_tls.ca_path), "--ready-registry", "none")
    port = int(served.url.rsplit(":", 1)[1])

    async def burst() -> None:
        clients = [AsyncClient("127.0.0.1", port, served.ca) for _ in range(8)]

        async def send(client: AsyncClient, n: int) -> None:
            for i in range(n):
                body = json.dumps(pod_review(["elsewhere.test/app:v1"], uid=f"burst-{id(client)}-{i}")).encode()
                status, _ = await client.post("/validate", body)
                assert status == 200

        try:
            await asyncio.gather(*(send(c, 25) for c in clients))
        finally:
            for c in clients:
                await c.close()

    asyncio.run(burst())
    stop(served.process)
    reviews = [e for e in served.logs() if e.get("event") == "admission review"]
    assert len(reviews) == 200 and len({e["uid"] for e in reviews}) == 200
    assert all(e["decision"] == "denied" and e["level"] == "info" for e in reviews)


def test_serve_refuses_to_start_on_a_broken_policy(serve: Callable[..., Served], webhook_tls: WebhookTLS,
                                                   tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: ImagePolicy\n")
    run = subprocess.run(
        [sys.executable, "-m", "slsacheck", "serve", "--policy", str(bad), "--port", str(free_port()),
         "--tls-cert", str(webhook_tls.serving.cert_path), "--tls-key", str(webhook_tls.serving.key_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "bad.yaml" in run.stderr


@pytest.mark.parametrize(("flag", "value"), [("--host-workers", "0"), ("--requester-workers", "-1"),
                                             ("--unresponsive-cooldown", "-5")])
def test_serve_refuses_thread_shares_that_would_block_every_review(
    webhook_tls: WebhookTLS, tmp_path: Path, flag: str, value: str
) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "slsacheck", "serve", "--policy", str(tmp_path / "unused.yaml"), flag, value,
         "--tls-cert", str(webhook_tls.serving.cert_path), "--tls-key", str(webhook_tls.serving.key_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and flag in run.stderr and "Traceback" not in run.stderr
