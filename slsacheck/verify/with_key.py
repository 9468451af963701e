"""`verify_with_key`: the one call for "is this image signed (or attested) with this key?".

What `slsacheck verify --key PUB IMAGE` and `slsacheck verify-attestation --key PUB --type T
IMAGE` do, as a function: the image is resolved to its digest, every signature (or
attestation) on it in both places cosign and Sigstore bundles put them is checked against
the key, and a `Verdict` comes back. It never raises for a registry that cannot be reached
or an image without evidence (that is a failing or incomplete verdict: `verdict.passed`
is False); it raises `slsacheck.errors.InputError` for a reference or key it cannot read.
"""

from __future__ import annotations

import os
from datetime import datetime

from slsacheck.attach.predicates import predicate_type
from slsacheck.models.reference import ImageRef
from slsacheck.models.verdict import Verdict
from slsacheck.oci.options import RegistryOptions
from slsacheck.signing.keys import load_public_key, public_key_pem
from slsacheck.signing.resolve import load_verifier
from slsacheck.verify.simple import Wanted, key_authority, verify_simple


def _public_pem(key: str | os.PathLike[str] | bytes) -> bytes:
    if isinstance(key, bytes):
        return public_key_pem(load_public_key(key, where="the public key given"))
    return public_key_pem(load_verifier(os.fspath(key)).public_key)


def verify_with_key(
    image: str | ImageRef,
    key: str | os.PathLike[str] | bytes,
    *,
    attestation_type: str | None = None,
    options: RegistryOptions | None = None,
    now: datetime | None = None,
) -> Verdict:
    """Judge `image` against one public key.

    `key` is PEM bytes, a path, or `file://PATH` / `env://VAR`. Without `attestation_type`
    a signature on the image must verify; with it (a cosign alias such as `slsaprovenance1`,
    or a predicate type URI) an attestation of that type must.
    """
    ref = image if isinstance(image, ImageRef) else ImageRef.parse(image)
    authority = key_authority([_public_pem(key)])
    wanted = (Wanted("signature") if attestation_type is None
              else Wanted("attestation", predicate_type(attestation_type)))
    return verify_simple(ref, authority, wanted, options=options, now=now)
