"""Independent verifiers, run as whole processes: `@sigstore/verify` and sigstore-python.

Each returns a `Verdict` (ok + the peer's own words) instead of raising, so that a test
can assert both acceptance and the reason for a rejection. sigstore-python runs from the
project's virtualenv (`python -m sigstore`), always `--offline` with an explicit
`--trust-config`: no TUF fetch, no network.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.sigstore_mock import PEERS, node_peers

_TIMEOUT = 120


@dataclass(frozen=True)
class Verdict:
    ok: bool
    output: str

    def __bool__(self) -> bool:
        return self.ok

    def says(self, words: str) -> bool:
        """Whether the peer's output contains `words`, whitespace and line wrapping aside."""
        return " ".join(words.split()) in " ".join(self.output.split())


def _run(argv: list[str], cwd: Path | None = None) -> Verdict:
    # A wide console keeps sigstore-python's (rich) messages on one line each.
    env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1"}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT, cwd=cwd, env=env, check=False)
    return Verdict(done.returncode == 0, (done.stdout + done.stderr).strip())


def js_verify(
    bundle: Path,
    *,
    artifact: Path | None = None,
    digest: str | None = None,
    trusted_root: Path | None = None,
    key: Path | None = None,
    identity: str | None = None,
    issuer: str | None = None,
) -> Verdict:
    """`@sigstore/verify` offline (tests/peers/verify_bundle.js)."""
    argv = [node_peers(), str(PEERS / "verify_bundle.js"), "--bundle", str(bundle)]
    if trusted_root is not None:
        argv += ["--trusted-root", str(trusted_root)]
    if key is not None:
        argv += ["--key", str(key)]
    if identity is not None:
        argv += ["--identity", identity, "--issuer", str(issuer)]
    argv += ["--artifact", str(artifact)] if artifact is not None else ["--digest", str(digest)]
    verdict = _run(argv)
    if not verdict.ok and verdict.output.startswith("usage:"):
        raise AssertionError(f"verify_bundle.js called wrongly: {verdict.output}")
    return verdict


def js_sign_keyless(base_url: str, token_file: Path, artifact: Path, out: Path, *, dsse: bool = False) -> Verdict:
    """sigstore-js keyless signing against the mock (tests/peers/sign_keyless.js)."""
    argv = [node_peers(), str(PEERS / "sign_keyless.js"), base_url, str(token_file), str(artifact), str(out)]
    return _run([*argv, "dsse"] if dsse else argv)


def sigstore_python(trust_config: Path, *args: str) -> Verdict:
    """`python -m sigstore --trust-config FILE ARGS...` from this interpreter's environment."""
    return _run([sys.executable, "-m", "sigstore", "--trust-config", str(trust_config), *args])


def py_verify_identity(bundle: Path, target: Path | str, *, trust_config: Path, identity: str, issuer: str) -> Verdict:
    """sigstore-python `verify identity --offline` of a bundle over a file or `sha256:<hex>`."""
    return sigstore_python(
        trust_config,
        "verify",
        "identity",
        "--offline",
        "--bundle",
        str(bundle),
        "--cert-identity",
        identity,
        "--cert-oidc-issuer",
        issuer,
        str(target),
    )


def py_sign(bundle_out: Path, artifact: Path, *, trust_config: Path, token: str) -> Verdict:
    """sigstore-python keyless `sign` against the mock, writing one bundle."""
    return sigstore_python(trust_config, "sign", "--identity-token", token, "--bundle", str(bundle_out), str(artifact))
