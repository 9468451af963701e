"""A Tekton step's commands import only what their path uses (module sets, never timings).

Each command runs as its own process under `python -X importtime`, as a step runs it, and
the modules it imported are read from that report: `sign`, `attest` and `verify --key`
against a real loopback registry, `verify-bundle` offline over the sigstore-conformance
bundle. A step pays every import on every run, and these were the costs that mattered:
`requests`/`urllib3` (the registry client is on `http.client`), python-tuf (whose signer
package loads boto3 where installed), sigstore-python, jsonschema, YAML and CEL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from slsacheck.signing.keys import encrypt_private_key, public_key_pem
from tests.support.env import shared_dir
from tests.support.registry import PushedImage, RunningRegistry

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "startup-imports"
# What no registry step with a key needs, whatever else it loads.
NEVER = (
    "requests", "urllib3", "sigstore", "sigstore_models", "tuf", "securesystemslib", "boto3", "botocore",
    "jsonschema", "yaml", "celpy", "cel_expr_python", "google.protobuf", "in_toto_attestation", "rfc3161_client",
    "rich", "pkcs11", "starlette", "uvicorn",
)


def _imported(argv: list[str], env: dict[str, str] | None = None) -> set[str]:
    """The modules a `slsacheck` process imported, from its `-X importtime` report."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "slsacheck", *argv], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env=env, check=False)
    report = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    errors = [line for line in done.stderr.splitlines() if not line.startswith("import time:")]
    assert done.returncode == 0, "\n".join(errors) + done.stdout
    return {line.rsplit("|", 1)[1].strip() for line in report[1:]}


def _present(loaded: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in loaded if any(m == n or m.startswith(n + ".") for n in names))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A cosign key pair and a predicate."""
    tmp = tmp_path_factory.mktemp("startup-files")
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp / "cosign.key").write_bytes(encrypt_private_key(key, PASSWORD.encode()))
    (tmp / "cosign.pub").write_bytes(public_key_pem(key))
    (tmp / "predicate.json").write_text(json.dumps({"n": 1}))
    return {"key": tmp / "cosign.key", "pub": tmp / "cosign.pub", "predicate": tmp / "predicate.json"}


@pytest.fixture
def env() -> dict[str, str]:
    return {**os.environ, "COSIGN_PASSWORD": PASSWORD}


def test_sign_attest_and_verify_with_a_key_import_no_client_library(
    registry_http: RunningRegistry, repo_name: str, pushed_image: Callable[..., PushedImage],
    files: dict[str, Path], env: dict[str, str],
) -> None:
    image = pushed_image(registry_http, repo_name)
    key, pub, predicate = files["key"], files["pub"], files["predicate"]
    ref = str(image.ref)
    runs = {
        "sign": _imported(["sign", "--key", str(key), "--format", "legacy", ref], env),
        "attest": _imported(["attest", "--key", str(key), "--format", "legacy", "--predicate", str(predicate),
                             "--type", "https://example.com/startup", ref], env),
        "verify": _imported(["verify", "--key", str(pub), "--tlog", "ignore", ref], env),
    }
    for command, loaded in runs.items():
        # The report is read right: each command did load the registry client and the crypto.
        assert {"slsacheck.oci._http", "http.client", "cryptography"} <= loaded, command
        assert _present(loaded, NEVER) == [], command
    # A key signs and verifies with no certificate anywhere: cryptography's x509 package (its
    # import alone is about half of such a process's start-up) and the certificate-path code
    # load only where a certificate or a trusted root is read.
    for command, loaded in runs.items():
        assert _present(loaded, ("cryptography.x509", "slsacheck.signing._certs")) == [], command
    # Nor does it read a log entry without a trusted root (--tlog ignore here): the Sigstore
    # verification code loads with the first trusted root.
    sigstore_code = ("slsacheck.signing.trust", "slsacheck.signing.verifier", "slsacheck.signing.cosign_material",
                     "slsacheck.signing._tlog", "slsacheck.signing._rekor_body")
    assert _present(runs["verify"], sigstore_code) == []
    # Nor the signing code, resolving a public key, nor the writers of cosign's tags and of
    # bundle referrers.
    assert _present(runs["verify"], ("slsacheck.signing.keysigner", "slsacheck.signing.delegated",
                                     "slsacheck.signing.signer", "slsacheck.attach.cosign_tags",
                                     "slsacheck.attach.referrers")) == []
    # What only an error, a credential helper, another key kind, a layout directory or a blob
    # needs; `shutil` only printed help (argparse asks it the terminal's width).
    for command, loaded in runs.items():
        assert _present(loaded, ("difflib", "subprocess", "slsacheck.signing.kms_aws_uri",
                                 "slsacheck.signing.pkcs11_uri", "slsacheck.oci.layout",
                                 "slsacheck.oci._layout_lock", "shutil", "slsacheck.models.artifact")) == [], command
    # Signing and attesting collect no evidence, and in cosign's legacy format write no bundle.
    for command in ("sign", "attest"):
        assert _present(runs[command], ("slsacheck.attach.candidates", "slsacheck.models.evidence",
                                        "slsacheck.attach.referrers", "slsacheck.signing.bundle_build")) == [], command
    # Verifying with a key needs no TUF client (the log is ignored) and no libsodium (no
    # password-protected key, no Ed25519ph signature).
    assert "slsacheck.signing.tuf" not in runs["verify"]
    assert _present(runs["verify"], ("nacl",)) == []
    assert "nacl.secret" in runs["sign"]  # the cosign key's secretbox: the check reads what was loaded


def test_verify_bundle_offline_imports_cryptography_only(env: dict[str, str]) -> None:
    assets = shared_dir() / "conformance" / "test" / "assets" / "bundle-verify"
    case = assets / "happy-path-v0.3"
    trusted_root = shared_dir() / "conformance" / "_offline_extras" / "production_trusted_root.json"
    identity = ("https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
                ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main")
    loaded = _imported(["verify-bundle", "--bundle", str(case / "bundle.sigstore.json"),
                        "--certificate-identity", identity,
                        "--certificate-oidc-issuer", "https://token.actions.githubusercontent.com",
                        "--trusted-root", str(trusted_root), str(assets / "a.txt")], env)
    assert "cryptography.x509" in loaded
    assert _present(loaded, (*NEVER, "nacl", "http.client", "slsacheck.oci")) == []
    # A bundle is not a cosign layer, and nothing failed to parse or needed a helper process.
    assert _present(loaded, ("slsacheck.signing.cosign_material", "difflib", "subprocess")) == []
