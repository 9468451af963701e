"""The webhook chooses policies by the registry's canonical name (issue: one registry, one set of policies).

A strict policy names the test registry as `127.0.0.1:PORT/...` and a catch-all baseline
accepts any signed image. The same signed image (not attested with provenance, so the
strict policy fails it) named `localhost:PORT/...` or `LOCALHOST:PORT/...` must be
denied by the strict policy, as the `127.0.0.1` spelling is, over real HTTPS against the
real registry.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.admission.conftest import ServerFactory
from tests.admission.support import Images, pod_review
from tests.support.policy_evidence import key_policy
from tests.support.registry import RunningRegistry

pytestmark = pytest.mark.integration


def _policies(workdir: Path, registry: RunningRegistry, images: Images) -> list[Path]:
    strict = workdir / "names-strict.yaml"
    strict.write_text(key_policy("names-strict", [f"{registry.host}/adm/{images.run}/prod/**"],
                                 attestation="slsaprovenance1"))
    baseline = workdir / "names-baseline.yaml"
    baseline.write_text(key_policy("names-baseline", ["**"], attestation=None))
    return [strict, baseline]


def test_every_spelling_of_the_registry_gets_the_strict_policy(
    start_webhook: ServerFactory, images: Images, registry_tls: RunningRegistry, workdir: Path
) -> None:
    assert registry_tls.host.startswith("127.0.0.1:")
    port = registry_tls.host.rsplit(":", 1)[1]
    image = images.signed("prod/app")
    staging = images.signed("staging/app")
    webhook = start_webhook(_policies(workdir, registry_tls, images))
    path = image.text.split("/", 1)[1]
    for host in (registry_tls.host, f"localhost:{port}", f"LOCALHOST:{port}", f"LocalHost:{port}"):
        answer = webhook.answer("/validate", pod_review([f"{host}/{path}"]))
        response = answer["response"]
        assert response["allowed"] is False, (host, response)
        assert "attestations.provenance.present" in response["status"]["message"], (host, response)
    # The baseline alone admits a signed image outside the strict repositories, in any spelling.
    staging_path = staging.text.split("/", 1)[1]
    for host in (registry_tls.host, f"localhost:{port}"):
        response = webhook.answer("/validate", pod_review([f"{host}/{staging_path}"]))["response"]
        assert response["allowed"] is True, (host, response)
