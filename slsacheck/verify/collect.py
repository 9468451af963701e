"""Candidates x authorities -> Evidence: what verified, for whom, and why the rest did not.

`collect_evidence` reads the candidates of one image (all places at once, see
`slsacheck.attach.candidates`) and checks each against each authority. A candidate that
verifies for an authority becomes a `VerifiedSignature`/`VerifiedAttestation` naming it
(one per authority it verifies for, so thresholds count distinct authorities); one that
verifies for none becomes a `Rejected` carrying every authority's reason.

Registry trouble while collecting lands in `Evidence.incomplete`, which fails the
verdict closed. Configuration trouble (an unreadable trusted root) is raised before any
candidate is looked at: it is the operator's to fix, not a property of the image.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from slsacheck.attach.candidates import BundleReferrer, Candidate, Candidates, TagAttestation, collect_candidates
from slsacheck.models.digest import Digest
from slsacheck.models.evidence import Evidence, Rejected, VerifiedAttestation, VerifiedSignature
from slsacheck.oci.store import Store
from slsacheck.policy.authority import Authority, KeyAuthority
from slsacheck.verify.authorities import Accepted, ParseMemo, Refusal, TrustRoots, try_authority


class Checker:
    """Checks candidates against authorities, remembering results: several policies
    naming the same authority (by value) cost one verification."""

    def __init__(
        self, digest: Digest, *, manifest: bytes | None = None, now: datetime | None = None,
        roots: TrustRoots | None = None,
    ) -> None:
        self.digest = digest
        self.manifest = manifest
        self.now = now
        self.roots = roots or TrustRoots()
        self._cache: dict[tuple[object, Authority], Accepted | Refusal] = {}
        self._memo = ParseMemo()

    def prepare(self, authorities: Mapping[str, Authority]) -> None:
        self.roots.prepare(authorities)

    def check(self, candidate: Candidate, authority: Authority) -> Accepted | Refusal:
        key = (_same_check(candidate, authority), authority)
        if key not in self._cache:
            self._cache[key] = try_authority(
                candidate, authority, self.digest, roots=self.roots, manifest=self.manifest, now=self.now,
                memo=self._memo,
            )
        return self._cache[key]


def _same_check(candidate: Candidate, authority: Authority) -> object:
    """What the check of `candidate` against `authority` depends on. A tag attestation
    checked with keys depends on its envelope blob alone (the signatures are inside it),
    so every listing of one blob shares one check; anything else also depends on its own
    annotations (signature, certificate, Rekor SET, timestamp)."""
    if isinstance(authority, KeyAuthority) and isinstance(candidate, TagAttestation):
        return candidate.layer.digest
    return id(candidate)


def evidence_from(
    candidates: Candidates,
    authorities: Mapping[str, Authority],
    image_text: str,
    checker: Checker,
) -> Evidence:
    """Judge already-collected candidates against `authorities` (name -> authority)."""
    checker.prepare(authorities)
    signatures: list[VerifiedSignature] = []
    attestations: list[VerifiedAttestation] = []
    rejected: list[Rejected] = list(candidates.rejected)
    for candidate in candidates:
        reasons: list[tuple[str, str]] = []
        accepted_any = False
        for name, authority in authorities.items():
            result = checker.check(candidate, authority)
            if isinstance(result, Refusal):
                reasons.append((name, result.reason))
                continue
            accepted_any = True
            if candidate.kind == "signature":
                signatures.append(VerifiedSignature(name, result.signer, candidate.source, dict(result.optional)))
            else:
                assert result.statement is not None
                attestations.append(VerifiedAttestation(
                    name, result.signer, candidate.source, result.statement.predicate_type,
                    result.statement.to_dict(),
                ))
        if not accepted_any:
            if not reasons:
                reasons = [("", "no authority to check it against")]
            only = reasons[0][0] if len(reasons) == 1 else None
            text = reasons[0][1] if len(reasons) == 1 else "; ".join(f"{n}: {r}" for n, r in reasons)
            rejected.append(Rejected(candidate.kind, candidate.source, text, authority=only or None,
                                     predicate_type=_claimed_type(candidate)))
    return Evidence(image_text, candidates.digest, tuple(signatures), tuple(attestations), tuple(rejected),
                    tuple(candidates.incomplete), searched=tuple(candidates.searched), limits=dict(candidates.limits))


def _claimed_type(candidate: Candidate) -> str | None:
    match candidate:
        case TagAttestation() | BundleReferrer(kind="attestation"):
            return candidate.predicate_type
    return None


def collect_evidence(
    store: Store,
    digest: Digest,
    image_text: str,
    authorities: Mapping[str, Authority],
    *,
    manifest: bytes | None = None,
    now: datetime | None = None,
    roots: TrustRoots | None = None,
) -> Evidence:
    """Every signature and attestation of `digest` in `store`, judged against `authorities`."""
    checker = Checker(digest, manifest=manifest, now=now, roots=roots)
    checker.prepare(authorities)
    return evidence_from(collect_candidates(store, digest), authorities, image_text, checker)


def summary(evidence: Evidence) -> dict[str, Any]:
    """The evidence as JSON for verdicts (`Evidence.to_json`)."""
    return evidence.to_json()
