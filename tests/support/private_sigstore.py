"""A private Sigstore that tests make for themselves: a Fulcio-like CA, a Rekor key
signing real SETs, and (optionally) a timestamp authority whose RFC 3161 responses are DER
built here and signed with the TSA's key, plus the trusted root naming them.

With keys in hand every check of cosign's legacy keyless material can be exercised on
its own, with everything else valid.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from slsacheck.signing.identity import Identity
from slsacheck.signing.trust import TrustedRoot, trusted_root_from_json

SUBJECT = "https://kubernetes.io/namespaces/ci/serviceaccounts/builder"
ISSUER = "https://issuer.example"
IDENTITY = Identity(subject=SUBJECT, issuer=ISSUER)
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DER = serialization.Encoding.DER
PEM = serialization.Encoding.PEM
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed CA valid from START for ten years."""
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


def make_tsa(cn: str) -> Tsa:
    root_key, root = make_ca(cn + " root")
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
class PrivateSigstore:
    root: TrustedRoot
    doc: dict[str, Any]
    ca_key: ec.EllipticCurvePrivateKey
    ca: x509.Certificate
    rekor_key: ec.EllipticCurvePrivateKey
    tsa: Tsa  # in the trust root when made `with_tsa`
    rogue_tsa: Tsa  # well formed, never in the trust root

    @property
    def log_id(self) -> bytes:
        return hashlib.sha256(self.rekor_key.public_key().public_bytes(DER, SPKI)).digest()

    def leaf(self, not_before: dt.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """A Fulcio-like code-signing certificate for SUBJECT/ISSUER, valid for ten minutes."""
        key = ec.generate_private_key(ec.SECP256R1())
        issuer_ext = b"\x0c" + bytes([len(ISSUER)]) + ISSUER.encode()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_before + dt.timedelta(minutes=10))
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(SUBJECT)]), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()), critical=False
            )
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(
                x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8"), issuer_ext),
                critical=False,
            )
            .sign(self.ca_key, hashes.SHA256())
        )
        return key, cert

    def rekor_set(self, body: bytes, integrated: dt.datetime, log_index: int = 7) -> dict[str, Any]:
        """cosign's `dev.sigstore.cosign/bundle` value: a SET over this log entry."""
        payload = {
            "body": b64(body),
            "integratedTime": int(integrated.timestamp()),
            "logID": self.log_id.hex(),
            "logIndex": log_index,
        }
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        sig = self.rekor_key.sign(canonical, ec.ECDSA(hashes.SHA256()))
        return {"SignedEntryTimestamp": b64(sig), "Payload": payload}


def signer_pem(signer: x509.Certificate | ec.EllipticCurvePublicKey) -> bytes:
    """What a Rekor body names as the signer: the certificate, or the key (`cosign sign --key`)."""
    if isinstance(signer, x509.Certificate):
        return signer.public_bytes(PEM)
    return signer.public_bytes(PEM, SPKI)


def hashedrekord(signature: bytes, payload: bytes, cert: x509.Certificate | ec.EllipticCurvePublicKey) -> bytes:
    """The Rekor hashedrekord body that binds `signature` over `payload` to `cert` (or a key)."""
    pem = signer_pem(cert)
    return json.dumps(
        {
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()}},
                "signature": {"content": b64(signature), "publicKey": {"content": b64(pem)}},
            },
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()


def make_private_sigstore(*, with_tsa: bool = False) -> PrivateSigstore:
    ca_key, ca = make_ca("private fulcio")
    rekor_key = ec.generate_private_key(ec.SECP256R1())
    rekor_der = rekor_key.public_key().public_bytes(DER, SPKI)
    window = {"start": START.strftime("%Y-%m-%dT%H:%M:%SZ")}
    tsa, rogue = make_tsa("private tsa"), make_tsa("rogue tsa")
    doc: dict[str, Any] = {
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [
            {
                "baseUrl": "https://rekor.example",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {"rawBytes": b64(rekor_der), "keyDetails": "PKIX_ECDSA_P256_SHA_256", "validFor": window},
                "logId": {"keyId": b64(hashlib.sha256(rekor_der).digest())},
            }
        ],
        "certificateAuthorities": [
            {
                "uri": "https://fulcio.example",
                "certChain": {"certificates": [{"rawBytes": b64(ca.public_bytes(DER))}]},
                "validFor": window,
            }
        ],
        "ctlogs": [],
        "timestampAuthorities": [],
    }
    if with_tsa:
        doc["timestampAuthorities"].append(
            {
                "uri": "https://tsa.example",
                "certChain": {"certificates": [{"rawBytes": b64(c.public_bytes(DER))} for c in (tsa.cert, tsa.root)]},
                "validFor": window,
            }
        )
    root = trusted_root_from_json(doc, source="private")
    return PrivateSigstore(root, doc, ca_key, ca, rekor_key, tsa, rogue)


def intoto_v001(envelope_blob: bytes, payload: bytes, signer_pem: bytes) -> bytes:
    """The Rekor intoto 0.0.1 body for a DSSE envelope uploaded as `envelope_blob`: no
    signature, only the envelope's and the payload's sha256 and the signer (Rekor's
    `pkg/types/intoto/v0.0.1` canonical form)."""
    return json.dumps(
        {
            "apiVersion": "0.0.1",
            "kind": "intoto",
            "spec": {
                "content": {
                    "hash": {"algorithm": "sha256", "value": hashlib.sha256(envelope_blob).hexdigest()},
                    "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
                },
                "publicKey": b64(signer_pem),
            },
        },
        separators=(",", ":"),
    ).encode()


def intoto_v002(
    envelope_blob: bytes, payload_type: str, payload: bytes, signatures: list[bytes], signer_pem: bytes
) -> bytes:
    """The Rekor intoto 0.0.2 body: the envelope without its payload, each signature and key
    base64-encoded once more than in the envelope (Rekor's `pkg/types/intoto/v0.0.2`)."""
    return json.dumps(
        {
            "apiVersion": "0.0.2",
            "kind": "intoto",
            "spec": {
                "content": {
                    "envelope": {
                        "payloadType": payload_type,
                        "signatures": [{"sig": b64(b64(s).encode()), "publicKey": b64(signer_pem)} for s in signatures],
                    },
                    "hash": {"algorithm": "sha256", "value": hashlib.sha256(envelope_blob).hexdigest()},
                    "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
                }
            },
        },
        separators=(",", ":"),
    ).encode()
