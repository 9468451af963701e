"""Media types and annotation keys of the OCI, Docker, cosign and Sigstore formats."""

from __future__ import annotations

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
IMAGE_MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
MANIFEST_TYPES = INDEX_TYPES | IMAGE_MANIFEST_TYPES

# The empty JSON object `{}` that OCI 1.1 artifacts use as config.
EMPTY_JSON = b"{}"

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
DSSE_ENVELOPE = "application/vnd.dsse.envelope.v1+json"
SIGSTORE_BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
IN_TOTO_PAYLOAD = "application/vnd.in-toto+json"

ANN_SIGNATURE = "dev.cosignproject.cosign/signature"
ANN_CERTIFICATE = "dev.sigstore.cosign/certificate"
ANN_CHAIN = "dev.sigstore.cosign/chain"
ANN_BUNDLE = "dev.sigstore.cosign/bundle"
ANN_RFC3161 = "dev.sigstore.cosign/rfc3161timestamp"
ANN_PREDICATE_TYPE = "predicateType"
ANN_BUNDLE_CONTENT = "dev.sigstore.bundle.content"
ANN_BUNDLE_PREDICATE_TYPE = "dev.sigstore.bundle.predicateType"
ANN_REF_NAME = "org.opencontainers.image.ref.name"
ANN_CREATED = "org.opencontainers.image.created"

# `cosign save` annotates index.json entries of a layout with what each one is.
ANN_KIND = "kind"
KIND_IMAGE = "dev.cosignproject.cosign/image"
KIND_IMAGE_INDEX = "dev.cosignproject.cosign/imageIndex"
KIND_SIGS = "dev.cosignproject.cosign/sigs"
KIND_ATTS = "dev.cosignproject.cosign/atts"

# Size caps for what is read into memory. Larger content is refused, never truncated.
MAX_MANIFEST_SIZE = 4 * 1024 * 1024
MAX_EVIDENCE_SIZE = 16 * 1024 * 1024
# Distinct evidence bytes (manifests and blobs) one verification reads: room for a few
# large SBOM attestations in both the `.att` and the bundle forms. Past it the verdict is
# incomplete (slsacheck.attach.reading).
MAX_VERIFICATION_EVIDENCE = 64 * 1024 * 1024
