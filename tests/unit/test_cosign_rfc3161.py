"""cosign's RFC 3161 timestamp annotation on legacy keyless layers, against a private
Sigstore the test makes: a Fulcio-like CA, a Rekor key, and a timestamp authority whose
responses are DER built here (the TimeStampResp, its CMS SignedData and TSTInfo) and
signed with the TSA's key, so every property of a timestamp can be changed on its own.

The rules under test: a present timestamp must verify (a TSA of the trust root, over the
bytes cosign stamps, the certificate valid at its genTime) or the layer is refused; a
valid one is the signing time when there is no SET; it never stands in for the SET when
the authority requires the transparency log.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from slsacheck.attach.candidates import LayerMaterial, TagAttestation, TagSignature
from slsacheck.errors import VerificationError
from slsacheck.models.descriptor import Descriptor
from slsacheck.models.digest import Digest
from slsacheck.models.mediatypes import DSSE_ENVELOPE, SIMPLE_SIGNING
from slsacheck.policy.authority import KeylessAuthority
from slsacheck.signing.cosign_material import verify_cosign_material
from slsacheck.signing.dsse import pae
from slsacheck.signing.identity import Identity
from slsacheck.verify.authorities import Refused, TrustRoots, check
from tests.support.private_sigstore import (
    IDENTITY,
    ISSUER,
    PEM,
    START,
    SUBJECT,
    PrivateSigstore,
    b64,
    hashedrekord,
    make_private_sigstore,
)

SIGNED_AT = START + dt.timedelta(days=30)
DIGEST = "sha256:" + "a" * 64
PAYLOAD = (
    b'{"critical":{"identity":{"docker-reference":"r.example/app"},"image":{"docker-manifest-digest":"'
    + DIGEST.encode()
    + b'"},"type":"cosign container image signature"},"optional":null}'
)


@pytest.fixture(scope="module")
def sigstore() -> PrivateSigstore:
    return make_private_sigstore(with_tsa=True)


def _signed(s: PrivateSigstore) -> tuple[bytes, x509.Certificate]:
    key, cert = s.leaf(SIGNED_AT)
    return key.sign(PAYLOAD, ec.ECDSA(hashes.SHA256())), cert


def _set(s: PrivateSigstore, signature: bytes, cert: x509.Certificate, integrated: dt.datetime) -> dict[str, Any]:
    """A Rekor SET over a hashedrekord entry for this signature of PAYLOAD."""
    return s.rekor_set(hashedrekord(signature, PAYLOAD, cert), integrated, log_index=3)


def _verify(
    s: PrivateSigstore, signature: bytes, cert: x509.Certificate, stamp: bytes | None, rekor: Any = None, **kw: Any
) -> Any:
    return verify_cosign_material(
        signature,
        PAYLOAD,
        certificate_pem=cert.public_bytes(PEM),
        chain_pem=None,
        rekor_bundle=rekor,
        identity=IDENTITY,
        trusted_root=s.root,
        rfc3161_timestamp=stamp,
        **kw,
    )


STAMPED_AT = SIGNED_AT + dt.timedelta(minutes=1)


# -- verify_cosign_material ------------------------------------------------------------


def test_valid_timestamp_without_set_dates_the_signature(sigstore: PrivateSigstore) -> None:
    signature, cert = _signed(sigstore)
    # the certificate expired long ago: only the timestamp can say it was valid when used
    signer = _verify(sigstore, signature, cert, sigstore.tsa.stamp(signature, STAMPED_AT), require_tlog=False)
    assert (signer.subject, signer.issuer) == (SUBJECT, ISSUER)
    assert signer.timestamps == (STAMPED_AT,)
    assert signer.integrated_time is None


def test_without_timestamp_or_set_the_expired_certificate_fails(sigstore: PrivateSigstore) -> None:
    signature, cert = _signed(sigstore)
    with pytest.raises(VerificationError, match="does not chain to a trusted Fulcio CA"):
        _verify(sigstore, signature, cert, None, require_tlog=False)


def test_valid_timestamp_does_not_replace_a_required_set(sigstore: PrivateSigstore) -> None:
    signature, cert = _signed(sigstore)
    with pytest.raises(VerificationError, match="no Rekor bundle"):
        _verify(sigstore, signature, cert, sigstore.tsa.stamp(signature, STAMPED_AT), require_tlog=True)


def test_tampered_timestamp_is_rejected(sigstore: PrivateSigstore) -> None:
    signature, cert = _signed(sigstore)
    stamp = sigstore.tsa.stamp(signature, STAMPED_AT)
    later = (STAMPED_AT + dt.timedelta(seconds=1)).strftime("%Y%m%d%H%M%SZ").encode()
    forged = stamp.replace(STAMPED_AT.strftime("%Y%m%d%H%M%SZ").encode(), later)
    assert forged != stamp
    with pytest.raises(VerificationError, match="not from a trusted timestamp authority"):
        _verify(sigstore, signature, cert, forged, require_tlog=False)
    with pytest.raises(VerificationError, match="not an RFC 3161 timestamp response"):
        _verify(sigstore, signature, cert, stamp[:-7], require_tlog=False)


def test_timestamp_over_other_bytes_is_rejected(sigstore: PrivateSigstore) -> None:
    signature, cert = _signed(sigstore)
    for other in (PAYLOAD, signature + b"\x00"):  # the payload is not what cosign stamps
        with pytest.raises(VerificationError, match="covers other bytes than this signature"):
            _verify(sigstore, signature, cert, sigstore.tsa.stamp(other, STAMPED_AT), require_tlog=False)


def test_timestamp_from_a_tsa_outside_the_trust_root_is_rejected(sigstore: PrivateSigstore) -> None:
    signature, cert = _signed(sigstore)
    with pytest.raises(VerificationError, match="not from a trusted timestamp authority"):
        _verify(sigstore, signature, cert, sigstore.rogue_tsa.stamp(signature, STAMPED_AT), require_tlog=False)


def test_certificate_expired_at_the_timestamp_is_rejected(sigstore: PrivateSigstore) -> None:
    signature, cert = _signed(sigstore)
    late = sigstore.tsa.stamp(signature, SIGNED_AT + dt.timedelta(hours=1))
    with pytest.raises(VerificationError, match="does not chain to a trusted Fulcio CA at signing time"):
        _verify(sigstore, signature, cert, late, require_tlog=False)


def test_timestamp_in_the_future_is_rejected(sigstore: PrivateSigstore) -> None:
    future = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=2)
    key, cert = sigstore.leaf(future - dt.timedelta(minutes=1))
    signature = key.sign(PAYLOAD, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(VerificationError, match="dated in the future"):
        _verify(sigstore, signature, cert, sigstore.tsa.stamp(signature, future), require_tlog=False)


def test_with_a_set_the_timestamp_is_still_checked(sigstore: PrivateSigstore) -> None:
    signature, cert = _signed(sigstore)
    rekor = _set(sigstore, signature, cert, STAMPED_AT)
    signer = _verify(sigstore, signature, cert, sigstore.tsa.stamp(signature, STAMPED_AT), rekor)
    assert (signer.integrated_time, signer.timestamps) == (STAMPED_AT, (STAMPED_AT,))
    with pytest.raises(VerificationError, match="not from a trusted timestamp authority"):
        _verify(sigstore, signature, cert, sigstore.rogue_tsa.stamp(signature, STAMPED_AT), rekor)
    # both times must fall inside the certificate's life, not just the log's
    late = sigstore.tsa.stamp(signature, SIGNED_AT + dt.timedelta(hours=1))
    with pytest.raises(VerificationError, match="does not chain to a trusted Fulcio CA at signing time"):
        _verify(sigstore, signature, cert, late, rekor)


# -- through the authority check, as the verify layer calls it ---------------------------


@pytest.fixture(scope="module")
def authority_for(sigstore: PrivateSigstore, tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("root") / "trusted_root.json"
    path.write_text(json.dumps(sigstore.doc))

    def make(require_tlog: bool) -> KeylessAuthority:
        return KeylessAuthority("ci", Path(path), (Identity(issuer=ISSUER, subject=SUBJECT),), require_tlog)

    return make


def _candidate(signature: bytes, cert: x509.Certificate, stamp: bytes) -> TagSignature:
    return TagSignature(
        "test .sig layer 0", Descriptor.of(PAYLOAD, SIMPLE_SIGNING), PAYLOAD, signature,
        LayerMaterial(certificate=cert.public_bytes(PEM), rfc3161_timestamp=stamp),
    )


def test_authority_accepts_a_timestamped_signature_when_the_tlog_is_optional(
    sigstore: PrivateSigstore, authority_for: Any
) -> None:
    signature, cert = _signed(sigstore)
    candidate = _candidate(signature, cert, sigstore.tsa.stamp(signature, STAMPED_AT))
    accepted = check(candidate, authority_for(False), Digest.parse(DIGEST), roots=TrustRoots())
    assert (accepted.signer.subject, accepted.signer.tlog) == (SUBJECT, False)
    with pytest.raises(Refused, match="no Rekor bundle"):
        check(candidate, authority_for(True), Digest.parse(DIGEST), roots=TrustRoots())


def test_authority_refuses_an_invalid_timestamp_with_the_reason(sigstore: PrivateSigstore, authority_for: Any) -> None:
    signature, cert = _signed(sigstore)
    candidate = _candidate(signature, cert, sigstore.rogue_tsa.stamp(signature, STAMPED_AT))
    with pytest.raises(Refused, match="rfc3161timestamp annotation: RFC 3161 timestamp is not from a trusted"):
        check(candidate, authority_for(False), Digest.parse(DIGEST), roots=TrustRoots())


def test_attestation_timestamp_over_the_envelope_blob(sigstore: PrivateSigstore, authority_for: Any) -> None:
    """cosign stamps a `.att` layer's envelope as stored; the Sigstore clients stamp the
    DSSE signature. Either binds the timestamp to this signature; the PAE does not count."""
    key, cert = sigstore.leaf(SIGNED_AT)
    statement = json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "r.example/app", "digest": {"sha256": "a" * 64}}],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {},
        }
    ).encode()
    signed = pae("application/vnd.in-toto+json", statement)
    signature = key.sign(signed, ec.ECDSA(hashes.SHA256()))
    envelope = {
        "payloadType": "application/vnd.in-toto+json",
        "payload": b64(statement),
        "signatures": [{"keyid": "", "sig": b64(signature)}],
    }
    blob = json.dumps(envelope).encode()

    def attestation(stamp: bytes) -> TagAttestation:
        return TagAttestation(
            "test .att layer 0", Descriptor.of(blob, DSSE_ENVELOPE), envelope, blob, None,
            LayerMaterial(certificate=cert.public_bytes(PEM), rfc3161_timestamp=stamp),
        )

    authority = authority_for(False)
    for stamped in (blob, signature):
        accepted = check(attestation(sigstore.tsa.stamp(stamped, STAMPED_AT)), authority, Digest.parse(DIGEST),
                         roots=TrustRoots())
        assert accepted.statement is not None and accepted.signer.subject == SUBJECT
    with pytest.raises(Refused, match="covers other bytes than this signature"):
        check(attestation(sigstore.tsa.stamp(signed, STAMPED_AT)), authority, Digest.parse(DIGEST), roots=TrustRoots())
