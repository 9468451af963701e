"""Data without I/O: digests, references, descriptors, manifests, statements, evidence and
verdicts. Names load on first use, so that importing one submodule (say `mediatypes`)
does not pay for the others."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "Descriptor": "descriptor",
    "MalformedManifest": "descriptor",
    "Manifest": "descriptor",
    "Platform": "descriptor",
    "Digest": "digest",
    "InvalidDigest": "digest",
    "Evidence": "evidence",
    "Rejected": "evidence",
    "SignerInfo": "evidence",
    "VerifiedAttestation": "evidence",
    "VerifiedSignature": "evidence",
    "DOCKER_HUB": "reference",
    "ImageRef": "reference",
    "STATEMENT_V1": "statement",
    "InvalidStatement": "statement",
    "Statement": "statement",
    "Subject": "statement",
    "Check": "verdict",
    "Outcome": "verdict",
    "Verdict": "verdict",
}

__all__ = [
    "DOCKER_HUB",
    "STATEMENT_V1",
    "Check",
    "Descriptor",
    "Digest",
    "Evidence",
    "ImageRef",
    "InvalidDigest",
    "InvalidStatement",
    "MalformedManifest",
    "Manifest",
    "Outcome",
    "Platform",
    "Rejected",
    "SignerInfo",
    "Statement",
    "Subject",
    "Verdict",
    "VerifiedAttestation",
    "VerifiedSignature",
]

if TYPE_CHECKING:
    from slsacheck.models.descriptor import Descriptor, MalformedManifest, Manifest, Platform
    from slsacheck.models.digest import Digest, InvalidDigest
    from slsacheck.models.evidence import Evidence, Rejected, SignerInfo, VerifiedAttestation, VerifiedSignature
    from slsacheck.models.reference import DOCKER_HUB, ImageRef
    from slsacheck.models.statement import STATEMENT_V1, InvalidStatement, Statement, Subject
    from slsacheck.models.verdict import Check, Outcome, Verdict


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'slsacheck.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"slsacheck.models.{module}"), name)
    globals()[name] = value
    return value
