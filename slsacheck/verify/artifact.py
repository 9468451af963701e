"""Judge a file against ArtifactPolicies: its attestations, each policy's authorities, the
same evaluation as an image.

The order is the contract:

1. the policies that judge the file are those whose `spec.artifacts` match its base name;
   none matching is the set's `noMatch` (deny by default), as for images;
2. every attestation document (a bundle, a DSSE envelope, a line of an `.intoto.jsonl`) is
   tried with every authority of the policy, each trust it offers (each key; each keyless
   identity over its trusted root): it counts for the first that verifies it, or is
   recorded as rejected with the reason of each attempt;
3. `policy.evaluate` judges the evidence: `attestations.<name>.present`, the provenance and
   vulnerability rules, the CEL conditions, with the same check ids as for an image. The
   statement's subject must name the file on every digest algorithm they share.

Trusted roots are read once per path; an unreadable one is an input error about the policy.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from slsacheck._reason import one_line
from slsacheck.errors import Error
from slsacheck.models.artifact import ArtifactDigests
from slsacheck.models.digest import Digest
from slsacheck.models.evidence import Evidence, Rejected, VerifiedAttestation
from slsacheck.models.verdict import Check, Outcome, Verdict
from slsacheck.policy.artifact_flags import checks_over_all
from slsacheck.policy.authority import Authority, KeyAuthority
from slsacheck.policy.evaluate import evaluate, no_match_verdict, verdict
from slsacheck.policy.model import Policy, PolicySet, ProvenanceRules
from slsacheck.signing.keys import load_public_key
from slsacheck.verify.authorities import TrustRoots
from slsacheck.verify.blob_attestation import BlobAttestation, BlobTrust, verify_document

__all__ = ["judge_artifact", "judge_with_trust"]


def _trusts(authority: Authority, roots: TrustRoots) -> Iterator[BlobTrust]:
    root = roots.get(authority.trusted_root) if authority.trusted_root is not None else None
    if isinstance(authority, KeyAuthority):
        for pem in authority.public_keys:
            key = load_public_key(pem, where=f"a key of authority {authority.name}")
            yield BlobTrust(public_key=key, trusted_root=root, tlog=authority.tlog)
        return
    for identity in authority.identities:
        # Without requireTlog a bare keyless envelope may count, its certificate checked now;
        # the signer then says no log vouched for it.
        yield BlobTrust(identity=identity, trusted_root=root, insecure_ignore_tlog=not authority.require_tlog)


def _evidence(name: str, data: bytes, docs: Sequence[tuple[str, Any]], policy: Policy, *, roots: TrustRoots,
              now: datetime) -> Evidence:
    attestations: list[VerifiedAttestation] = []
    rejected: list[Rejected] = []
    trusts = [(auth.name, trust) for auth in policy.authorities.values() for trust in _trusts(auth, roots)]
    target = ArtifactDigests(data)
    for source, doc in docs:
        reasons: list[str] = []
        for authority, trust in trusts:
            try:
                att = verify_document(doc, target, source=source, trust=trust, now=now)
            except Error as exc:
                reasons.append(f"{authority}: {one_line(exc)}")
                continue
            attestations.append(VerifiedAttestation(authority, att.signer, source, att.predicate_type, att.statement))
            break
        else:
            rejected.append(Rejected("attestation", source, "; ".join(dict.fromkeys(reasons))[:600]))
    return Evidence(image=name, digest=Digest.of(data), attestations=attestations, rejected=rejected,
                    artifact=target)


def judge_artifact(name: str, data: bytes, docs: Sequence[tuple[str, Any]], policies: PolicySet, *,
                   now: datetime) -> Verdict:
    """The Verdict on the file `name` (its bytes `data`) by the ArtifactPolicies that match it."""
    digest = Digest.of(data)
    matching = policies.matching_artifact(name)
    if not matching:
        return no_match_verdict(name, digest, policies.no_match)
    roots = TrustRoots()
    for policy in matching:
        roots.prepare(policy.authorities)
    checks = []
    verified: list[VerifiedAttestation] = []
    rejected: list[Rejected] = []
    for policy in matching:
        found = _evidence(name, data, docs, policy, roots=roots, now=now)
        checks += evaluate(policy, found, now=now)
        # Authority names are per policy: qualified when several policies judged the file.
        prefix = f"{policy.name}/" if len(matching) > 1 else ""
        verified += [replace(a, authority=prefix + a.authority) for a in found.attestations]
        rejected += found.rejected
    shown = Evidence(image=name, digest=digest, attestations=verified, rejected=rejected, documents=len(docs))
    return replace(verdict(name, digest, matching, checks), evidence=shown)


def judge_with_trust(
    name: str,
    target: ArtifactDigests,
    docs: Sequence[tuple[str, Any]],
    trust: BlobTrust,
    *,
    signer: str,
    predicate_type: str | None,
    rules: ProvenanceRules | None,
    now: datetime,
) -> tuple[Verdict, list[BlobAttestation]]:
    """The Verdict on a file (or a digest of it) from one key or identity (`signer` names it)
    and slsa-verifier's flags: `attestations.present`, then the provenance rules over every
    accepted provenance statement. Returns the accepted attestations too (what they left
    unchecked is the caller's to say)."""
    accepted: list[BlobAttestation] = []
    refused: list[tuple[str, str]] = []
    for source, doc in docs:
        try:
            att = verify_document(doc, target, source=source, trust=trust, now=now)
        except Error as exc:
            refused.append((source, one_line(exc)))
            continue
        if predicate_type is not None and att.predicate_type != predicate_type:
            refused.append((source, f"predicate type {att.predicate_type}, not {predicate_type}"))
            continue
        accepted.append(att)
    present = Check(
        "attestations.present",
        Outcome.PASS if accepted else Outcome.FAIL,
        expected=f"an attestation{f' of type {predicate_type}' if predicate_type else ''} about {name}, "
        f"signed by {signer}",
        found="; ".join([f"{a.source} by {a.signer.describe()}" for a in accepted]
                        + [f"rejected {source}: {reason}" for source, reason in refused]) or "none",
        hint=None if accepted else "check that the attestation is about this file and signed by this key or identity",
    )
    checks = [present]
    if rules is not None and accepted:
        checks += checks_over_all(rules, [(a.predicate_type, a.statement) for a in accepted], now=now)
    digest = target.given if target.given is not None else Digest("sha256", target.hex("sha256") or "")
    shown = Evidence(
        image=name, digest=digest,
        attestations=[VerifiedAttestation(signer, a.signer, a.source, a.predicate_type, a.statement,
                                          not_checked=a.unchecked) for a in accepted],
        rejected=[Rejected("attestation", source, reason) for source, reason in refused],
        documents=len(docs),
    )
    result = Verdict(image=name, digest=str(digest), policies=("command-line flags",), checks=checks,
                     evidence=shown)
    return result, accepted
