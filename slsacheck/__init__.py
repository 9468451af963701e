"""slsacheck: SLSA provenance for Tekton builds, cosign-compatible signing and attestation,
and verification against a policy before promotion, admission or audit.

The names in `_EXPORTS` are the public API, and `__all__` is built from it; everything else
may change between releases. No public name is also the name of a subpackage or module of
slsacheck (`slsacheck.promote` is the package, `slsacheck.promote_image` the function), so
an attribute means the same thing whichever modules happen to be imported already.

The names load on first use, so that `import slsacheck` (and `slsacheck --help`) stays fast
and heavy dependencies (sigstore, jsonschema, protobuf, requests) load only when a feature
needs them.
"""

# ruff: noqa: F401 - the TYPE_CHECKING imports exist for type checkers; the table exports them

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> (module, attribute): the one table of the public API.
_EXPORTS: dict[str, tuple[str, str]] = {
    # errors, by who is at fault (catch `Error` for all of them)
    "Error": ("slsacheck.errors", "Error"),
    "InputError": ("slsacheck.errors", "InputError"),
    "InvalidReference": ("slsacheck.errors", "InvalidReference"),
    "InvalidKey": ("slsacheck.errors", "InvalidKey"),
    "PolicyError": ("slsacheck.errors", "PolicyError"),
    "RegistryError": ("slsacheck.errors", "RegistryError"),
    "NotFound": ("slsacheck.errors", "NotFound"),
    "AuthError": ("slsacheck.errors", "AuthError"),
    "TLSError": ("slsacheck.errors", "TLSError"),
    "StoreError": ("slsacheck.errors", "StoreError"),
    "KeyServiceError": ("slsacheck.errors", "KeyServiceError"),
    "IntegrityError": ("slsacheck.errors", "IntegrityError"),
    "DigestMismatch": ("slsacheck.errors", "DigestMismatch"),
    "TooLarge": ("slsacheck.errors", "TooLarge"),
    "VerificationError": ("slsacheck.errors", "VerificationError"),
    # data
    "Check": ("slsacheck.models", "Check"),
    "Descriptor": ("slsacheck.models", "Descriptor"),
    "Digest": ("slsacheck.models", "Digest"),
    "Evidence": ("slsacheck.models", "Evidence"),
    "ImageRef": ("slsacheck.models", "ImageRef"),
    "Manifest": ("slsacheck.models", "Manifest"),
    "Outcome": ("slsacheck.models", "Outcome"),
    "Platform": ("slsacheck.models", "Platform"),
    "Statement": ("slsacheck.models", "Statement"),
    "Verdict": ("slsacheck.models", "Verdict"),
    # where images live
    "RegistryOptions": ("slsacheck.oci.options", "RegistryOptions"),
    "Store": ("slsacheck.oci.store", "Store"),
    "copy": ("slsacheck.oci.copy", "copy"),
    "open_store": ("slsacheck.oci.open", "open_store"),
    # signing and attaching
    "Signer": ("slsacheck.signing.signer", "Signer"),
    "attest_image": ("slsacheck.attach.sign", "attest_image"),
    "load_signer": ("slsacheck.signing.resolve", "load_signer"),
    "sign_image": ("slsacheck.attach.sign", "sign_image"),
    "verify_bundle": ("slsacheck.signing.bundle", "verify_bundle"),
    # provenance
    "generate_provenance": ("slsacheck.provenance.generate", "generate"),
    # policies and the gate
    "PolicySet": ("slsacheck.policy.model", "PolicySet"),
    "load_policies": ("slsacheck.policy.load", "load_policies"),
    "verify_image": ("slsacheck.verify.gate", "verify_image"),
    "verify_images": ("slsacheck.verify.gate", "verify_images"),
    "verify_with_key": ("slsacheck.verify.with_key", "verify_with_key"),
    # surfaces
    "promote_image": ("slsacheck.promote.promotion", "promote"),
    "run_audit": ("slsacheck.audit.session", "run_audit"),
}

# Built from the table; tests/unit/test_public_api.py checks that it and the imports below agree.
__all__ = ["__version__", *_EXPORTS]  # noqa: PLE0604 - ruff wants a literal; one table is the point

# For type checkers only (at run time `__getattr__` loads each name from the table).
if TYPE_CHECKING:
    from slsacheck.attach.sign import attest_image, sign_image
    from slsacheck.audit.session import run_audit
    from slsacheck.errors import (
        AuthError,
        DigestMismatch,
        Error,
        InputError,
        IntegrityError,
        InvalidKey,
        InvalidReference,
        KeyServiceError,
        NotFound,
        PolicyError,
        RegistryError,
        StoreError,
        TLSError,
        TooLarge,
        VerificationError,
    )
    from slsacheck.models import (
        Check,
        Descriptor,
        Digest,
        Evidence,
        ImageRef,
        Manifest,
        Outcome,
        Platform,
        Statement,
        Verdict,
    )
    from slsacheck.oci.copy import copy
    from slsacheck.oci.open import open_store
    from slsacheck.oci.options import RegistryOptions
    from slsacheck.oci.store import Store
    from slsacheck.policy.load import load_policies
    from slsacheck.policy.model import PolicySet
    from slsacheck.promote.promotion import promote as promote_image
    from slsacheck.provenance.generate import generate as generate_provenance
    from slsacheck.signing.bundle import verify_bundle
    from slsacheck.signing.resolve import load_signer
    from slsacheck.signing.signer import Signer
    from slsacheck.verify.gate import verify_image, verify_images
    from slsacheck.verify.with_key import verify_with_key

def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'slsacheck' has no attribute {name!r}")
    value = getattr(importlib.import_module(target[0]), target[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
