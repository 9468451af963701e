"""A certificate's extensions, parsed once and refused as a bad certificate when they do
not parse.

cryptography parses extensions lazily, on the first `cert.extensions`, and raises
`ValueError` (malformed DER inside an extension), `DuplicateExtension` or
`UnsupportedGeneralNameType`. A certificate comes from whoever attached the evidence, so
every reader of extensions goes through `extensions`, which turns those into one
`VerificationError`: the candidate is rejected with the reason, never a traceback.
"""

from __future__ import annotations

from cryptography import x509

from slsacheck.errors import VerificationError


def extensions(cert: x509.Certificate) -> x509.Extensions:
    """`cert.extensions`, or `VerificationError` when they do not parse."""
    try:
        return cert.extensions
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        raise VerificationError(
            "a certificate extension does not parse",
            expected="well-formed X.509 extensions, each once",
            found=str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__,
            hint="the certificate is malformed or crafted; this signature cannot be trusted",
        ) from None
