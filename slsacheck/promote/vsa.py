"""The promotion's verification summary: a SLSA VSA v1 predicate, and attaching it signed.

`https://slsa.dev/verification_summary/v1` is the standard predicate for "a verifier
checked this artifact against this policy": slsacheck writes one per destination, about
the promoted digest AT that destination, from the verdict judged there.

- `verifier.id` is `VERIFIER_ID`, `verifier.version` the slsacheck version;
- `resourceUri` is the destination's `registry/repository@digest` (or `oci:DIR@digest`);
- `policy` is `{uri, digest}`: the one policy file's `file:` URI (or the `uri` given), and
  the sha256 of the loaded policy set (`PolicySet.digest()`: content, not file bytes, so
  the same rules loaded from anywhere give the same digest);
- `inputAttestations` are the attestations that VERIFIED for the verdict, each named by
  where it was found and the digest of its DSSE envelope (a `.att` layer) or bundle;
- `verificationResult` is `PASSED` only when a policy judged the image, the verification
  completed and every check held (`slsacheck.promote.judging.verification_result`):
  a check that failed under `mode: warn`, or an image no policy matched, is `FAILED`,
  whatever the exit code the mode allowed;
- `verifiedLevels` lists a SLSA track level only when every policy that judged the copy
  declares it (metadata annotation `slsacheck.dev/verified-levels`, e.g.
  `SLSA_BUILD_LEVEL_3`) and the result is `PASSED`: slsacheck never infers a level the
  policy's author did not claim, and never claims one for a failed verification.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from slsacheck import __version__
from slsacheck.attach.candidates import collect_candidates
from slsacheck.errors import PolicyError
from slsacheck.models.digest import Digest
from slsacheck.models.verdict import Verdict
from slsacheck.oci.store import Store
from slsacheck.promote.judging import verification_result

if TYPE_CHECKING:
    from slsacheck.policy.model import Policy

VSA_PREDICATE_TYPE = "https://slsa.dev/verification_summary/v1"
VERIFIER_ID = "https://slsacheck.dev/promote"
LEVELS_ANNOTATION = "slsacheck.dev/verified-levels"
_LEVEL = re.compile(r"SLSA_[A-Z]+_LEVEL_[0-9]+")


def declared_levels(policy: Policy) -> tuple[str, ...]:
    """The levels `policy` declares it verifies (its `slsacheck.dev/verified-levels` annotation)."""
    document = policy.canonical.get("document")
    metadata = document.get("metadata") if isinstance(document, Mapping) else None
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    text = annotations.get(LEVELS_ANNOTATION) if isinstance(annotations, Mapping) else None
    if not isinstance(text, str):
        return ()
    levels = tuple(part.strip() for part in text.split(",") if part.strip())
    for level in levels:
        if not _LEVEL.fullmatch(level):
            raise PolicyError(
                f"policy {policy.name}: annotation {LEVELS_ANNOTATION} names an unknown level",
                expected="comma-separated SLSA_<TRACK>_LEVEL_<n>, e.g. SLSA_BUILD_LEVEL_3",
                found=level,
            )
    return levels


def verified_levels(verdict: Verdict, policies: Sequence[Policy]) -> list[str]:
    """Levels every judging policy declares, if the verification PASSED; none otherwise."""
    if not policies or verification_result(verdict, policies) != "PASSED":
        return []
    common = set(declared_levels(policies[0]))
    for policy in policies[1:]:
        common &= set(declared_levels(policy))
    return sorted(common)


def input_attestations(store: Store, digest: Digest, verdict: Verdict) -> list[dict[str, Any]]:
    """The attestations that verified for `verdict`, as VSA resource descriptors."""
    sources = {a.source for a in verdict.evidence.attestations} if verdict.evidence is not None else set()
    if not sources:
        return []
    out: list[dict[str, Any]] = []
    for candidate in collect_candidates(store, digest, signatures=False).attestations:
        if candidate.source not in sources:
            continue
        layer = candidate.layer.digest
        out.append({"uri": candidate.source, "digest": {layer.algorithm: layer.hex}})
    return out


def vsa_predicate(
    *,
    resource_uri: str,
    verdict: Verdict,
    policies: Sequence[Policy],
    policy_uri: str,
    policy_digest: str,
    inputs: Sequence[Mapping[str, Any]],
    time_verified: datetime,
) -> dict[str, Any]:
    """The VSA v1 predicate for one destination (pure)."""
    algorithm, _, hexdigest = policy_digest.partition(":")
    return {
        "verifier": {"id": VERIFIER_ID, "version": {"slsacheck": __version__}},
        "timeVerified": time_verified.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "resourceUri": resource_uri,
        "policy": {"uri": policy_uri, "digest": {algorithm: hexdigest}},
        "inputAttestations": [dict(i) for i in inputs],
        "verificationResult": verification_result(verdict, policies),
        "verifiedLevels": verified_levels(verdict, policies),
        "slsaVersion": "1.0",
    }
