"""What a loaded policy demands, in words (for `slsacheck policy explain`).

Every sentence names the check id that enforces it, so a reader can go from the
explanation to a verdict line and back. The typed rules' sentences are their rows of
`checkids.PROVENANCE_RULES` / `VULNERABILITY_RULES`, which evaluation reads too.
"""

from __future__ import annotations

from slsacheck.policy import checkids as ids
from slsacheck.policy.authority import KeyAuthority, KeylessAuthority
from slsacheck.policy.model import AttestationRule, Policy, PolicySet
from slsacheck.signing.tuf_source import Mirror


def _authority(policy: Policy, name: str) -> str:
    auth = policy.authorities[name]
    if isinstance(auth, KeyAuthority):
        n = len(auth.public_keys)
        log = {
            "require": f"; a transparency-log entry required, checked against {auth.trusted_root}",
            "verify": f"; transparency-log entries checked against {auth.trusted_root}" if auth.trusted_root else "",
            "ignore": "; transparency-log entries ignored",
        }[auth.tlog]
        return f"{name} (public key{'s' if n > 1 else ''}: {n}{log})"
    assert isinstance(auth, KeylessAuthority)
    who = []
    for ident in auth.identities:
        issuer = ident.issuer or f"issuer matching /{ident.issuer_regexp}/"
        subject = ident.subject or f"subject matching /{ident.subject_regexp}/"
        who.append(f"{subject} from {issuer}")
    tlog = ", with a transparency-log proof" if auth.require_tlog else ""
    root = (f"trusted root through TUF from {auth.trusted_root.url}" if isinstance(auth.trusted_root, Mirror)
            else f"trusted root {auth.trusted_root}")
    return f"{name} (keyless: {'; or '.join(who)}; {root}{tlog})"


def _attestation(policy: Policy, rule: AttestationRule) -> list[str]:
    out = [
        f"- [{ids.present(rule.name)}] an attestation of type {rule.predicate_type}, signed by "
        + " or ".join(rule.authorities)
        + "."
    ]
    if rule.provenance is not None:
        prov = rule.provenance
        out.extend(f"  - [{r.id}] {r.explain(prov)}" for r in ids.PROVENANCE_RULES if r.applies(prov))
    if rule.vulnerabilities is not None:
        vuln = rule.vulnerabilities
        out.extend(f"  - [{r.id}] {r.explain(vuln)}" for r in ids.VULNERABILITY_RULES if r.applies(vuln))
    for i, cond in enumerate(rule.conditions):
        out.append(f"  - [{ids.condition(rule.name, i)}] {cond.message} (CEL: {' '.join(cond.expr.split())})")
    return out


def explain_policy(policy: Policy) -> str:
    lines = [f"Policy {policy.name}" + (f" ({policy.source})" if policy.source else "")]
    judged = "files named" if policy.kind == "ArtifactPolicy" else "images matching"
    lines.append(
        f"Judges {judged} "
        + ", ".join(g.pattern for g in policy.include)
        + (" except " + ", ".join(g.pattern for g in policy.exclude) if policy.exclude else "")
        + "."
    )
    if policy.mode == "warn":
        lines.append("Mode warn: failures are reported as warnings; evidence that cannot be verified still fails.")
    else:
        lines.append("Mode enforce: any failing check fails the " + (
            "file (verify-blob-attestation --policy; the image gate never applies it)."
            if policy.kind == "ArtifactPolicy" else "image."))
    lines.append("It requires:")
    if policy.signatures is not None:
        s = policy.signatures
        lines.append(
            f"- [{ids.SIGNATURES_THRESHOLD}] signatures on the image from at least {s.threshold} of: "
            + "; ".join(_authority(policy, n) for n in s.authorities)
            + "."
        )
    for rule in policy.attestations:
        lines.extend(_attestation(policy, rule))
    lines.append(f"- [{ids.VERIFICATION_COMPLETE}] all evidence could be collected and verified.")
    for exc in policy.exceptions:
        lines.append(
            f"Exception [{ids.exception(exc.index)}]: {', '.join(exc.checks)} waived for "
            + ", ".join(g.pattern for g in exc.images)
            + f" until {exc.until.isoformat()} ({exc.reason})."
        )
    return "\n".join(lines) + "\n"


def explain(policies: PolicySet) -> str:
    text = "\n".join(explain_policy(p) for p in policies.policies)
    return text + f"\nAn image no policy matches: {policies.no_match}.\n"
