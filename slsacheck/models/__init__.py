"""Data without I/O: digests, references, descriptors, manifests (and, later, statements,
envelopes, bundles and verdicts)."""

from slsacheck.models.descriptor import Descriptor, MalformedManifest, Manifest, Platform
from slsacheck.models.digest import Digest, InvalidDigest
from slsacheck.models.reference import DOCKER_HUB, ImageRef

__all__ = [
    "DOCKER_HUB",
    "Descriptor",
    "Digest",
    "ImageRef",
    "InvalidDigest",
    "MalformedManifest",
    "Manifest",
    "Platform",
]
