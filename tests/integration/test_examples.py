"""The scripts in examples/ run as a user runs them, using nothing but `import slsacheck`.

An image in an OCI layout is signed and attested by `sign_and_attest.py`, then judged by
`verify_with_key.py` (the public `verify_with_key`) and `gate_with_policies.py` (policies
through the public API). Each verification has its attacker's counterpart: another key,
another predicate type, a registry that cannot be reached (never a pass), unreadable input.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import slsacheck
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from tests.support.env import ROOT
from tests.support.keys import write_key_pairs
from tests.support.registry import free_port

pytestmark = pytest.mark.integration

EXAMPLES = ROOT / "examples"
SLSA1 = "https://slsa.dev/provenance/v1"


def _example(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COSIGN_PASSWORD": ""}
    return subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Path]]:
    """An image in a layout, signed and attested (SLSA v1) by examples/sign_and_attest.py with key `k1`."""
    root = tmp_path_factory.mktemp("examples")
    keys = write_key_pairs(root, "k1", "k2")
    store = LayoutStore(root / "layout", create=True)
    scratch.push(store, scratch.image({"hello": b"examples"}), tag="v1")
    image = f"oci:{root / 'layout'}:v1"
    predicate = root / "predicate.json"
    predicate.write_text(json.dumps({"buildDefinition": {"buildType": "https://example.com/build"}}))
    run = _example("sign_and_attest.py", image, str(keys["k1"]), SLSA1, str(predicate))
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("signed sha256:") and "attested sha256:" in run.stdout
    return image, keys


def test_examples_use_only_import_slsacheck() -> None:
    scripts = sorted(EXAMPLES.glob("*.py"))
    assert len(scripts) >= 3
    for script in scripts:
        for node in ast.walk(ast.parse(script.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("slsacheck"), f"{script.name}: from {node.module} import"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name == "slsacheck" or not alias.name.startswith("slsacheck"), script.name
        assert "import slsacheck\n" in script.read_text(), script.name


def test_verify_with_key_passes_for_the_signing_key(signed: tuple[str, dict[str, Path]]) -> None:
    image, keys = signed
    run = _example("verify_with_key.py", image, str(keys["k1.pub"]))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "pass  signature.authority" in run.stdout
    run = _example("verify_with_key.py", image, str(keys["k1.pub"]), "slsaprovenance1")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "pass  attestation.present" in run.stdout


def test_verify_with_key_fails_for_another_key_or_type(signed: tuple[str, dict[str, Path]]) -> None:
    image, keys = signed
    other = _example("verify_with_key.py", image, str(keys["k2.pub"]))
    assert other.returncode == 1 and "fail  signature.authority" in other.stdout
    other_att = _example("verify_with_key.py", image, str(keys["k2.pub"]), "slsaprovenance1")
    assert other_att.returncode == 1 and "fail  attestation.present" in other_att.stdout
    wrong_type = _example("verify_with_key.py", image, str(keys["k1.pub"]), "vuln")
    assert wrong_type.returncode == 1 and "fail  attestation.present" in wrong_type.stdout


def test_verify_with_key_never_passes_what_it_cannot_reach(signed: tuple[str, dict[str, Path]]) -> None:
    _, keys = signed
    unreachable = f"127.0.0.1:{free_port()}/nobody/app:1"
    run = _example("verify_with_key.py", unreachable, str(keys["k1.pub"]))
    assert run.returncode == 3, run.stdout + run.stderr
    assert ": error" in run.stdout and "could not verify:" in run.stdout
    verdict = slsacheck.verify_with_key(unreachable, keys["k1.pub"])
    assert not verdict.passed and verdict.outcome == "error"


def test_verify_with_key_bad_input(signed: tuple[str, dict[str, Path]], tmp_path: Path) -> None:
    image, keys = signed
    missing = _example("verify_with_key.py", image, str(tmp_path / "missing.pub"))
    assert missing.returncode == 2 and missing.stderr.startswith("error: ") and "Traceback" not in missing.stderr
    with pytest.raises(slsacheck.InputError):
        slsacheck.verify_with_key(image, b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    with pytest.raises(slsacheck.InvalidReference):
        slsacheck.verify_with_key("Not A Reference", keys["k1.pub"])
    pem = keys["k1.pub"].read_bytes()
    assert slsacheck.verify_with_key(image, pem).passed
    assert not slsacheck.verify_with_key(image, keys["k2.pub"].read_bytes()).passed


def _policy(directory: Path, key: Path, name: str) -> Path:
    (directory / f"{name}.pub").write_bytes(key.read_bytes())
    path = directory / f"{name}.yaml"
    path.write_text(f"""apiVersion: slsacheck.dev/v1alpha1
kind: ImagePolicy
metadata:
  name: {name}
spec:
  images:
    include: ["oci:**"]
  authorities:
    - name: release
      key:
        file: {name}.pub
  signatures:
    authorities: [release]
  attestations:
    - name: provenance
      predicateType: slsaprovenance1
      authorities: [release]
""")
    return path


def test_gate_with_policies(signed: tuple[str, dict[str, Path]], tmp_path: Path) -> None:
    image, keys = signed
    good = _policy(tmp_path, keys["k1.pub"], "good")
    run = _example("gate_with_policies.py", str(good), image)
    assert run.returncode == 0, run.stdout + run.stderr
    assert ": pass" in run.stdout and "pass  attestations.provenance.present" in run.stdout
    other = _policy(tmp_path, keys["k2.pub"], "other")
    run = _example("gate_with_policies.py", f"{good},{other}", image)
    assert run.returncode == 1 and "fail  signatures.threshold" in run.stdout
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: slsacheck.dev/v1alpha1\nkind: ImagePolicy\nspec: {}\n")
    run = _example("gate_with_policies.py", str(broken), image)
    assert run.returncode == 2 and run.stderr.startswith("error: ") and "Traceback" not in run.stderr
