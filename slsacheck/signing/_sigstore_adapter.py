"""Everything slsacheck takes from sigstore-python's private side, in one place.

sigstore-python's public API signs and returns a bundle; what keyless signing also needs
(which URL each service was reached at, which Rekor API the signing config chose, whether a
TSA will stamp the signature, which service an exception came from, and logging a DSSE
envelope as Rekor v2's `dsse` 0.0.2 entry the way cosign 3 does) sits behind
underscore names. They move between releases, so they are touched here only, and
tests/unit/test_sigstore_adapter.py exercises each one against the installed version and
the range pyproject.toml allows: a rename fails that test, not a signature in production.

Why the DSSE override: sigstore-python 4.5 logs an envelope on Rekor v2 as a hashedrekord
over the PAE, which `@sigstore/verify` and cosign 3 reject ("digest mismatch"); cosign 3 and
sigstore-js log it as `dsse` 0.0.2 (payload hash and signature), which those verify and
slsacheck verifies. sigstore-python's verifier does not read `dsse` 0.0.2 yet.
"""

from __future__ import annotations

import base64
from typing import Final

from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import Certificate
from sigstore._internal.fulcio.client import ExpiredCertificate, FulcioClientError
from sigstore._internal.key_details import _get_key_details
from sigstore._internal.rekor import EntryRequestBody, RekorClientError
from sigstore._internal.rekor.client import RekorClient
from sigstore._internal.rekor.client_v2 import RekorV2Client
from sigstore.dsse import Envelope
from sigstore.models import ClientTrustConfig
from sigstore.oidc import ExpiredIdentity
from sigstore.sign import SigningContext
from sigstore_models.common import v1 as common_v1
from sigstore_models.rekor import v2 as rekor_v2

# The range the adapter was written and tested against (pyproject.toml holds the same).
SUPPORTED: Final = (">=4.0", "<5")
_V2_SUFFIX: Final = "/api/v2"


def signing_context(config: ClientTrustConfig) -> SigningContext:
    """sigstore-python's signing context for `config`, DSSE logged as cosign 3 logs it."""
    context = SigningContext.from_trust_config(config)
    rekor = context._rekor
    if isinstance(rekor, RekorV2Client) and not isinstance(rekor, _DsseAsDsseV2):
        context._rekor = _DsseAsDsseV2(rekor.url.removesuffix(_V2_SUFFIX))
    return context


def rekor_major_version(context: SigningContext) -> int:
    """The Rekor API the context logs to: 2 (tiles, no SET) or 1."""
    return 2 if isinstance(context._rekor, RekorV2Client) else 1


def timestamp_authorities(context: SigningContext) -> list[str]:
    """The URLs of the TSAs that will stamp each signature."""
    return [str(client.url) for client in context._tsa_clients]


def service_urls(context: SigningContext) -> dict[str, str]:
    """Which URL each service is reached at, for messages only."""
    rekor = context._rekor
    # Both Rekor clients have a url; the abstract submitter they share does not declare it.
    rekor_url = rekor.url if isinstance(rekor, RekorClient | RekorV2Client) else type(rekor).__name__
    urls = {"Fulcio": str(context._fulcio.url), "Rekor": str(rekor_url)}
    if context._tsa_clients:
        urls["TSA"] = ", ".join(timestamp_authorities(context))
    return urls


def is_expired_certificate(exc: BaseException) -> bool:
    """The cached Fulcio certificate outlived its validity (sign again with a new one)."""
    return isinstance(exc, ExpiredCertificate)


def refuses_identity(exc: BaseException) -> bool:
    """The token or the certificate it bought is no longer valid: a new token is needed."""
    return isinstance(exc, ExpiredIdentity | ExpiredCertificate)


def failed_service(exc: BaseException) -> str | None:
    """Fulcio or Rekor when the exception says which one failed; else None."""
    if isinstance(exc, FulcioClientError):
        return "Fulcio"
    if isinstance(exc, RekorClientError):
        return "Rekor"
    return None


class _DsseAsDsseV2(RekorV2Client):
    """Rekor v2 client whose DSSE request is `dsse` 0.0.2 (envelope + verifier)."""

    @classmethod
    def _build_dsse_request(cls, envelope: Envelope, certificate: Certificate) -> EntryRequestBody:
        verifier = rekor_v2.verifier.Verifier(
            x509_certificate=common_v1.X509Certificate(
                raw_bytes=base64.b64encode(certificate.public_bytes(Encoding.DER))
            ),
            key_details=_get_key_details(certificate),
        )
        request = rekor_v2.entry.CreateEntryRequest(
            dsse_request_v002=rekor_v2.dsse.DSSERequestV002(envelope=envelope._inner, verifiers=[verifier])
        )
        return EntryRequestBody(request.to_dict())
