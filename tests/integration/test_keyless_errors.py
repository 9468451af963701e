"""What the keyless signer does when its inputs or the services fail, and when its
Fulcio certificate runs out: one clear `slsacheck.errors.Error` each, naming what to
fix; a certificate that expired mid-run is replaced while the token is still valid.
Runs against the loopback mock Sigstore, as test_keyless.py.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509

from slsacheck.errors import InputError
from slsacheck.signing.keyless import (
    InvalidIdentityToken,
    InvalidTrustConfig,
    KeylessSigner,
    SigstoreServiceError,
)
from tests.support.peers import js_verify
from tests.support.sigstore_mock import DEFAULT_ISSUER, MockSigstore, make_token, mock_sigstore, running_mock_sigstore

__all__ = ["mock_sigstore"]  # the fixture, imported for pytest

pytestmark = pytest.mark.integration

SUBJECT = "https://kubernetes.io/namespaces/ci/serviceaccounts/release-signer"


@pytest.fixture(scope="module")
def signer(mock_sigstore: MockSigstore) -> KeylessSigner:
    return KeylessSigner(mock_sigstore.token(SUBJECT), trust_config=str(mock_sigstore.trust_config))


# -- clear errors -------------------------------------------------------------------------


def test_malformed_token_is_refused_before_any_network(mock_sigstore: MockSigstore) -> None:
    for token in ["", "not-a-jwt", make_token(SUBJECT, lifetime=-60, now=1_000_000)]:
        with pytest.raises(InvalidIdentityToken) as caught:
            KeylessSigner(token, trust_config=str(mock_sigstore.trust_config))
        assert caught.value.hint


def test_trust_config_that_does_not_parse(tmp_path: Path) -> None:
    bad = tmp_path / "trust.json"
    bad.write_text('{"mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"}')
    with pytest.raises(InvalidTrustConfig, match=r"trust\.json"):
        KeylessSigner(make_token(SUBJECT), trust_config=str(bad))
    with pytest.raises(InvalidTrustConfig, match="cannot read"):
        KeylessSigner(make_token(SUBJECT), trust_config=str(tmp_path / "absent.json"))


def _signer_with_dead(service: str, mock_sigstore: MockSigstore, tmp_path: Path) -> KeylessSigner:
    """A signer whose trust config sends `service` (a signingConfig URL list) to a loopback
    port nobody listens on: the connection is refused at once."""
    config = json.loads(mock_sigstore.trust_config.read_text())
    config["signingConfig"][service][0]["url"] = "http://127.0.0.1:9"
    path = tmp_path / "trust.json"
    path.write_text(json.dumps(config))
    return KeylessSigner(make_token(SUBJECT), trust_config=str(path))


def test_unreachable_fulcio_is_a_service_error(mock_sigstore: MockSigstore, tmp_path: Path) -> None:
    signer = _signer_with_dead("caUrls", mock_sigstore, tmp_path)
    with pytest.raises(SigstoreServiceError) as caught:
        signer.sign_message(b"payload")
    assert "Fulcio" in str(caught.value)
    assert "127.0.0.1:9" in caught.value.diagnostics()


def test_unreachable_rekor_is_a_service_error(mock_sigstore: MockSigstore, tmp_path: Path) -> None:
    signer = _signer_with_dead("rekorTlogUrls", mock_sigstore, tmp_path)
    with pytest.raises(SigstoreServiceError) as caught:
        signer.sign_message(b"payload")
    assert "Rekor" in str(caught.value)
    assert "127.0.0.1:9" in caught.value.diagnostics()


def test_non_in_toto_dsse_payload_is_refused(signer: KeylessSigner) -> None:
    with pytest.raises(InputError, match="in-toto"):
        signer.sign_dsse("application/vnd.example+json", b"{}")
    with pytest.raises(InputError, match="not an in-toto Statement"):
        signer.sign_dsse("application/vnd.in-toto+json", b'{"_type": "nope"}')


def test_expired_certificate_is_renewed_while_the_token_is_valid(tmp_path: Path) -> None:
    # Certificates that live 4 seconds (slack for a loaded machine): the second
    # signature, made after the first certificate expired, needs a new one.
    with running_mock_sigstore(tmp_path / "short", cert_seconds=4) as short:
        signer = KeylessSigner(short.token(SUBJECT), trust_config=str(short.trust_config))
        first = signer.sign_message(b"first")
        assert first.material.certificate is not None
        leaf = x509.load_pem_x509_certificate(first.material.certificate)
        deadline = time.monotonic() + 30
        while datetime.now(UTC) <= leaf.not_valid_after_utc and time.monotonic() < deadline:
            time.sleep(0.2)
        second = signer.sign_message(b"second")
        assert second.material.certificate not in (None, first.material.certificate)
        bundle = tmp_path / "second.json"
        bundle.write_text(json.dumps(second.material.sigstore_bundle))
        artifact = tmp_path / "second.txt"
        artifact.write_bytes(b"second")
        verdict = js_verify(
            bundle, artifact=artifact, trusted_root=short.trusted_root, identity=SUBJECT, issuer=DEFAULT_ISSUER
        )
        assert verdict.ok, verdict.output
