"""The inventory of keyless evidence (a private Sigstore on loopback, tests/support/sigstore_mock.py).

Without a policy, a keyless signature NAMES its signer (the certificate's identity and
issuer) whatever trust is given; it VERIFIES only against a `--trusted-root`, and only then
does the provenance support SLSA build level 2. A trusted root of another deployment
verifies nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slsacheck.signing.keyless import KeylessSigner
from tests.audit import population as pop
from tests.audit.scenario import run_cli
from tests.support.registry import RunningRegistry
from tests.support.sigstore_mock import DEFAULT_ISSUER, MockSigstore, mock_sigstore, running_mock_sigstore

__all__ = ["mock_sigstore"]  # the fixture, imported for pytest

pytestmark = pytest.mark.integration

SUBJECT = "https://kubernetes.io/namespaces/tekton-chains/serviceaccounts/tekton-chains-controller"


@pytest.fixture(scope="module")
def keyless_image(mock_sigstore: MockSigstore, registry_http: RunningRegistry) -> str:
    signer = KeylessSigner(mock_sigstore.token(SUBJECT), trust_config=str(mock_sigstore.trust_config))
    store = registry_http.store("audit-keyless/app")
    pop.push_image(store, "v1", "keyless")
    ref = registry_http.ref("audit-keyless/app", "v1")
    pop.sign(store, ref, signer)
    pop.attest(store, ref, signer, pop.provenance())
    return str(ref)


def _record(*argv: str) -> dict[str, object]:
    code, out, _ = run_cli("audit", *argv, "--format", "json", "--quiet")
    assert code == 0, out
    record: dict[str, object] = json.loads(out)["images"][0]
    return record


def test_keyless_signer_is_named_and_verified_against_the_trusted_root(
    keyless_image: str, mock_sigstore: MockSigstore
) -> None:
    named = _record(keyless_image)
    evidence = named["evidence"]
    assert isinstance(evidence, dict)
    signature = evidence["signatures"][0]
    assert signature["signer"] == {"kind": "keyless", "identity": SUBJECT, "issuer": DEFAULT_ISSUER}
    assert signature["tlog"] is True and signature["verified"] is False
    assert "trusted root" in signature["verifiableWith"]
    assert named["slsaLevel"] == 1

    verified = _record(keyless_image, "--trusted-root", str(mock_sigstore.trusted_root))
    evidence = verified["evidence"]
    assert isinstance(evidence, dict)
    assert evidence["signatures"][0]["verified"] is True
    assert evidence["attestations"][0]["verified"] is True
    assert SUBJECT in evidence["attestations"][0]["verifiedBy"][0]["signer"]
    assert verified["slsaLevel"] == 2
    assert "no policy pins the builder" in evidence["slsa"]["reason"]


def test_another_deployments_root_verifies_nothing(keyless_image: str, tmp_path: Path) -> None:
    with running_mock_sigstore(tmp_path) as other:
        record = _record(keyless_image, "--trusted-root", str(other.trusted_root))
    evidence = record["evidence"]
    assert isinstance(evidence, dict)
    assert evidence["signatures"][0]["verified"] is False and evidence["signatures"][0]["rejected"]
    assert record["slsaLevel"] == 1
