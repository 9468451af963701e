"""slsacheck: SLSA provenance for Tekton builds, cosign-compatible signing and attestation,
and verification against a policy before promotion, admission or audit.

The names exported here are the public API; everything else may change between releases.
They load on first use, so that `import slsacheck` (and `slsacheck --help`) stays fast and
heavy dependencies (sigstore, jsonschema, protobuf, requests) load only when a feature
needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> (module, attribute)
_EXPORTS: dict[str, tuple[str, str]] = {
    "Error": ("slsacheck.errors", "Error"),
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
    # surfaces
    "promote": ("slsacheck.promote.promote", "promote"),
    "run_audit": ("slsacheck.audit.session", "run_audit"),
}

__all__ = [
    "Check",
    "Descriptor",
    "Digest",
    "Error",
    "Evidence",
    "ImageRef",
    "Manifest",
    "Outcome",
    "Platform",
    "PolicySet",
    "RegistryOptions",
    "Signer",
    "Statement",
    "Store",
    "Verdict",
    "__version__",
    "attest_image",
    "copy",
    "generate_provenance",
    "load_policies",
    "load_signer",
    "open_store",
    "promote",
    "run_audit",
    "sign_image",
    "verify_bundle",
    "verify_image",
    "verify_images",
]

if TYPE_CHECKING:
    from slsacheck.attach.sign import attest_image, sign_image
    from slsacheck.audit.session import run_audit
    from slsacheck.errors import Error
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
    from slsacheck.promote.promote import promote
    from slsacheck.provenance.generate import generate as generate_provenance
    from slsacheck.signing.bundle import verify_bundle
    from slsacheck.signing.resolve import load_signer
    from slsacheck.signing.signer import Signer
    from slsacheck.verify.gate import verify_image, verify_images


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'slsacheck' has no attribute {name!r}")
    value = getattr(importlib.import_module(target[0]), target[1])
    globals()[name] = value
    return value
