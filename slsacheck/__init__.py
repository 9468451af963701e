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

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Error": "slsacheck.errors",
    "Descriptor": "slsacheck.models",
    "Digest": "slsacheck.models",
    "ImageRef": "slsacheck.models",
    "Manifest": "slsacheck.models",
    "Platform": "slsacheck.models",
    "Verdict": "slsacheck.models",
    "Check": "slsacheck.models",
    "Outcome": "slsacheck.models",
    "Evidence": "slsacheck.models",
    "Store": "slsacheck.oci.store",
    "open_store": "slsacheck.oci.open",
    "RegistryOptions": "slsacheck.oci.options",
    "copy": "slsacheck.oci.copy",
    "Signer": "slsacheck.signing.signer",
    "load_signer": "slsacheck.signing.resolve",
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
    "RegistryOptions",
    "Signer",
    "Store",
    "Verdict",
    "__version__",
    "copy",
    "load_signer",
    "open_store",
]

if TYPE_CHECKING:
    from slsacheck.errors import Error
    from slsacheck.models import Check, Descriptor, Digest, Evidence, ImageRef, Manifest, Outcome, Platform, Verdict
    from slsacheck.oci.copy import copy
    from slsacheck.oci.open import open_store
    from slsacheck.oci.options import RegistryOptions
    from slsacheck.oci.store import Store
    from slsacheck.signing.resolve import load_signer
    from slsacheck.signing.signer import Signer


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'slsacheck' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
