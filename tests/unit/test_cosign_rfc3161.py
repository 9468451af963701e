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

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from slsacheck.attach.candidates import Candidate
from slsacheck.errors import VerificationError
from slsacheck.models.digest import Digest
from slsacheck.policy.authority import IdentitySpec, KeylessAuthority
from slsacheck.signing.cosign_material import verify_cosign_material
from slsacheck.signing.dsse import pae
from slsacheck.signing.identity import Identity
from slsacheck.signing.trust import TrustedRoot, trusted_root_from_json
from slsacheck.verify.authorities import Refused, TrustRoots, check

SUBJECT = "https://kubernetes.io/namespaces/ci/serviceaccounts/builder"
ISSUER = "https://issuer.example"
IDENTITY = Identity(subject=SUBJECT, issuer=ISSUER)
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SIGNED_AT = START + dt.timedelta(days=30)
DER = serialization.Encoding.DER
PEM = serialization.Encoding.PEM
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo
DIGEST = "sha256:" + "a" * 64
PAYLOAD = (
    b'{"critical":{"identity":{"docker-reference":"r.example/app"},"image":{"docker-manifest-digest":"'
    + DIGEST.encode()
    + b'"},"type":"cosign container image signature"},"optional":null}'
)


# -- a little DER, enough for a TimeStampResp ------------------------------------------


def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _seq(*parts: bytes) -> bytes:
    return _tlv(0x30, b"".join(parts))


def _set_of(*parts: bytes) -> bytes:
    return _tlv(0x31, b"".join(sorted(parts)))  # DER orders SET OF by encoding


def _int(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return _tlv(0x06, bytes(out))


def _octets(data: bytes) -> bytes:
    return _tlv(0x04, data)


def _explicit(n: int, body: bytes) -> bytes:
    return _tlv(0xA0 + n, body)


SHA256 = _seq(_oid("2.16.840.1.101.3.4.2.1"))
ECDSA_SHA256 = _seq(_oid("1.2.840.10045.4.3.2"))
TST_INFO = "1.2.840.113549.1.9.16.1.4"


# -- the private Sigstore ----------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(START)
        .not_valid_after(START + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


@dataclass(frozen=True)
class Tsa:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    root: x509.Certificate

    def stamp(self, message: bytes, when: dt.datetime) -> bytes:
        """A granted TimeStampResp over sha256(`message`) at `when`."""
        tst_info = _seq(
            _int(1),
            _oid("1.3.6.1.4.1.57264.2"),
            _seq(SHA256, _octets(hashlib.sha256(message).digest())),
            _int(x509.random_serial_number()),
            _tlv(0x18, when.strftime("%Y%m%d%H%M%SZ").encode()),
        )
        cert_id = _seq(_seq(_seq(_octets(hashlib.sha256(self.cert.public_bytes(DER)).digest()))))
        attrs = [
            _seq(_oid("1.2.840.113549.1.9.3"), _set_of(_oid(TST_INFO))),
            _seq(_oid("1.2.840.113549.1.9.4"), _set_of(_octets(hashlib.sha256(tst_info).digest()))),
            _seq(_oid("1.2.840.113549.1.9.16.2.47"), _set_of(cert_id)),
        ]
        signed_attrs = _set_of(*attrs)
        signature = self.key.sign(signed_attrs, ec.ECDSA(hashes.SHA256()))
        issuer_der = self.cert.issuer.public_bytes()
        signer_info = _seq(
            _int(1),
            _seq(issuer_der, _int(self.cert.serial_number)),
            SHA256,
            _tlv(0xA0, _strip(signed_attrs)),  # [0] IMPLICIT; the signature covers the SET form
            ECDSA_SHA256,
            _octets(signature),
        )
        signed_data = _seq(
            _int(3),
            _set_of(SHA256),
            _seq(_oid(TST_INFO), _explicit(0, _octets(tst_info))),
            _tlv(0xA0, self.cert.public_bytes(DER)),
            _set_of(signer_info),
        )
        token = _seq(_oid("1.2.840.113549.1.7.2"), _explicit(0, signed_data))
        return _seq(_seq(_int(0)), token)


def _strip(tlv: bytes) -> bytes:
    """The body of a DER TLV."""
    first = tlv[1]
    return tlv[2 + (first & 0x7F if first & 0x80 else 0) :]


def _tsa(cn: str) -> Tsa:
    root_key, root = _ca(cn + " root")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(START)
        .not_valid_after(START + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    return Tsa(key, cert, root)


@dataclass(frozen=True)
class Instance:
    root: TrustedRoot
    doc: dict[str, Any]
    ca_key: ec.EllipticCurvePrivateKey
    ca: x509.Certificate
    rekor_key: ec.EllipticCurvePrivateKey
    tsa: Tsa
    rogue_tsa: Tsa  # well formed, but not in the trust root


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def sigstore() -> Instance:
    ca_key, ca = _ca("private fulcio")
    rekor_key = ec.generate_private_key(ec.SECP256R1())
    rekor_der = rekor_key.public_key().public_bytes(DER, SPKI)
    window = {"start": START.strftime("%Y-%m-%dT%H:%M:%SZ")}
    tsa = _tsa("private tsa")
    doc = {
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [
            {
                "baseUrl": "https://rekor.example",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {"rawBytes": _b64(rekor_der), "keyDetails": "PKIX_ECDSA_P256_SHA_256", "validFor": window},
                "logId": {"keyId": _b64(hashlib.sha256(rekor_der).digest())},
            }
        ],
        "certificateAuthorities": [
            {
                "uri": "https://fulcio.example",
                "certChain": {"certificates": [{"rawBytes": _b64(ca.public_bytes(DER))}]},
                "validFor": window,
            }
        ],
        "ctlogs": [],
        "timestampAuthorities": [
            {
                "uri": "https://tsa.example",
                "certChain": {
                    "certificates": [{"rawBytes": _b64(c.public_bytes(DER))} for c in (tsa.cert, tsa.root)]
                },
                "validFor": window,
            }
        ],
    }
    root = trusted_root_from_json(doc, source="private")
    return Instance(root, doc, ca_key, ca, rekor_key, tsa, _tsa("rogue tsa"))


def _leaf(s: Instance, not_before: dt.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_ext = b"\x0c" + bytes([len(ISSUER)]) + ISSUER.encode()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(s.ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + dt.timedelta(minutes=10))
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(SUBJECT)]), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(s.ca_key.public_key()), critical=False)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8"), issuer_ext), critical=False
        )
        .sign(s.ca_key, hashes.SHA256())
    )
    return key, cert


def _signed(s: Instance) -> tuple[bytes, x509.Certificate]:
    key, cert = _leaf(s, SIGNED_AT)
    return key.sign(PAYLOAD, ec.ECDSA(hashes.SHA256())), cert


def _set(s: Instance, signature: bytes, cert: x509.Certificate, integrated: dt.datetime) -> dict[str, Any]:
    """A Rekor SET over a hashedrekord entry for this signature of PAYLOAD."""
    body = json.dumps(
        {
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": hashlib.sha256(PAYLOAD).hexdigest()}},
                "signature": {"content": _b64(signature), "publicKey": {"content": _b64(cert.public_bytes(PEM))}},
            },
        }
    ).encode()
    rekor_der = s.rekor_key.public_key().public_bytes(DER, SPKI)
    payload = {
        "body": _b64(body),
        "integratedTime": int(integrated.timestamp()),
        "logID": hashlib.sha256(rekor_der).hexdigest(),
        "logIndex": 3,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return {"SignedEntryTimestamp": _b64(s.rekor_key.sign(canonical, ec.ECDSA(hashes.SHA256()))), "Payload": payload}


def _verify(
    s: Instance, signature: bytes, cert: x509.Certificate, stamp: bytes | None, rekor: Any = None, **kw: Any
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


def test_valid_timestamp_without_set_dates_the_signature(sigstore: Instance) -> None:
    signature, cert = _signed(sigstore)
    # the certificate expired long ago: only the timestamp can say it was valid when used
    signer = _verify(sigstore, signature, cert, sigstore.tsa.stamp(signature, STAMPED_AT), require_tlog=False)
    assert (signer.subject, signer.issuer) == (SUBJECT, ISSUER)
    assert signer.timestamp == STAMPED_AT
    assert signer.integrated_time is None


def test_without_timestamp_or_set_the_expired_certificate_fails(sigstore: Instance) -> None:
    signature, cert = _signed(sigstore)
    with pytest.raises(VerificationError, match="does not chain to a trusted Fulcio CA"):
        _verify(sigstore, signature, cert, None, require_tlog=False)


def test_valid_timestamp_does_not_replace_a_required_set(sigstore: Instance) -> None:
    signature, cert = _signed(sigstore)
    with pytest.raises(VerificationError, match="no Rekor bundle"):
        _verify(sigstore, signature, cert, sigstore.tsa.stamp(signature, STAMPED_AT), require_tlog=True)


def test_tampered_timestamp_is_rejected(sigstore: Instance) -> None:
    signature, cert = _signed(sigstore)
    stamp = sigstore.tsa.stamp(signature, STAMPED_AT)
    later = (STAMPED_AT + dt.timedelta(seconds=1)).strftime("%Y%m%d%H%M%SZ").encode()
    forged = stamp.replace(STAMPED_AT.strftime("%Y%m%d%H%M%SZ").encode(), later)
    assert forged != stamp
    with pytest.raises(VerificationError, match="not from a trusted timestamp authority"):
        _verify(sigstore, signature, cert, forged, require_tlog=False)
    with pytest.raises(VerificationError, match="not an RFC 3161 timestamp response"):
        _verify(sigstore, signature, cert, stamp[:-7], require_tlog=False)


def test_timestamp_over_other_bytes_is_rejected(sigstore: Instance) -> None:
    signature, cert = _signed(sigstore)
    for other in (PAYLOAD, signature + b"\x00"):  # the payload is not what cosign stamps
        with pytest.raises(VerificationError, match="covers other bytes than this signature"):
            _verify(sigstore, signature, cert, sigstore.tsa.stamp(other, STAMPED_AT), require_tlog=False)


def test_timestamp_from_a_tsa_outside_the_trust_root_is_rejected(sigstore: Instance) -> None:
    signature, cert = _signed(sigstore)
    with pytest.raises(VerificationError, match="not from a trusted timestamp authority"):
        _verify(sigstore, signature, cert, sigstore.rogue_tsa.stamp(signature, STAMPED_AT), require_tlog=False)


def test_certificate_expired_at_the_timestamp_is_rejected(sigstore: Instance) -> None:
    signature, cert = _signed(sigstore)
    late = sigstore.tsa.stamp(signature, SIGNED_AT + dt.timedelta(hours=1))
    with pytest.raises(VerificationError, match="does not chain to a trusted Fulcio CA at signing time"):
        _verify(sigstore, signature, cert, late, require_tlog=False)


def test_timestamp_in_the_future_is_rejected(sigstore: Instance) -> None:
    future = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=2)
    key, cert = _leaf(sigstore, future - dt.timedelta(minutes=1))
    signature = key.sign(PAYLOAD, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(VerificationError, match="dated in the future"):
        _verify(sigstore, signature, cert, sigstore.tsa.stamp(signature, future), require_tlog=False)


def test_with_a_set_the_timestamp_is_still_checked(sigstore: Instance) -> None:
    signature, cert = _signed(sigstore)
    rekor = _set(sigstore, signature, cert, STAMPED_AT)
    signer = _verify(sigstore, signature, cert, sigstore.tsa.stamp(signature, STAMPED_AT), rekor)
    assert (signer.integrated_time, signer.timestamp) == (STAMPED_AT, STAMPED_AT)
    with pytest.raises(VerificationError, match="not from a trusted timestamp authority"):
        _verify(sigstore, signature, cert, sigstore.rogue_tsa.stamp(signature, STAMPED_AT), rekor)
    # both times must fall inside the certificate's life, not just the log's
    late = sigstore.tsa.stamp(signature, SIGNED_AT + dt.timedelta(hours=1))
    with pytest.raises(VerificationError, match="does not chain to a trusted Fulcio CA at signing time"):
        _verify(sigstore, signature, cert, late, rekor)


# -- through the authority check, as the verify layer calls it ---------------------------


@pytest.fixture(scope="module")
def authority_for(sigstore: Instance, tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("root") / "trusted_root.json"
    path.write_text(json.dumps(sigstore.doc))

    def make(require_tlog: bool) -> KeylessAuthority:
        return KeylessAuthority("ci", Path(path), (IdentitySpec(issuer=ISSUER, subject=SUBJECT),), require_tlog)

    return make


def _candidate(signature: bytes, cert: x509.Certificate, stamp: bytes) -> Candidate:
    return Candidate(
        "signature", "tag", "test .sig layer 0", payload=PAYLOAD, signature=signature,
        certificate=cert.public_bytes(PEM), rfc3161_timestamp=stamp,
    )


def test_authority_accepts_a_timestamped_signature_when_the_tlog_is_optional(
    sigstore: Instance, authority_for: Any
) -> None:
    signature, cert = _signed(sigstore)
    candidate = _candidate(signature, cert, sigstore.tsa.stamp(signature, STAMPED_AT))
    accepted = check(candidate, authority_for(False), Digest.parse(DIGEST), roots=TrustRoots())
    assert (accepted.signer.subject, accepted.signer.tlog) == (SUBJECT, False)
    with pytest.raises(Refused, match="no Rekor bundle"):
        check(candidate, authority_for(True), Digest.parse(DIGEST), roots=TrustRoots())


def test_authority_refuses_an_invalid_timestamp_with_the_reason(sigstore: Instance, authority_for: Any) -> None:
    signature, cert = _signed(sigstore)
    candidate = _candidate(signature, cert, sigstore.rogue_tsa.stamp(signature, STAMPED_AT))
    with pytest.raises(Refused, match="rfc3161timestamp annotation: RFC 3161 timestamp is not from a trusted"):
        check(candidate, authority_for(False), Digest.parse(DIGEST), roots=TrustRoots())


def test_attestation_timestamp_over_the_envelope_blob(sigstore: Instance, authority_for: Any) -> None:
    """cosign stamps a `.att` layer's envelope as stored; the Sigstore clients stamp the
    DSSE signature. Either binds the timestamp to this signature; the PAE does not count."""
    key, cert = _leaf(sigstore, SIGNED_AT)
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
        "payload": _b64(statement),
        "signatures": [{"keyid": "", "sig": _b64(signature)}],
    }
    blob = json.dumps(envelope).encode()

    def attestation(stamp: bytes) -> Candidate:
        return Candidate(
            "attestation", "tag", "test .att layer 0", envelope=envelope, envelope_blob=blob,
            certificate=cert.public_bytes(PEM), rfc3161_timestamp=stamp,
        )

    authority = authority_for(False)
    for stamped in (blob, signature):
        accepted = check(attestation(sigstore.tsa.stamp(stamped, STAMPED_AT)), authority, Digest.parse(DIGEST),
                         roots=TrustRoots())
        assert accepted.statement is not None and accepted.signer.subject == SUBJECT
    with pytest.raises(Refused, match="covers other bytes than this signature"):
        check(attestation(sigstore.tsa.stamp(signed, STAMPED_AT)), authority, Digest.parse(DIGEST), roots=TrustRoots())
