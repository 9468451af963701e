"""`slsacheck serve` started wrong, as a new operator starts it: one line that says what
is wrong with the TLS files, exit 2, never "serving" followed by a uvicorn traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.admission.conftest import WebhookTLS
from tests.support.env import ROOT
from tests.support.registry import free_port

pytestmark = pytest.mark.integration

POLICY = """\
apiVersion: slsacheck.dev/v1alpha1
kind: ImagePolicy
metadata: {name: release}
spec:
  images: {include: ["registry.example.com/**"]}
  authorities:
    - name: release-key
      key: {file: release.pub}
  signatures: {authorities: [release-key]}
"""


def _serve(tmp_path: Path, cert: Path, key: Path) -> subprocess.CompletedProcess[str]:
    from slsacheck.signing.keys import generate_key_pair

    (tmp_path / "release.pub").write_bytes(generate_key_pair(b"")[1])
    (tmp_path / "policy.yaml").write_text(POLICY)
    return subprocess.run(
        [sys.executable, "-m", "slsacheck", "serve", "--policy", str(tmp_path / "policy.yaml"),
         "--host", "127.0.0.1", "--port", str(free_port()), "--tls-cert", str(cert), "--tls-key", str(key)],
        cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_a_certificate_with_another_key_is_refused_before_serving(webhook_tls: WebhookTLS, tmp_path: Path) -> None:
    # The CA's key is a real private key, just not the serving certificate's.
    run = _serve(tmp_path, webhook_tls.serving.cert_path, webhook_tls.ca.key_path)
    assert run.returncode == 2, run.stderr
    assert f"--tls-cert {webhook_tls.serving.cert_path} and --tls-key {webhook_tls.ca.key_path} do not match" \
        in run.stderr
    assert "Traceback" not in run.stderr and '"serving"' not in run.stderr


def test_a_key_file_that_is_not_pem_is_refused_before_serving(webhook_tls: WebhookTLS, tmp_path: Path) -> None:
    key = tmp_path / "tls.key"
    key.write_text("not a key\n")
    run = _serve(tmp_path, webhook_tls.serving.cert_path, key)
    assert run.returncode == 2, run.stderr
    assert "not a PEM certificate and its private key" in run.stderr
    assert "Traceback" not in run.stderr and '"serving"' not in run.stderr
