"""Sigstore bundles other clients wrote (sigstore-go, sigstore-python, sigstore-rs test
data, `realworld/` in the shared folder), each with the outcome its own project asserts
(the folder's README names the upstream test). Where slsacheck differs on purpose, the
test says so. Nothing reaches the network.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from slsacheck.errors import VerificationError
from slsacheck.models.digest import Digest
from slsacheck.signing.bundle import verify_bundle
from slsacheck.signing.identity import Identity
from slsacheck.signing.trust import TrustedRoot, load_trusted_root
from tests.support.env import shared_file

PY = ("realworld", "sigstore__sigstore-python")
ASSETS = (*PY, "test", "assets")
ANYONE = Identity(subject_regexp=".*", issuer_regexp=".*")


def _json(*parts: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(shared_file(*parts).read_text())
    return doc


def _root(*parts: str) -> TrustedRoot:
    return load_trusted_root(shared_file(*parts))


@pytest.fixture(scope="module")
def production() -> TrustedRoot:
    return _root(*PY, "roots", "production_trusted_root.json")


@pytest.fixture(scope="module")
def staging() -> TrustedRoot:
    return _root(*PY, "roots", "staging_trusted_root.json")


# -- an inclusion proof without its checkpoint (item: CPython's release bundle) ---------------

CPYTHON = (*ASSETS, "integration", "Python-3.12.5.tgz.sigstore")
CPYTHON_SHA256 = Digest("sha256", "38dc4e2c261d49c661196066edbfb70fdb16be4a79cc8220c224dfeb5636d405")
CPYTHON_SIGNER = Identity(subject="thomas@python.org", issuer="https://accounts.google.com")


def test_cpython_bundle_with_a_proof_lacking_its_checkpoint_is_refused(production: TrustedRoot) -> None:
    """sigstore-python (`test_plumbing.py`) and sigstore-go (`pkg/tlog/entry.go`) refuse it as-is:
    the bundle format makes InclusionProof.checkpoint REQUIRED in every version."""
    bundle = _json(*CPYTHON)
    assert bundle["mediaType"].endswith("version=0.1")
    assert "checkpoint" not in bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    with pytest.raises(VerificationError, match="inclusion proof has no checkpoint"):
        verify_bundle(bundle, digest=CPYTHON_SHA256, identity=CPYTHON_SIGNER, trusted_root=production)


def test_cpython_bundle_without_the_incomplete_proof_verifies_on_its_set(production: TrustedRoot) -> None:
    """The other direction: v0.1 may omit the proof and rely on the SET (sigstore-go accepts this;
    sigstore-python is stricter still and wants a proof in every bundle)."""
    bundle = _json(*CPYTHON)
    del bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    result = verify_bundle(bundle, digest=CPYTHON_SHA256, identity=CPYTHON_SIGNER, trusted_root=production)
    assert (result.subject, result.issuer) == ("thomas@python.org", "https://accounts.google.com")
    assert result.integrated_time is not None


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda e: e.pop("inclusionPromise"), "inclusion promise"),  # no proof of logging at all
        (lambda e: e.update(integratedTime=str(int(e["integratedTime"]) + 60)), "SET"),  # forged time
        (lambda e: e["inclusionProof"].update(checkpoint={"envelope": ""}), "no checkpoint"),  # empty checkpoint
    ],
)
def test_cpython_bundle_attacks_stay_refused(production: TrustedRoot, edit: Any, message: str) -> None:
    bundle = copy.deepcopy(_json(*CPYTHON))
    entry = bundle["verificationMaterial"]["tlogEntries"][0]
    edit(entry)
    if message != "no checkpoint":
        entry.pop("inclusionProof", None)
    with pytest.raises(VerificationError, match=message):
        verify_bundle(bundle, digest=CPYTHON_SHA256, identity=CPYTHON_SIGNER, trusted_root=production)


def test_v02_bundle_without_checkpoint_is_refused(staging: TrustedRoot) -> None:
    """sigstore-python `test_verification_materials_offline_no_checkpoint`."""
    with pytest.raises(VerificationError, match="checkpoint"):
        verify_bundle(
            shared_file(*ASSETS, "bundle_no_checkpoint.txt.sigstore").read_bytes(),
            artifact=shared_file(*ASSETS, "bundle_no_checkpoint.txt").read_bytes(),
            identity=ANYONE,
            trusted_root=staging,
        )


def test_cpython_bundle_over_another_artifact_is_refused(production: TrustedRoot) -> None:
    bundle = _json(*CPYTHON)
    del bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    other = Digest("sha256", "00" * 32)
    with pytest.raises(VerificationError):
        verify_bundle(bundle, digest=other, identity=CPYTHON_SIGNER, trusted_root=production)
