"""The parts of a certificate that cryptography parses lazily (its extensions and its
public key), read so that a malformed one is a bad certificate and never a traceback.

`cert.extensions` raises `ValueError` (malformed DER inside an extension),
`DuplicateExtension` or `UnsupportedGeneralNameType` on first access; `cert.public_key()`
raises `ValueError` for a key that is no point on its curve and `UnsupportedAlgorithm`
for an unknown curve. A certificate comes from
whoever attached the evidence, so every reader goes through `extensions` and
`signing_key`, which turn those into one `VerificationError`: the candidate is rejected
with the reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from slsacheck.errors import VerificationError

if TYPE_CHECKING:
    from cryptography import x509

SigningKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey


def _refused(what: str, exc: Exception, expected: str) -> VerificationError:
    return VerificationError(
        f"a certificate's {what} does not parse",
        expected=expected,
        found=str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__,
        hint="the certificate is malformed or crafted; this signature cannot be trusted",
    )


def extensions(cert: x509.Certificate) -> x509.Extensions:
    """`cert.extensions`, or `VerificationError` when they do not parse."""
    # Imported here, not at the top: modules on key-only paths import this one, and a
    # certificate exists only once x509 has loaded it.
    from cryptography import x509  # noqa: PLC0415

    try:
        return cert.extensions
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        raise _refused("extension", exc, "well-formed X.509 extensions, each once") from None


def signing_key(cert: x509.Certificate) -> SigningKey:
    """The certificate's public key, of a kind signatures are verified with; else `VerificationError`."""
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise _refused("public key", exc, "a valid EC, Ed25519 or RSA public key") from None
    if not isinstance(key, SigningKey):
        raise VerificationError("unsupported key type in the signing certificate", found=type(key).__name__)
    return key
