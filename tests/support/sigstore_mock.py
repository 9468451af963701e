"""A private Sigstore deployment on loopback for keyless tests.

`node tests/peers/mock_sigstore.js` serves Fulcio, Rekor v1 and an RFC 3161 TSA from
`@sigstore/mock`, and a Rekor v2 log (real Merkle tree, signed checkpoints), over real HTTP
on 127.0.0.1 and writes its trust material (a v1 and a v2 signing config); this module
starts it on a free port, waits until it says `ready`, and stops it. The mock checks no
token signature: `token()` makes a JWT whose `sub` becomes the certificate's SAN (a URI)
and whose `iss` becomes its issuer extension.

Missing node or `tests/peers/node_modules` skips on a developer machine and fails in CI.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.env import ROOT, missing
from tests.support.processes import stop

PEERS = ROOT / "tests" / "peers"
DEFAULT_SUBJECT = "https://kubernetes.io/namespaces/ci/serviceaccounts/builder"
DEFAULT_ISSUER = "https://issuer.mock.invalid"
_START_TIMEOUT = 30.0


def node_peers() -> str:
    """The `node` binary, when the npm peers are installed; else skip/fail via `missing`."""
    node = shutil.which("node")
    if node is None or not (PEERS / "node_modules" / "@sigstore" / "mock").is_dir():
        missing("node peers (npm ci in tests/peers)")
    assert node is not None
    return node


def _b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()


def make_token(
    sub: str = DEFAULT_SUBJECT,
    iss: str = DEFAULT_ISSUER,
    *,
    lifetime: int = 600,
    now: int | None = None,
    extra: dict[str, object] | None = None,
) -> str:
    """An OIDC identity token the mock Fulcio accepts (it checks claims, never the signature)."""
    issued = int(time.time()) if now is None else now
    claims: dict[str, object] = {
        "iss": iss,
        "sub": sub,
        "aud": "sigstore",
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime,
        **(extra or {}),
    }
    header = _b64url({"alg": "HS256", "typ": "JWT"})
    # The signature part is never checked by the mock; it only has to be present.
    return f"{header}.{_b64url(claims)}.bW9jay1vbmx5"


@dataclass(frozen=True)
class MockSigstore:
    """A running mock: its base URL and the trust material it wrote."""

    url: str
    trust_config: Path
    trusted_root: Path
    signing_config: Path
    log: Path
    # cosign 3's choice: Fulcio, Rekor v2 and the TSA (the trusted root lists both logs)
    signing_config_v2: Path
    trust_config_v2: Path

    def token(self, sub: str = DEFAULT_SUBJECT, iss: str = DEFAULT_ISSUER, **kwargs: object) -> str:
        return make_token(sub, iss, **kwargs)  # type: ignore[arg-type]


@contextmanager
def running_mock_sigstore(workdir: Path, *, cert_seconds: int | None = None) -> Iterator[MockSigstore]:
    """Start the mock on a free loopback port, yield it when ready, stop it afterwards.

    `cert_seconds` shortens the life of Fulcio certificates (default 10 minutes).
    """
    node = node_peers()
    env = dict(os.environ)
    if cert_seconds is not None:
        env["MOCK_SIGSTORE_CERT_SECONDS"] = str(cert_seconds)
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "mock_sigstore.log"
    with log.open("wb") as errors:
        proc = subprocess.Popen(
            [node, str(PEERS / "mock_sigstore.js"), "0", str(workdir)],
            stdout=subprocess.PIPE,
            stderr=errors,
            cwd=PEERS,
            env=env,
        )
    try:
        url = _wait_ready(proc, log)
        # Keep reading stdout so the server never blocks on a full pipe.
        threading.Thread(target=_drain, args=(proc,), daemon=True).start()
        yield MockSigstore(
            url=url,
            trust_config=workdir / "trust_config.json",
            trusted_root=workdir / "trusted_root.json",
            signing_config=workdir / "signing_config.json",
            log=log,
            signing_config_v2=workdir / "signing_config_v2.json",
            trust_config_v2=workdir / "trust_config_v2.json",
        )
    finally:
        stop(proc)


def _wait_ready(proc: subprocess.Popen[bytes], log: Path) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + _START_TIMEOUT
    result: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode().strip()
            if line.startswith("ready "):
                result.append(line.split(" ", 1)[1])
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=max(0.0, deadline - time.monotonic()))
    if not result:
        proc.kill()
        raise RuntimeError(f"mock Sigstore did not start: {log.read_text(errors='replace')[-2000:]}")
    return result[0]


def _drain(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdout is not None
    for _ in proc.stdout:
        pass


@pytest.fixture(scope="module")
def mock_sigstore(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockSigstore]:
    """The running mock, one per test module (import this name into the test module)."""
    with running_mock_sigstore(tmp_path_factory.mktemp("sigstore")) as running:
        yield running
