"""slsacheck and sigstore-python (as a whole process, offline) on the same real bundles:
where they agree, and the one place slsacheck is deliberately less strict, said so.

The trust configs are built in the test from sigstore-python's own `config.v1.json`,
with the trusted root swapped for the one the bundle needs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import Cli, Run, cli
from tests.support.env import shared_file
from tests.support.peers import py_verify_identity

__all__ = ["cli"]  # a fixture, imported so pytest finds it here

PY = ("realworld", "sigstore__sigstore-python")
ASSETS = (*PY, "test", "assets")
CPYTHON = (*ASSETS, "integration", "Python-3.12.5.tgz.sigstore")
CPYTHON_SHA256 = "sha256:38dc4e2c261d49c661196066edbfb70fdb16be4a79cc8220c224dfeb5636d405"
THOMAS = ("thomas@python.org", "https://accounts.google.com")


def _trust_config(tmp_path: Path, root: Path) -> Path:
    config = json.loads(shared_file(*ASSETS, "trust_config", "config.v1.json").read_text())
    config["trustedRoot"] = json.loads(root.read_text())
    path = tmp_path / "trust_config.json"
    path.write_text(json.dumps(config))
    return path


def _slsacheck(cli: Cli, bundle: Path, root: Path, identity: tuple[str, str], target: str) -> Run:
    return cli("verify-bundle", "--bundle", str(bundle), "--trusted-root", str(root),
               "--certificate-identity", identity[0], "--certificate-oidc-issuer", identity[1], target)


@pytest.fixture
def production(tmp_path: Path) -> tuple[Path, Path]:
    root = shared_file(*PY, "roots", "production_trusted_root.json")
    return root, _trust_config(tmp_path, root)


def test_both_refuse_a_proof_without_checkpoint(cli: Cli, production: tuple[Path, Path]) -> None:
    root, config = production
    peer = py_verify_identity(shared_file(*CPYTHON), CPYTHON_SHA256, trust_config=config,
                              identity=THOMAS[0], issuer=THOMAS[1])
    assert not peer and peer.says("entry must contain inclusion proof, with checkpoint")
    mine = _slsacheck(cli, shared_file(*CPYTHON), root, THOMAS, CPYTHON_SHA256)
    assert mine.code == 1 and "inclusion proof has no checkpoint" in mine.err


def test_without_the_proof_slsacheck_takes_the_set_and_sigstore_python_does_not(
    cli: Cli, production: tuple[Path, Path], tmp_path: Path
) -> None:
    """A v0.1 bundle may omit the proof (sigstore-go agrees); sigstore-python wants one always."""
    root, config = production
    bundle = json.loads(shared_file(*CPYTHON).read_text())
    del bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    path = tmp_path / "no-proof.sigstore"
    path.write_text(json.dumps(bundle))
    assert not py_verify_identity(path, CPYTHON_SHA256, trust_config=config, identity=THOMAS[0], issuer=THOMAS[1])
    assert _slsacheck(cli, path, root, THOMAS, CPYTHON_SHA256).code == 0


def test_both_skip_a_timestamp_over_another_message(cli: Cli, tmp_path: Path) -> None:
    root = shared_file("realworld", "derived", "sigstore-python", "staging_root_with_test_tsa.json")
    bundle, text = shared_file(*ASSETS, "tsa", "bundle.txt.sigstore"), shared_file(*ASSETS, "tsa", "bundle.txt")
    who = ("alexis.challande@trailofbits.com", "https://accounts.google.com")
    assert py_verify_identity(bundle, text, trust_config=_trust_config(tmp_path, root), identity=who[0], issuer=who[1])
    mine = _slsacheck(cli, bundle, root, who, str(text))
    assert mine.code == 0 and "skipped 1 RFC 3161 timestamp" in mine.err
