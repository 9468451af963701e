"""slsacheck: SLSA provenance for Tekton builds, cosign-compatible signing and attestation,
and verification against a policy before promotion, admission or audit.

The names exported here are the public API; everything else may change between releases.
Heavy dependencies (sigstore, jsonschema, protobuf) load only when a feature needs them.
"""

from __future__ import annotations

from slsacheck.errors import Error
from slsacheck.models import Descriptor, Digest, ImageRef, Manifest, Platform

__version__ = "0.1.0"

__all__ = [
    "Descriptor",
    "Digest",
    "Error",
    "ImageRef",
    "Manifest",
    "Platform",
    "__version__",
]
