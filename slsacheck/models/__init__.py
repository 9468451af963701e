"""Data without I/O: digests, references, descriptors, manifests (and, later, statements,
envelopes, bundles and verdicts)."""

from slsacheck.models.descriptor import Descriptor, MalformedManifest, Manifest, Platform
from slsacheck.models.digest import Digest, InvalidDigest
from slsacheck.models.evidence import Evidence, Rejected, SignerInfo, VerifiedAttestation, VerifiedSignature
from slsacheck.models.reference import DOCKER_HUB, ImageRef
from slsacheck.models.statement import STATEMENT_V1, InvalidStatement, Statement, Subject
from slsacheck.models.verdict import Check, Outcome, Verdict

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
