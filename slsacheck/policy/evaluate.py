"""Judge Evidence against one Policy: a pure function from data to Checks, and Verdicts.

`evaluate(policy, evidence, now=...)` reads only its arguments: no registry, no clock,
no files. The verify layer collects and verifies evidence against the policy's
authorities (authority names are per policy) and calls this.

Semantics:
- `verification.complete` fails whenever evidence collection was incomplete; nothing
  turns it into a pass (not `mode: warn`, not an exception).
- `signatures.threshold`: listed authorities met by DISTINCT signers: signatures sharing a
  public key, a certificate or a keyless identity (issuer + subject) are one signer, and one
  signer counts for one authority at most (the largest such assignment is taken), so the
  same key under two names, or one certificate matching two keyless authorities, is one.
- per attestation entry: `attestations.<name>.present` needs a statement of the
  predicate type signed by one of the entry's authorities; candidates signed by others
  and rejected candidates are listed in `found`. Without one, the entry's other checks
  are `skip` (the verdict already fails on `present`).
- provenance rules and conditions must hold for every accepted statement of the entry
  (conflicting signed claims about one image are a reason to stop); vulnerability rules
  judge the newest accepted scan (older scans are superseded, not contradictory).
- exceptions turn matching fail/warn checks into `skip` with their reason until their
  date (inclusive, UTC); an expired exception no longer applies and adds a `warn`.
- `mode: warn` reports failures as warnings, except `verification.complete`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from slsacheck.models.digest import Digest
from slsacheck.models.evidence import Evidence, Rejected, SignerInfo, VerifiedAttestation, VerifiedSignature
from slsacheck.models.verdict import Check, Outcome, Verdict
from slsacheck.policy import checkids as ids
from slsacheck.policy.authority import KeyAuthority, KeylessAuthority
from slsacheck.policy.cel import Activation, run
from slsacheck.policy.globs import image_name
from slsacheck.policy.model import AttestationRule, NoMatch, Policy
from slsacheck.policy.provenance_facts import provenance_facts
from slsacheck.policy.provenance_rules import facts_read, provenance_checks
from slsacheck.policy.vuln_rules import read_scan, scan_time, vulnerability_checks

_MAX_LISTED = 6


def _listing(items: Sequence[str]) -> str:
    extra = len(items) - _MAX_LISTED
    return "; ".join(items[:_MAX_LISTED]) + (f"; and {extra} more" if extra > 0 else "")


def _accepts(policy: Policy, authority: str, signer: SignerInfo) -> str | None:
    """Why a verified item does not count for `authority` (None: it counts)."""
    auth = policy.authorities.get(authority)
    if auth is None:
        return "authority not defined in this policy"
    if isinstance(auth, KeylessAuthority) and auth.require_tlog and not signer.tlog:
        return "no transparency-log proof, and the authority requires one"
    if isinstance(auth, KeyAuthority) and auth.tlog == "require" and not signer.tlog:
        return "no verified transparency-log entry, and the authority requires one (tlog: require)"
    return None


def _rejected_text(items: Sequence[Rejected]) -> list[str]:
    return [f"rejected {r.source}: {r.reason}" for r in items]


def _signer_groups(signatures: Sequence[VerifiedSignature]) -> list[int]:
    """For each signature, the index of its signer: signatures sharing a key, a certificate,
    a keyless identity or a source (one candidate) are one signer, transitively."""
    parent = list(range(len(signatures)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, sig in enumerate(signatures):
        for sid in (*sig.signer.signer_ids(), f"source:{sig.source}"):
            if sid in owner:
                parent[root(i)] = root(owner[sid])
            else:
                owner[sid] = i
    return [root(i) for i in range(len(signatures))]


def _distinct(pairs: Sequence[tuple[str, int]]) -> dict[str, int]:
    """The largest set of authorities each met by a signer of its own (a maximum matching of
    authorities to signers): one signer never counts for two authorities."""
    by_authority: dict[str, list[int]] = {}
    for authority, signer in pairs:
        by_authority.setdefault(authority, [])
        if signer not in by_authority[authority]:
            by_authority[authority].append(signer)
    signer_of: dict[int, str] = {}

    def assign(authority: str, seen: set[int]) -> bool:
        for signer in by_authority[authority]:
            if signer in seen:
                continue
            seen.add(signer)
            if signer not in signer_of or assign(signer_of[signer], seen):
                signer_of[signer] = authority
                return True
        return False

    for authority in by_authority:
        assign(authority, set())
    return {authority: signer for signer, authority in signer_of.items()}


def _signatures(policy: Policy, evidence: Evidence) -> Check:
    rule = policy.signatures
    assert rule is not None
    listed = set(rule.authorities)
    groups = _signer_groups(evidence.signatures)
    accepted: list[tuple[str, int]] = []
    notes: list[str] = []
    for sig, group in zip(evidence.signatures, groups, strict=True):
        if sig.authority not in listed:
            # Name both sides: whose key it is, and whose it had to be.
            what = "a key" if sig.signer.kind == "key" else "an identity"
            notes.append(f"signed by {sig.signer.describe()} (authority {sig.authority}), not {what} of authority "
                         f"{' or '.join(rule.authorities)}")
            continue
        why = _accepts(policy, sig.authority, sig.signer)
        if why is None:
            accepted.append((sig.authority, group))
        else:
            notes.append(f"{sig.signer.describe()} via {sig.authority} ({why})")
    counted = _distinct(accepted)
    shared = [a for a in dict.fromkeys(a for a, _ in accepted) if a not in counted]
    if shared:
        notes.append(f"{', '.join(shared)}: only by a signer already counted for another authority "
                     "(one signer counts once)")
    notes += _rejected_text([r for r in evidence.rejected if r.kind == "signature"])
    ok = len(counted) >= rule.threshold
    expected = f"signatures from at least {rule.threshold} of: {', '.join(rule.authorities)}, each by a distinct signer"
    names = [a for a in rule.authorities if a in counted]
    found = f"signed by {', '.join(names)}" if names else "no signature from a listed authority"
    if notes:
        found += "; " + _listing(notes)
    return Check(
        ids.SIGNATURES_THRESHOLD,
        Outcome.PASS if ok else Outcome.FAIL,
        policy.name,
        expected=expected,
        found=found,
        hint=None
        if ok
        else "sign the image with a listed authority (cosign sign --key ..., or keyless with an "
        "identity listed under spec.authorities), or check that the signing identity matches the policy; "
        "a threshold counts distinct signers (keys, certificates, keyless identities), not authority names",
    )


def _refusal(policy: Policy, rule: AttestationRule, att: VerifiedAttestation, evidence: Evidence) -> str | None:
    """Why `rule` does not accept `att`, an attestation of its predicate type (None: it does)."""
    stated = att.statement.get("predicateType")
    # The verify layer checks these too; a pure evaluator must not depend on it.
    if stated != att.predicate_type:
        return f"the statement says predicateType {stated!r}, its envelope says {att.predicate_type!r}"
    if not _names_digest(att.statement, evidence):
        return f"the statement's subject does not name {evidence.digest}"
    if att.authority not in rule.authorities:
        return "authority not listed for this attestation"
    return _accepts(policy, att.authority, att.signer)


def accepted_by(policy: Policy, att: VerifiedAttestation, evidence: Evidence) -> bool:
    """Whether an attestation entry of `policy` accepts `att`: what reports may take facts from
    (a level, a builder, a source), since a key trusted for signatures is not trusted for
    provenance."""
    return any(
        rule.predicate_type == att.predicate_type and _refusal(policy, rule, att, evidence) is None
        for rule in policy.attestations
    )


def _present(policy: Policy, rule: AttestationRule, evidence: Evidence) -> tuple[Check, list[VerifiedAttestation]]:
    accepted: list[VerifiedAttestation] = []
    notes: list[str] = []
    for att in evidence.attestations:
        stated = att.statement.get("predicateType")
        if rule.predicate_type not in (stated, att.predicate_type):
            continue
        why = _refusal(policy, rule, att, evidence)
        if why is None:
            accepted.append(att)
        else:
            notes.append(f"{att.source} signed by {att.signer.describe()} via {att.authority} ({why})")
    notes += _rejected_text(
        [r for r in evidence.rejected if r.kind == "attestation" and r.predicate_type in (None, rule.predicate_type)]
    )
    expected = f"an attestation of type {rule.predicate_type} signed by one of: {', '.join(rule.authorities)}"
    if accepted:
        found = f"{len(accepted)} from {', '.join(dict.fromkeys(a.authority for a in accepted))}"
        if notes:
            found += "; also " + _listing(notes)
        return Check(ids.present(rule.name), Outcome.PASS, policy.name, expected=expected, found=found), accepted
    found = _listing(notes) if notes else f"no attestation of type {rule.predicate_type}"
    return Check(
        ids.present(rule.name),
        Outcome.FAIL,
        policy.name,
        expected=expected,
        found=found,
        hint=f"attest the image (cosign attest --type {rule.predicate_type} ...) with a key or identity "
        "listed for this attestation",
    ), []


def _names_digest(statement: Mapping[str, Any], evidence: Evidence) -> bool:
    subjects = statement.get("subject")
    if evidence.artifact is not None:
        # A file is compared on every algorithm a subject shares with it (npm names by sha512).
        artifact = evidence.artifact
        return isinstance(subjects, list) and any(
            isinstance(sub, Mapping) and isinstance(sub.get("digest"), Mapping) and artifact.named_by(sub["digest"])
            for sub in subjects
        )
    want = evidence.digest
    return isinstance(subjects, list) and any(
        isinstance(sub, Mapping)
        and isinstance(sub.get("digest"), Mapping)
        and sub["digest"].get(want.algorithm) == want.hex
        for sub in subjects
    )


def _merge(per_statement: Sequence[tuple[str, list[Check]]]) -> list[Check]:
    """One check per id: failing if any statement fails it; found names the statement."""
    if len(per_statement) == 1:
        return per_statement[0][1]
    order: list[str] = []
    groups: dict[str, list[tuple[str, Check]]] = {}
    for source, checks in per_statement:
        for c in checks:
            if c.id not in groups:
                order.append(c.id)
            groups.setdefault(c.id, []).append((source, c))
    merged: list[Check] = []
    for cid in order:
        group = groups[cid]
        failing = [(s, c) for s, c in group if c.outcome is Outcome.FAIL]
        pick = failing or group
        first = pick[0][1]
        found = _listing([f"{s}: {c.found}" for s, c in pick])
        merged.append(replace(first, found=found))
    return merged


def _conditions(policy: Policy, rule: AttestationRule, statement: Mapping[str, Any]) -> list[Check]:
    out: list[Check] = []
    act = Activation.of(statement, rule.cel_reads)
    for i, cond in enumerate(rule.conditions):
        ok, why = run(cond.program, act, cond.expr)
        out.append(
            Check(
                ids.condition(rule.name, i),
                Outcome.PASS if ok else Outcome.FAIL,
                policy.name,
                message=cond.message,
                expected=cond.one_line,
                found="true" if ok else (why or "false"),
                hint=None if ok else cond.message,
            )
        )
    return out


def _attestation(policy: Policy, rule: AttestationRule, evidence: Evidence, now: datetime) -> list[Check]:
    present, accepted = _present(policy, rule, evidence)
    out = [present]
    if not accepted:
        skipped = [cid for cid in ids.attestation_check_ids(rule) if cid != present.id]
        return out + [
            Check(cid, Outcome.SKIP, message=f"not evaluated: no accepted {rule.name} attestation") for cid in skipped
        ]
    if rule.vulnerabilities is not None:
        newest = max(
            accepted,
            key=lambda a: scan_time(read_scan(_predicate(a.statement))) or datetime.min.replace(tzinfo=now.tzinfo),
        )
        scan = read_scan(_predicate(newest.statement))
        vuln = vulnerability_checks(rule.vulnerabilities, scan, now=now, source=newest.source)
        return out + vuln + _conditions(policy, rule, newest.statement)
    per_statement: list[tuple[str, list[Check]]] = []
    reads = facts_read(rule.provenance) if rule.provenance is not None else frozenset()
    for att in accepted:
        checks: list[Check] = []
        if rule.provenance is not None:
            checks += provenance_checks(rule.provenance, provenance_facts(att.statement, reads), now=now)
        checks += _conditions(policy, rule, att.statement)
        per_statement.append((att.source, checks))
    return out + _merge(per_statement)


def _predicate(statement: Mapping[str, Any]) -> Mapping[str, Any]:
    p = statement.get("predicate")
    return p if isinstance(p, Mapping) else {}


def _apply_exceptions(policy: Policy, image: str, checks: list[Check], now: datetime) -> list[Check]:
    if not policy.exceptions:
        return checks  # and an artifact's name is no image reference to canonicalise
    name = policy.canonical_name(image)
    today = now.date()
    out = list(checks)
    for exc in policy.exceptions:
        if not exc.covers_image(name):
            continue
        if today > exc.until:
            out.append(
                Check(
                    ids.exception(exc.index),
                    Outcome.WARN,
                    message=f"exception expired on {exc.until.isoformat()}; {', '.join(exc.checks)} apply again",
                    expected=f"an exception valid today ({today.isoformat()})",
                    found=f"expired {exc.until.isoformat()} ({exc.reason})",
                    hint="remove the exception from the policy, or renew it with a new date after review",
                )
            )
            continue
        for i, c in enumerate(out):
            if c.id in exc.checks and c.outcome in (Outcome.FAIL, Outcome.WARN):
                out[i] = replace(
                    c, outcome=Outcome.SKIP, message=f"exempted until {exc.until.isoformat()}: {exc.reason}"
                )
    return out


def evaluate(policy: Policy, evidence: Evidence, *, now: datetime) -> list[Check]:
    """Every check `policy` makes over `evidence`, each naming the policy."""
    if now.tzinfo is None:
        raise ValueError("evaluate() needs a timezone-aware `now`")
    checks: list[Check] = []
    if evidence.incomplete:
        checks.append(
            Check(
                ids.VERIFICATION_COMPLETE,
                Outcome.FAIL,
                expected="all evidence collected and verified",
                found=_listing(list(evidence.incomplete)),
                hint="retry when the registry is reachable; a verification that could not complete never passes",
            )
        )
    if policy.signatures is not None:
        checks.append(_signatures(policy, evidence))
    for rule in policy.attestations:
        checks += _attestation(policy, rule, evidence, now)
    checks = _apply_exceptions(policy, evidence.image, checks, now)
    if policy.mode == "warn":
        checks = [
            replace(c, outcome=Outcome.WARN) if c.outcome is Outcome.FAIL and c.id != ids.VERIFICATION_COMPLETE else c
            for c in checks
        ]
    # The rule modules make their checks without a policy; those made here carry it already.
    return [c if c.policy == policy.name else c.named(policy.name) for c in checks]


def _digest_text(digest: Digest | str | None) -> str | None:
    return None if digest is None else str(digest)


def verdict(
    image: str,
    digest: Digest | str | None,
    policies: Sequence[Policy],
    checks: Sequence[Check],
    incomplete: Sequence[str] = (),
) -> Verdict:
    """The Verdict for an image judged by `policies` (their checks concatenated)."""
    return Verdict(
        image=image,
        digest=_digest_text(digest),
        policies=[p.name for p in policies],
        checks=list(checks),
        incomplete=list(incomplete),
    )


def no_match_verdict(image: str, digest: Digest | str | None, no_match: NoMatch) -> Verdict:
    """The Verdict for an image no policy matches: deny fails, warn warns, allow passes."""
    outcome = {"deny": Outcome.FAIL, "warn": Outcome.WARN, "allow": Outcome.PASS}[no_match]
    return Verdict(
        image=image,
        digest=_digest_text(digest),
        policies=[],
        checks=[
            Check(
                ids.POLICY_MATCH,
                outcome,
                expected="at least one policy whose images match",
                found=f"no policy matches {image_name(image)} (noMatch: {no_match})",
                hint=None
                if outcome is Outcome.PASS
                else "add the image to a policy's spec.images.include, or check the "
                "image name (patterns match registry/repository)",
            )
        ],
    )
