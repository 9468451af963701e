"""Certificate checks for keyless verification: Fulcio chain at a time, the Fulcio
profile, embedded SCTs, and RFC 3161 timestamps from trusted TSAs.

Trust anchors come from the trust root alone. Certificates an annotation carries are
at most intermediates to try (self-signed ones are dropped), so a signer can never
bring its own root. A bundle's chain beyond the leaf is not used at all: the bundle
spec forbids a root there, yet real v0.1 bundles (slsa-verifier's, for one) carry
one, so it is tolerated and ignored rather than refused.

Validity windows of the trust root are closed intervals (a time equal to `end` is
inside), which is what the Sigstore trust-root specification says.
"""

from __future__ import annotations

import hashlib
import struct
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store
from cryptography.x509.verification import VerificationError as X509VerificationError

from slsacheck.errors import VerificationError
from slsacheck.signing._x509ext import extensions
from slsacheck.signing.trust import TrustedRoot, verify_with_key

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _name(cert: x509.Certificate, which: str) -> x509.Name:
    """Read a certificate name without cryptography's warnings about odd attributes (e.g. a
    three-letter country), which private Sigstore CAs have and users cannot fix."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        name: x509.Name = cert.subject if which == "subject" else cert.issuer
        return name


def _is_self_signed(cert: x509.Certificate) -> bool:
    if _name(cert, "subject") != _name(cert, "issuer"):
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def intermediates_only(certs: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """The certificates worth offering as intermediates: never a self-signed one."""
    return [cert for cert in certs if not _is_self_signed(cert)]


def verify_chain(
    leaf: x509.Certificate,
    root: TrustedRoot,
    when: datetime,
    *,
    extra_intermediates: Sequence[x509.Certificate] = (),
) -> list[x509.Certificate]:
    """Chain `leaf` to a Fulcio CA valid at `when` (leaf valid then too); return [issuer, ..., root]."""
    cas = root.fulcio_cas_at(when)
    if not root.certificate_authorities:
        raise VerificationError(
            "the trust root has no Fulcio certificate authority",
            expected="a trust root with certificateAuthorities",
            found=f"none in {root.source}",
            hint="keyless signatures need the Fulcio CA of the Sigstore instance that issued the certificate",
        )
    if not cas:
        raise VerificationError(
            "no Fulcio CA in the trust root was valid at signing time",
            expected="a CA valid at " + when.isoformat(),
            found=", ".join(str(ca.validity) for ca in root.certificate_authorities),
            hint="the signing time is outside every CA's validity window in the trust root",
        )
    ca_policy = ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None
    )
    ee_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None
    )
    errors: list[str] = []
    for ca in cas:
        verifier = (
            PolicyBuilder()
            .store(Store([ca.certificates[-1]]))
            .time(when)
            .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
            .build_client_verifier()
        )
        try:
            chain = verifier.verify(leaf, [*ca.certificates[:-1], *extra_intermediates]).chain
        except (X509VerificationError, x509.UnsupportedGeneralNameType, ValueError) as exc:
            errors.append(f"{ca.uri or _name(ca.certificates[-1], 'subject').rfc4514_string()}: {exc}")
            continue
        return list(chain[1:])
    raise VerificationError(
        "signing certificate does not chain to a trusted Fulcio CA at signing time",
        expected=f"a chain to the trust root's Fulcio CA, valid at {when.isoformat()}",
        found=f"certificate issued by {_name(leaf, 'issuer').rfc4514_string()}, valid "
        f"{leaf.not_valid_before_utc.isoformat()} to {leaf.not_valid_after_utc.isoformat()}; " + "; ".join(errors),
        hint="the certificate comes from another CA (another Sigstore instance?) or was not valid when signed",
    )


def check_fulcio_profile(leaf: x509.Certificate) -> None:
    try:
        usage = extensions(leaf).get_extension_for_class(x509.KeyUsage).value
        extended = extensions(leaf).get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound as exc:
        raise VerificationError(
            "signing certificate lacks key usage extensions", hint="not a Fulcio certificate"
        ) from exc
    if not usage.digital_signature or ExtendedKeyUsageOID.CODE_SIGNING not in extended:
        raise VerificationError(
            "signing certificate is not for code signing",
            expected="key usage digitalSignature and extended key usage codeSigning",
            found=f"digitalSignature={usage.digital_signature}, EKU={[o.dotted_string for o in extended]}",
        )


def verify_scts(leaf: x509.Certificate, issuer: x509.Certificate, root: TrustedRoot) -> None:
    """At least one embedded SCT from a CT log in the trust root must verify; none may fail."""
    if not root.ctlogs:
        return  # this trust root does not ask for certificate transparency
    try:
        scts = extensions(leaf).get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps).value
    except x509.ExtensionNotFound as exc:
        raise VerificationError(
            "signing certificate has no SCT, but the trust root lists CT logs",
            hint="the certificate was not logged in certificate transparency",
        ) from exc
    issuer_key_hash = hashlib.sha256(
        issuer.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).digest()
    tbs = leaf.tbs_precertificate_bytes
    good = 0
    for sct in scts:
        log = root.ctlog(sct.log_id)
        if log is None:
            continue
        millis = (sct.timestamp.replace(tzinfo=UTC) - _EPOCH) // _MS
        signed = (
            struct.pack(">BBQH", 0, 0, millis, 1)
            + issuer_key_hash
            + len(tbs).to_bytes(3, "big")
            + tbs
            + struct.pack(">H", len(sct.extension_bytes))
            + sct.extension_bytes
        )
        hash_alg = sct.signature_hash_algorithm
        ok = verify_with_key(
            log.key, sct.signature, signed, hash_hint=hash_alg if isinstance(hash_alg, hashes.HashAlgorithm) else None
        )
        if not ok or not log.validity.contains(sct.timestamp.replace(tzinfo=UTC)):
            raise VerificationError(
                "certificate transparency SCT does not verify",
                expected=f"an SCT signed by CT log {sct.log_id.hex()} within {log.validity}",
                found="an invalid signature" if not ok else f"a timestamp of {sct.timestamp.isoformat()}",
                hint="the certificate's SCT was forged or the CT key in the trust root is wrong",
            )
        good += 1
    if not good:
        raise VerificationError(
            "no SCT in the signing certificate is from a CT log in the trust root",
            expected="log ids " + ", ".join(c.log_id.hex() for c in root.ctlogs),
            found="log ids " + ", ".join(s.log_id.hex() for s in scts),
            hint="the certificate was issued by another Sigstore instance, or the trust root lacks its CT log",
        )


_MS = datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC) - _EPOCH


def verify_timestamp(der: bytes, signature: bytes, root: TrustedRoot) -> datetime:
    """Verify one RFC 3161 timestamp over `signature`; return its time, or raise."""
    # Imported here: most bundles carry no timestamp, and a start-up test keeps it off their path.
    from rfc3161_client import VerificationError as TsaError  # noqa: PLC0415
    from rfc3161_client import VerifierBuilder, decode_timestamp_response  # noqa: PLC0415

    try:
        response = decode_timestamp_response(der)
    except ValueError as exc:
        raise VerificationError(
            "RFC 3161 timestamp does not parse", found=str(exc)[:200], hint="the bundle is corrupt"
        ) from exc
    gen_time = response.tst_info.gen_time
    if gen_time.tzinfo is None:
        gen_time = gen_time.replace(tzinfo=UTC)
    if not root.timestamp_authorities:
        raise VerificationError(
            "bundle has an RFC 3161 timestamp but the trust root has no timestamp authority",
            hint="pass a trust root that lists the TSA that issued the timestamp",
        )
    reasons: list[str] = []
    for tsa in root.timestamp_authorities:
        certs = tsa.certificates
        if len(certs) < 2:
            reasons.append(f"{tsa.uri}: chain needs a signing certificate and a root")
            continue
        builder = VerifierBuilder().tsa_certificate(certs[0]).add_root_certificate(certs[-1])
        for cert in certs[1:-1]:
            builder = builder.add_intermediate_certificate(cert)
        try:
            builder.build().verify_message(response, signature)
        except (TsaError, ValueError) as exc:
            reasons.append(f"{tsa.uri}: {exc}")
            continue
        if not tsa.validity.contains(gen_time):
            reasons.append(f"{tsa.uri}: time {gen_time.isoformat()} outside the TSA's window {tsa.validity}")
            continue
        return gen_time
    raise VerificationError(
        "RFC 3161 timestamp is not from a trusted timestamp authority",
        expected="a timestamp over this signature by a TSA in the trust root, within its validity",
        found="; ".join(reasons),
        hint="the timestamp was altered, covers another signature, or comes from a TSA you do not trust",
    )
