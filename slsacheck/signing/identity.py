"""Who a Fulcio certificate names, and the policy that says who may have signed.

A Fulcio certificate carries the signer's identity in its SubjectAlternativeName
(an email, a URI such as a CI workflow, or an otherName `1.3.6.1.4.1.57264.1.7`
username) and the OIDC issuer that vouched for it in an extension:
`1.3.6.1.4.1.57264.1.8` (DER UTF8String, current) or `1.3.6.1.4.1.57264.1.1`
(raw bytes, deprecated). The v2 extension wins when both are present.

Invariants: an `Identity` always constrains both the subject and the issuer (use the
regexp `.*` to accept any, on purpose); regexps are full matches, never searches, so
`https://github.com/org/` cannot match `https://github.com/org/../evil`. A regexp that
would have matched as a search (cosign's and policy-controller's rule) still fails, with a
hint that says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from slsacheck.errors import InputError, VerificationError
from slsacheck.signing._x509ext import extensions

if TYPE_CHECKING:
    from cryptography import x509

# Dotted strings, not cryptography's ObjectIdentifier: an `Identity` is built by every policy
# and key-only path, and cryptography's x509 package loads only where a certificate is read.
OID_ISSUER_V1 = "1.3.6.1.4.1.57264.1.1"
OID_ISSUER_V2 = "1.3.6.1.4.1.57264.1.8"
OID_OTHERNAME_SAN = "1.3.6.1.4.1.57264.1.7"

_UTF8STRING = 0x0C


@dataclass(frozen=True)
class Identity:
    """The signer a keyless signature must come from: exact values or full-match regexps."""

    issuer: str | None = None
    subject: str | None = None
    issuer_regexp: str | None = None
    subject_regexp: str | None = None

    def __post_init__(self) -> None:
        if self.subject is None and self.subject_regexp is None:
            raise InputError(
                "a certificate identity needs a subject",
                hint="give --certificate-identity (exact) or --certificate-identity-regexp ('.*' accepts anyone)",
            )
        if self.issuer is None and self.issuer_regexp is None:
            raise InputError(
                "a certificate identity needs an OIDC issuer",
                hint="give --certificate-oidc-issuer (exact) or --certificate-oidc-issuer-regexp",
            )
        for name in ("issuer_regexp", "subject_regexp"):
            pattern = getattr(self, name)
            if pattern is not None:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise InputError(f"invalid {name.replace('_', ' ')} {pattern!r}: {exc}") from exc

    def matches(self, subject: str, issuer: str | None) -> bool:
        return _match(subject, self.subject, self.subject_regexp) and (
            issuer is not None and _match(issuer, self.issuer, self.issuer_regexp)
        )

    def describe(self) -> str:
        sub = self.subject if self.subject is not None else f"/{self.subject_regexp}/"
        iss = self.issuer if self.issuer is not None else f"/{self.issuer_regexp}/"
        return f"subject {sub} from issuer {iss}"

    def verify(self, cert: x509.Certificate) -> tuple[str, str]:
        """Return `(subject, issuer)` if the certificate names this identity, else raise."""
        subjects = certificate_subjects(cert)
        issuer = certificate_issuer(cert)
        for subject in subjects:
            if self.matches(subject, issuer):
                return subject, issuer or ""
        near = self._partial_matches(subjects, issuer)
        raise VerificationError(
            "certificate identity does not match"
            + (f": {near} (a regexp must match the whole value)" if near else ""),
            expected=self.describe(),
            found=f"subject {', '.join(subjects) or '<none>'} from issuer {issuer or '<none>'}",
            hint=(
                "slsacheck matches a regexp against the WHOLE value (cosign and policy-controller search "
                "anywhere in it); write the full pattern, e.g. add .* where any text may follow, and keep "
                "it anchored to what you trust"
            )
            if near
            else "check --certificate-identity/--certificate-oidc-issuer against who really signed "
            "(the 'found' values); for CI workflows the subject includes the ref, e.g. @refs/heads/main",
        )

    def _partial_matches(self, subjects: list[str], issuer: str | None) -> str | None:
        """Say so when a regexp matches only part of a value: cosign and policy-controller
        search anywhere, so a policy written for them fails here, on purpose, until anchored."""
        near: list[str] = []
        if self.subject_regexp is not None and self.subject is None:
            hit = next((s for s in subjects if _partial(self.subject_regexp, s)), None)
            issuer_near = issuer is not None and (
                _match(issuer, self.issuer, self.issuer_regexp) or _partial(self.issuer_regexp, issuer)
            )
            if hit is not None and issuer_near:
                near.append(f"the subject regexp matches only part of {hit!r}")
        subject_near = any(
            _match(s, self.subject, self.subject_regexp) or _partial(self.subject_regexp, s) for s in subjects
        )
        if self.issuer is None and issuer is not None and _partial(self.issuer_regexp, issuer) and subject_near:
            near.append(f"the issuer regexp matches only part of {issuer!r}")
        return "; ".join(near) or None


def _partial(pattern: str | None, value: str) -> bool:
    return pattern is not None and re.fullmatch(pattern, value) is None and re.search(pattern, value) is not None


def _match(value: str, exact: str | None, pattern: str | None) -> bool:
    if exact is not None and value != exact:
        return False
    return pattern is None or re.fullmatch(pattern, value) is not None


def certificate_identity(cert: x509.Certificate) -> tuple[str, str | None]:
    """The certificate's signer identity `(subject, issuer)`; issuer None when absent."""
    subjects = certificate_subjects(cert)
    if not subjects:
        raise VerificationError(
            "certificate has no subject alternative name",
            expected="an email, URI or otherName SAN (a Fulcio certificate)",
            found="none",
            hint="this is not a Sigstore keyless certificate",
        )
    return subjects[0], certificate_issuer(cert)


def certificate_subjects(cert: x509.Certificate) -> list[str]:
    from cryptography import x509  # noqa: PLC0415 - x509 loads only where a certificate is read

    try:
        san = extensions(cert).get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    except ValueError as exc:  # a malformed extension is a bad certificate, not a crash
        raise VerificationError(f"certificate SAN does not parse: {exc}") from exc
    found: list[str] = []
    found += san.get_values_for_type(x509.RFC822Name)
    found += san.get_values_for_type(x509.UniformResourceIdentifier)
    for other in san.get_values_for_type(x509.OtherName):
        if other.type_id.dotted_string == OID_OTHERNAME_SAN:
            found.append(_der_utf8(other.value))
    return found


def certificate_issuer(cert: x509.Certificate) -> str | None:
    from cryptography import x509  # noqa: PLC0415 - x509 loads only where a certificate is read

    try:
        ext = extensions(cert).get_extension_for_oid(x509.ObjectIdentifier(OID_ISSUER_V2)).value
        if isinstance(ext, x509.UnrecognizedExtension):
            return _der_utf8(ext.value)
    except x509.ExtensionNotFound:
        pass
    try:
        ext = extensions(cert).get_extension_for_oid(x509.ObjectIdentifier(OID_ISSUER_V1)).value
        if isinstance(ext, x509.UnrecognizedExtension):
            return ext.value.decode("utf-8", errors="strict")
    except x509.ExtensionNotFound:
        return None
    except UnicodeDecodeError as exc:
        raise VerificationError("certificate issuer extension is not UTF-8") from exc
    return None


def _der_utf8(der: bytes) -> str:
    """Decode one DER UTF8String (tag 0x0C, definite length)."""
    if len(der) < 2 or der[0] != _UTF8STRING:
        raise VerificationError("certificate extension is not a DER UTF8String", found=der[:8].hex())
    length, offset = der[1], 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or len(der) < 2 + count:
            raise VerificationError("certificate extension has a bad DER length")
        length, offset = int.from_bytes(der[2 : 2 + count], "big"), 2 + count
    if offset + length != len(der):
        raise VerificationError("certificate extension DER length does not match its size")
    try:
        return der[offset:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VerificationError("certificate extension is not UTF-8") from exc
