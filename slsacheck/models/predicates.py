"""Predicate types by cosign's short names: the one table every layer reads (pure data).

cosign's `--type` aliases (`cosign attest`, `cosign verify-attestation`) are part of its
user interface; slsacheck gives the same names the same URIs wherever a name is
accepted: on the command line (`attach.predicates`) and in policy files (`policy`).
"""

from __future__ import annotations

from collections.abc import Mapping

# The predicate types slsacheck itself writes or reads field by field.
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
SLSA_PROVENANCE_V02 = "https://slsa.dev/provenance/v0.2"
COSIGN_VULN_V1 = "https://cosign.sigstore.dev/attestation/vuln/v1"
# The predicate type of cosign 3's bundle-format image signatures (a DSSE statement), which
# makes such a bundle a signature rather than an attestation.
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"

PREDICATE_ALIASES: Mapping[str, str] = {
    "custom": "https://cosign.sigstore.dev/attestation/v1",
    "slsaprovenance": SLSA_PROVENANCE_V02,
    "slsaprovenance02": SLSA_PROVENANCE_V02,
    "slsaprovenance1": SLSA_PROVENANCE_V1,
    "spdx": "https://spdx.dev/Document",
    "spdxjson": "https://spdx.dev/Document",
    "cyclonedx": "https://cyclonedx.org/bom",
    "link": "https://in-toto.io/Link/v1",
    "vuln": COSIGN_VULN_V1,
    "openvex": "https://openvex.dev/ns",
}
