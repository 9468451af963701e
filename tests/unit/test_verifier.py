"""The one `Verifier` under both signature formats: a Sigstore bundle and a cosign layer
carrying the same signature and the same log entry verify to the same `Verified`, and each
shared check refuses the same attack in both, with the same words.

Evidence is built with a private Sigstore the test holds the keys of (tests/support), the
way an attacker would build it: a real SET by another key, a real SET over another
signature, a real entry logged after the certificate expired, a trust root whose log key
was retired, a clock the entry is ahead of.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from slsacheck.attach.candidates import BundleReferrer
from slsacheck.errors import InputError, VerificationError
from slsacheck.models.descriptor import Descriptor
from slsacheck.models.digest import Digest
from slsacheck.models.mediatypes import SIGSTORE_BUNDLE_V03
from slsacheck.policy.authority import KeyAuthority
from slsacheck.signing.bundle import verify_bundle
from slsacheck.signing.cosign_material import CosignLayer, verify_layer
from slsacheck.signing.identity import Identity
from slsacheck.signing.trust import TrustedRoot, trusted_root_from_json
from slsacheck.signing.verifier import Verified, Verifier
from slsacheck.verify.authorities import Refused, TrustRoots, check
from tests.support.private_sigstore import (
    DER,
    IDENTITY,
    ISSUER,
    PEM,
    SPKI,
    START,
    SUBJECT,
    PrivateSigstore,
    b64,
    hashedrekord,
    make_private_sigstore,
)

SIGNED_AT = START + dt.timedelta(days=30)
LOGGED_AT = SIGNED_AT + dt.timedelta(minutes=1)
NOW = SIGNED_AT + dt.timedelta(days=1)
PAYLOAD = b'{"critical":{"type":"cosign container image signature"},"optional":null}'


@pytest.fixture(scope="module")
def sigstore() -> PrivateSigstore:
    return make_private_sigstore()


@pytest.fixture(scope="module")
def signed(sigstore: PrivateSigstore) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, bytes]:
    key, cert = sigstore.leaf(SIGNED_AT)
    return key, cert, key.sign(PAYLOAD, ec.ECDSA(hashes.SHA256()))


def _bundle(cert: x509.Certificate | None, signature: bytes, rekor: dict[str, Any]) -> dict[str, Any]:
    """A v0.1 message-signature bundle whose proof of logging is the SET `rekor` (cosign's form)."""
    payload = rekor["Payload"]
    material: dict[str, Any] = {
        "tlogEntries": [
            {
                "logIndex": str(payload["logIndex"]),
                "logId": {"keyId": b64(bytes.fromhex(payload["logID"]))},
                "kindVersion": {"kind": "hashedrekord", "version": "0.0.1"},
                "integratedTime": str(payload["integratedTime"]),
                "inclusionPromise": {"signedEntryTimestamp": rekor["SignedEntryTimestamp"]},
                "canonicalizedBody": payload["body"],
            }
        ],
    }
    if cert is not None:
        material["x509CertificateChain"] = {"certificates": [{"rawBytes": b64(cert.public_bytes(DER))}]}
    else:
        material["publicKey"] = {"hint": "the key"}
    return {
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": material,
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": b64(hashlib.sha256(PAYLOAD).digest())},
            "signature": b64(signature),
        },
    }


Format = Callable[..., Verified]


def _as_bundle(
    root: TrustedRoot, cert: x509.Certificate, signature: bytes, rekor: dict[str, Any], *,
    identity: Identity = IDENTITY, now: dt.datetime = NOW,
) -> Verified:
    return verify_bundle(_bundle(cert, signature, rekor), artifact=PAYLOAD, identity=identity, trusted_root=root,
                         now=now)


def _as_layer(
    root: TrustedRoot, cert: x509.Certificate, signature: bytes, rekor: dict[str, Any], *,
    identity: Identity = IDENTITY, now: dt.datetime = NOW,
) -> Verified:
    layer = CosignLayer(signature, PAYLOAD, certificate_pem=cert.public_bytes(PEM), rekor_bundle=rekor)
    return verify_layer(layer, identity, Verifier.for_root(root, now=now))


FORMATS = pytest.mark.parametrize("verify", [_as_bundle, _as_layer], ids=["bundle", "layer"])


def test_both_formats_verify_to_one_result(sigstore: PrivateSigstore, signed: Any) -> None:
    _, cert, signature = signed
    rekor = sigstore.rekor_set(hashedrekord(signature, PAYLOAD, cert), LOGGED_AT)
    from_bundle = _as_bundle(sigstore.root, cert, signature, rekor)
    from_layer = _as_layer(sigstore.root, cert, signature, rekor)
    for result in (from_bundle, from_layer):
        assert isinstance(result, Verified)
        assert (result.kind, result.subject, result.issuer) == ("message", SUBJECT, ISSUER)
        assert result.signer == f"{SUBJECT} ({ISSUER})"
        assert result.integrated_time == LOGGED_AT.replace(microsecond=0)
        assert result.tlog_entries == 1 and result.certificate == cert
    assert from_layer.log_index == 7 and from_layer.log_id == sigstore.log_id.hex()


def test_from_trusted_root_reads_the_file(sigstore: PrivateSigstore, signed: Any, tmp_path: Path) -> None:
    _, cert, signature = signed
    path = tmp_path / "trusted_root.json"
    path.write_text(json.dumps(sigstore.doc))
    rekor = sigstore.rekor_set(hashedrekord(signature, PAYLOAD, cert), LOGGED_AT)
    layer = CosignLayer(signature, PAYLOAD, certificate_pem=cert.public_bytes(PEM), rekor_bundle=rekor)
    assert verify_layer(layer, IDENTITY, Verifier.from_trusted_root(path, now=NOW)).subject == SUBJECT
    path.write_text('{"mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.3"}')
    with pytest.raises(InputError):
        Verifier.from_trusted_root(path)


# -- each shared check, the same attack in both formats -------------------------------------


@FORMATS
def test_a_set_made_by_another_key_is_refused(sigstore: PrivateSigstore, signed: Any, verify: Format) -> None:
    _, cert, signature = signed
    rekor = sigstore.rekor_set(hashedrekord(signature, PAYLOAD, cert), LOGGED_AT)
    forged = ec.generate_private_key(ec.SECP256R1())
    canonical = json.dumps(rekor["Payload"], sort_keys=True, separators=(",", ":")).encode()
    rekor["SignedEntryTimestamp"] = b64(forged.sign(canonical, ec.ECDSA(hashes.SHA256())))
    with pytest.raises(VerificationError, match="signed entry timestamp"):
        verify(sigstore.root, cert, signature, rekor)


@FORMATS
def test_a_real_entry_of_another_signature_is_refused(sigstore: PrivateSigstore, signed: Any, verify: Format) -> None:
    key, cert, signature = signed
    other = key.sign(b"something else", ec.ECDSA(hashes.SHA256()))
    rekor = sigstore.rekor_set(hashedrekord(other, b"something else", cert), LOGGED_AT)
    with pytest.raises(VerificationError, match="transparency log entry does not match this signature"):
        verify(sigstore.root, cert, signature, rekor)


@FORMATS
def test_an_entry_integrated_after_the_clock_is_refused(sigstore: PrivateSigstore, signed: Any, verify: Format) -> None:
    _, cert, signature = signed
    rekor = sigstore.rekor_set(hashedrekord(signature, PAYLOAD, cert), LOGGED_AT)
    with pytest.raises(VerificationError, match="the tlog entry's integrated time is in the future"):
        verify(sigstore.root, cert, signature, rekor, now=LOGGED_AT - dt.timedelta(hours=1))


@FORMATS
def test_an_entry_logged_after_its_log_key_was_retired_is_refused(
    sigstore: PrivateSigstore, signed: Any, verify: Format
) -> None:
    _, cert, signature = signed
    rekor = sigstore.rekor_set(hashedrekord(signature, PAYLOAD, cert), LOGGED_AT)
    doc = copy.deepcopy(sigstore.doc)
    doc["tlogs"][0]["publicKey"]["validFor"]["end"] = SIGNED_AT.strftime("%Y-%m-%dT%H:%M:%SZ")
    retired = trusted_root_from_json(doc, source="retired log key")
    with pytest.raises(VerificationError, match="the transparency log key was not valid when the entry was logged"):
        verify(retired, cert, signature, rekor)


@FORMATS
def test_an_entry_logged_after_the_certificate_expired_is_refused(
    sigstore: PrivateSigstore, signed: Any, verify: Format
) -> None:
    _, cert, signature = signed  # the certificate lives ten minutes
    rekor = sigstore.rekor_set(hashedrekord(signature, PAYLOAD, cert), SIGNED_AT + dt.timedelta(hours=1))
    with pytest.raises(VerificationError, match="certificate"):
        verify(sigstore.root, cert, signature, rekor)


@FORMATS
def test_another_identity_is_refused(sigstore: PrivateSigstore, signed: Any, verify: Format) -> None:
    _, cert, signature = signed
    rekor = sigstore.rekor_set(hashedrekord(signature, PAYLOAD, cert), LOGGED_AT)
    someone_else = Identity(subject="https://example.com/someone-else", issuer=ISSUER)
    with pytest.raises(VerificationError, match="someone-else"):
        verify(sigstore.root, cert, signature, rekor, identity=someone_else)


# -- a SET over no time vouches for nothing ---------------------------------------------------


def _key_bundle(sigstore: PrivateSigstore) -> tuple[ec.EllipticCurvePrivateKey, dict[str, Any]]:
    """A key-signed v0.1 bundle over PAYLOAD, logged with a real SET."""
    key = ec.generate_private_key(ec.SECP256R1())
    signature = key.sign(PAYLOAD, ec.ECDSA(hashes.SHA256()))
    rekor = sigstore.rekor_set(hashedrekord(signature, PAYLOAD, key.public_key()), LOGGED_AT)
    return key, _bundle(None, signature, rekor)


def _timeless(bundle: dict[str, Any]) -> dict[str, Any]:
    """The attacker's bundle: a SET nobody signed, and no integrated time it could be checked over."""
    timeless = copy.deepcopy(bundle)
    entry = timeless["verificationMaterial"]["tlogEntries"][0]
    del entry["integratedTime"]
    entry["inclusionPromise"]["signedEntryTimestamp"] = b64(b"junk")
    return timeless


def test_a_key_bundle_whose_set_has_no_time_is_not_counted_as_logged(sigstore: PrivateSigstore) -> None:
    """An entry with a SET but no integrated time: nothing can check the SET, so it must not
    count as a verified log entry (a key authority would report the signer as log-checked)."""
    key, bundle = _key_bundle(sigstore)
    ok = verify_bundle(bundle, artifact=PAYLOAD, public_key=key.public_key(), trusted_root=sigstore.root, now=NOW)
    assert (ok.tlog_entries, ok.integrated_time) == (1, LOGGED_AT.replace(microsecond=0))
    timeless = _timeless(bundle)
    with pytest.raises(VerificationError, match="no integrated time"):
        verify_bundle(timeless, artifact=PAYLOAD, public_key=key.public_key(), trusted_root=sigstore.root, now=NOW)


def test_a_key_authority_requiring_the_log_refuses_a_timeless_set(sigstore: PrivateSigstore, tmp_path: Path) -> None:
    """The same bundle as an image's referrer: `tlog: require` must not be met by a SET
    nothing could check (before, the signer was reported as log-checked)."""
    key, bundle = _key_bundle(sigstore)
    root_path = tmp_path / "trusted_root.json"
    root_path.write_text(json.dumps(sigstore.doc))
    authority = KeyAuthority("k", (key.public_key().public_bytes(PEM, SPKI),), root_path, "require")

    def referrer(bundle: dict[str, Any]) -> BundleReferrer:
        layer = Descriptor.of(json.dumps(bundle).encode(), SIGSTORE_BUNDLE_V03)
        return BundleReferrer("signature", "referrer sha256:" + "1" * 64, layer, bundle, None)

    accepted = check(referrer(bundle), authority, Digest.of(PAYLOAD), roots=TrustRoots(), manifest=PAYLOAD, now=NOW)
    assert accepted.signer.tlog and accepted.signer.integrated_time == LOGGED_AT.replace(microsecond=0)
    timeless = _timeless(bundle)
    with pytest.raises(Refused, match="no integrated time"):
        check(referrer(timeless), authority, Digest.of(PAYLOAD), roots=TrustRoots(), manifest=PAYLOAD, now=NOW)
