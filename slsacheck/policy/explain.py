"""What a loaded policy demands, in words (for `slsacheck policy explain`).

Every sentence names the check id that enforces it, so a reader can go from the
explanation to a verdict line and back.
"""

from __future__ import annotations

from slsacheck.policy import checkids as ids
from slsacheck.policy.authority import KeyAuthority, KeylessAuthority
from slsacheck.policy.model import AttestationRule, Policy, PolicySet
from slsacheck.policy.provenance_rules import human_duration
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
    p = rule.provenance
    if p is not None:
        if p.builder_ids:
            out.append(f"  - [{ids.PROVENANCE_BUILDER}] built by " + " or ".join(g.pattern for g in p.builder_ids))
        if p.build_types:
            out.append(f"  - [{ids.PROVENANCE_BUILD_TYPE}] build type " + " or ".join(g.pattern for g in p.build_types))
        if p.source is not None:
            if p.source.repositories:
                out.append(
                    f"  - [{ids.PROVENANCE_REPOS}] every source repository matches "
                    + " or ".join(g.pattern for g in p.source.repositories)
                )
            if p.source.refs:
                out.append(f"  - [{ids.PROVENANCE_REFS}] built from " + " or ".join(g.pattern for g in p.source.refs))
            if p.source.require_commit:
                out.append(f"  - [{ids.PROVENANCE_COMMIT}] every source pinned by a full commit SHA")
        if p.tasks_required:
            out.append(f"  - [{ids.PROVENANCE_TASKS}] the pipeline ran the tasks " + ", ".join(p.tasks_required))
        if p.tasks_trusted_refs:
            out.append(
                f"  - [{ids.PROVENANCE_TASK_REFS}] every task came, pinned by digest, from "
                + " or ".join(g.pattern for g in p.tasks_trusted_refs)
                + "".join(
                    f"; {what} are accepted unpinned"
                    for what, ok in (("inline tasks", p.tasks_allow_inline), ("Tasks of the cluster",
                                                                              p.tasks_allow_cluster))
                    if ok
                )
            )
        if p.step_images is not None:
            parts = ["pinned by digest"] if p.step_images.require_digest else []
            if p.step_images.allowed_registries:
                parts.append("pulled from " + " or ".join(p.step_images.allowed_registries))
            out.append(f"  - [{ids.PROVENANCE_STEP_IMAGES}] every step image " + " and ".join(parts or ["recorded"]))
        if p.max_age is not None:
            out.append(f"  - [{ids.PROVENANCE_MAX_AGE}] the build finished within {human_duration(p.max_age)}")
    v = rule.vulnerabilities
    if v is not None:
        if v.max_severity is not None:
            extra = f", ignoring {', '.join(sorted(v.ignore_ids))}" if v.ignore_ids else ""
            extra += ", ignoring findings without a fix" if v.ignore_unfixed else ""
            out.append(f"  - [{ids.VULN_SEVERITY}] no vulnerability above {v.max_severity} in the newest scan{extra}")
        if v.max_age is not None:
            out.append(f"  - [{ids.VULN_MAX_AGE}] the newest scan finished within {human_duration(v.max_age)}")
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
