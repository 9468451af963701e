"""`/readyz`: policies loaded and registries reachable, probed in the background.

Real parts throughout: the webhook on HTTPS, Distribution registries on loopback (TLS,
htpasswd auth, and one started mid-test on a port that was closed), a listening socket
that never answers (a probe stuck in flight). What is asserted:

- ready (200, per-registry status, gauge 1) when the registry answers 200, or 401 with
  a challenge (no credential for it): the registry answered;
- not ready (503, the body names the registry and the reason, gauge 0) on a closed
  port, and ready again once a registry listens there;
- not ready when no policy is loaded;
- `/readyz` and admission reviews never wait on a probe: a review is answered (and
  denied per policy) while the policy's registry is down, no request starts a probe,
  and `/readyz` answers while a probe hangs;
- the registries come from `--ready-registry`, else from the policies' include hosts.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from slsacheck.admission.judge import Judge, JudgeSettings
from slsacheck.admission.metrics import Metrics
from slsacheck.admission.readiness import Readiness
from slsacheck.admission.reload import PolicyHolder
from slsacheck.admission.webhook import Webhook, WebhookSettings
from slsacheck.oci.options import RegistryOptions
from slsacheck.policy.model import PolicySet
from tests.admission.conftest import ServerFactory, WebhookTLS
from tests.admission.support import Images, RunningWebhook, pod_review, serve_webhook, wait_for, write_policy
from tests.support.env import ROOT, require_tool
from tests.support.processes import stop
from tests.support.registry import RunningRegistry, free_port

pytestmark = pytest.mark.integration



def _ready(server: RunningWebhook) -> tuple[int, dict[str, Any]]:
    reply = server.get("/readyz")
    assert reply.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = reply.json()
    return reply.status_code, body


def _gauge(server: RunningWebhook, registry: str) -> str | None:
    prefix = f'slsacheck_registry_reachable{{registry="{registry}"}} '
    lines = [line for line in server.get("/metrics").text.splitlines() if line.startswith(prefix)]
    return lines[0].removeprefix(prefix) if lines else None


@contextlib.contextmanager
def _registry_on(port: int, workdir: Path) -> Iterator[str]:
    """Debian's docker-registry, plain HTTP (loopback), on exactly `port`."""
    binary = require_tool("docker-registry")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.yml"
    config.write_text(json.dumps({
        "version": 0.1, "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(workdir / "storage")}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": "readiness-test"},
    }))
    with (workdir / "registry.log").open("wb") as log:
        process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stop(process, grace=5)


# -- ready ------------------------------------------------------------------------------------


def test_ready_when_the_policys_registry_answers(webhook: RunningWebhook, registry_tls: RunningRegistry) -> None:
    assert webhook.get("/healthz").status_code == 200
    status, body = _ready(webhook)
    assert status == 200, body
    assert body["ready"] is True and body["notReady"] == []
    # No --ready-registry: the registry the policy's images.include names.
    assert body["registriesFrom"] == "policies"
    assert list(body["registries"]) == [registry_tls.host]
    probe = body["registries"][registry_tls.host]
    assert probe["reachable"] is True and "HTTP 200" in probe["detail"]
    assert probe["checkedAt"].endswith("Z")
    assert _gauge(webhook, registry_tls.host) == "1"
    assert "# TYPE slsacheck_registry_reachable gauge" in webhook.get("/metrics").text


@pytest.mark.parametrize("credentials", [True, False], ids=["htpasswd-credential", "no-credential-401"])
def test_an_auth_registry_is_reachable_with_or_without_a_credential(
    start_webhook: ServerFactory, registry_tls: RunningRegistry, registry_auth: RunningRegistry, tmp_path: Path,
    credentials: bool,
) -> None:
    assert registry_tls.ca_path is not None and registry_auth.ca_path is not None
    bundle = tmp_path / "cas.pem"
    bundle.write_bytes(registry_tls.ca_path.read_bytes() + registry_auth.ca_path.read_bytes())
    docker_config = registry_auth.docker_config
    if not credentials:
        docker_config = tmp_path / "empty" / "config.json"
        docker_config.parent.mkdir()
        docker_config.write_text('{"auths": {}}')
    options = RegistryOptions(ca_bundle=str(bundle), docker_config=str(docker_config), timeout=10, retries=0)
    server = start_webhook(options=options, ready_registries=[registry_auth.host])
    status, body = _ready(server)
    assert status == 200, body
    assert body["registriesFrom"] == "flag" and list(body["registries"]) == [registry_auth.host]
    detail = body["registries"][registry_auth.host]["detail"]
    # With the gate's credential the registry lets us in; without one it answers with its challenge.
    assert ("HTTP 200" in detail) if credentials else ("HTTP 401 with a Basic challenge" in detail), detail
    assert _gauge(server, registry_auth.host) == "1"


# -- not ready ----------------------------------------------------------------------------------


def test_a_closed_port_is_not_ready_until_a_registry_listens_there(
    start_webhook: ServerFactory, tmp_path: Path
) -> None:
    port = free_port()
    host = f"127.0.0.1:{port}"
    server = start_webhook(ready_registries=[host], ready_interval=0.1)
    status, body = _ready(server)
    assert status == 503 and body["ready"] is False
    (reason,) = body["notReady"]
    assert reason.startswith(f"registry {host} not reachable: cannot reach {host}"), reason
    assert "hint:" in reason
    assert body["registries"][host]["reachable"] is False
    assert body["policies"] == ["release"]  # what is loaded is still reported
    assert _gauge(server, host) == "0"
    assert server.get("/healthz").status_code == 200  # liveness is not readiness

    with _registry_on(port, tmp_path / "late-registry"):
        wait_for(lambda: server.get("/readyz").status_code == 200, "readiness once the registry listens")
        status, body = _ready(server)
        assert body["ready"] is True and body["registries"][host]["reachable"] is True
        assert _gauge(server, host) == "1"
    wait_for(lambda: server.get("/readyz").status_code == 503, "unreadiness once the registry stops")


def test_no_policies_loaded_is_not_ready(webhook_tls: WebhookTLS, registry_tls: RunningRegistry,
                                          policy: Path) -> None:
    # load_policies refuses an empty set; a library caller's loader may still hand one over.
    metrics = Metrics()
    holder = PolicyHolder([policy], metrics=metrics, loader=lambda paths, no_match: PolicySet(()))
    judge = Judge(JudgeSettings(registry_tls.options), metrics)
    webhook = Webhook(holder, judge, metrics, WebhookSettings())
    with serve_webhook(webhook, webhook_tls.serving, webhook_tls.ca.cert_path) as server:
        status, body = _ready(server)
    assert status == 503
    assert body["notReady"] == ["no policies loaded"] and body["policies"] == []
    assert body["registriesFrom"] == "policies" and body["registries"] == {}


# -- probes stay off the request path -------------------------------------------------------------


def test_reviews_are_answered_while_the_registry_is_down_and_start_no_probe(
    start_webhook: ServerFactory, registry_tls: RunningRegistry, images: Images, workdir: Path
) -> None:
    dead = f"127.0.0.1:{free_port()}"
    path = write_policy(workdir, replace(registry_tls, host=dead), file="dead.yaml", name="dead")
    server = start_webhook([path], ready_interval=3600)  # one round at start, no other
    status, body = _ready(server)
    assert status == 503 and list(body["registries"]) == [dead]
    checked = body["registries"][dead]["checkedAt"]
    readiness = server.webhook.readiness
    assert readiness.probes_started == 1

    image = f"{dead}/adm/{images.run}/app:v1"
    response = server.answer("/validate", pod_review([image]))["response"]
    assert response["allowed"] is False  # enforce: the registry cannot be reached, so fail closed
    message = response["status"]["message"]
    assert image in message and f"cannot reach {dead}" in message
    assert server.metric("registry_errors") >= 1  # the review went to the registry itself
    other = server.answer("/validate", pod_review([f"{registry_tls.host}/elsewhere/app:v1"]))["response"]
    assert other["allowed"] is False and "no policy" in other["status"]["message"].lower()

    for _ in range(3):
        assert _ready(server)[1]["registries"][dead]["checkedAt"] == checked
    assert readiness.probes_started == 1  # neither /readyz nor the reviews probed


def test_readyz_answers_while_a_probe_hangs(start_webhook: ServerFactory, registry_tls: RunningRegistry,
                                            images: Images) -> None:
    signed = images.signed("ready-while-probing")
    with socket.socket() as hole:  # accepts connections into its backlog, never answers
        hole.bind(("127.0.0.1", 0))
        hole.listen(8)
        host = f"127.0.0.1:{hole.getsockname()[1]}"
        options = replace(registry_tls.options, retries=0, timeout=120)
        server = start_webhook(options=options, ready_registries=[host], ready_interval=3600)
        status, body = _ready(server)
        assert status == 503 and body["notReady"] == [f"registry {host}: not probed yet"]
        assert body["registries"][host] == {"reachable": None, "detail": "not probed yet"}
        assert _gauge(server, host) is None
        # Reviews go on meanwhile.
        assert server.answer("/validate", pod_review([signed.text]))["response"]["allowed"] is True
    # The socket closed: the stuck probe is reset and reports it.
    wait_for(lambda: _ready(server)[1]["registries"][host]["reachable"] is False, "the probe's failure")
    assert f"cannot reach {host}" in _ready(server)[1]["registries"][host]["detail"]
    assert server.webhook.readiness.probes_started == 1


# -- which registries ------------------------------------------------------------------------------


def test_registries_come_from_literal_include_hosts(workdir: Path, policy: Path) -> None:
    path = workdir / "hosts.yaml"
    path.write_text(policy.read_text().replace(
        "include: [", 'include: ["registry.example.com/team/**", "docker.io/library/*", "**", '))
    holder = PolicyHolder([path])
    from_policies = Readiness(holder, RegistryOptions())
    hosts = from_policies.targets()
    assert "registry.example.com" in hosts and "index.docker.io" in hosts and "**" not in hosts
    assert len(hosts) == 3 and from_policies.source == "policies"  # the third: the test registry
    explicit = Readiness(holder, RegistryOptions(), registries=["docker.io", "127.0.0.1:5000", "docker.io"])
    assert explicit.targets() == ("index.docker.io", "127.0.0.1:5000") and explicit.source == "flag"
    none = Readiness(holder, RegistryOptions(), registries=[])
    assert none.targets() == () and none.source == "none" and none.report().ready is True


@pytest.mark.parametrize(("flags", "expected"), [
    (["--ready-registry", "notahost"], "is not a registry host"),
    (["--ready-registry", "https://registry.example.com"], "is not a registry host"),
    (["--ready-registry", "none", "--ready-registry", "registry.example.com"], "cannot be combined"),
    (["--ready-interval", "0"], "--ready-interval must be positive"),
])
def test_serve_refuses_bad_readiness_flags(webhook_tls: WebhookTLS, policy: Path, flags: list[str],
                                            expected: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "slsacheck", "serve", "--policy", str(policy), "--port", str(free_port()),
         "--tls-cert", str(webhook_tls.serving.cert_path), "--tls-key", str(webhook_tls.serving.key_path), *flags],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, run.stderr
    assert expected in run.stderr
