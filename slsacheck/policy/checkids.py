"""Check ids: the stable names of what a policy checks (documented in docs/checks.md).

A check id is the dotted path of the rule that produced it. Typed attestation rules use
their short path (`provenance.builderIds`, `vulnerabilities.maxSeverity`); CEL conditions
are qualified by their attestation entry (`attestations.<name>.conditions[<i>]`) because
several entries may carry conditions. The loader uses `policy_check_ids` to refuse
exceptions that name a check the policy never produces.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slsacheck.policy.model import AttestationRule, Policy

SIGNATURES_THRESHOLD = "signatures.threshold"
VERIFICATION_COMPLETE = "verification.complete"
POLICY_MATCH = "policy.match"
NEVER_EXEMPT = frozenset({VERIFICATION_COMPLETE, POLICY_MATCH})

PROVENANCE_BUILDER = "provenance.builderIds"
PROVENANCE_BUILD_TYPE = "provenance.buildTypes"
PROVENANCE_REPOS = "provenance.source.repositories"
PROVENANCE_REFS = "provenance.source.refs"
PROVENANCE_COMMIT = "provenance.source.requireCommit"
PROVENANCE_TASKS = "provenance.tasks.required"
PROVENANCE_TASK_REFS = "provenance.tasks.trustedRefs"
PROVENANCE_STEP_IMAGES = "provenance.stepImages"
PROVENANCE_MAX_AGE = "provenance.maxAge"
VULN_SEVERITY = "vulnerabilities.maxSeverity"
VULN_MAX_AGE = "vulnerabilities.maxAge"


def present(name: str) -> str:
    return f"attestations.{name}.present"


def condition(name: str, index: int) -> str:
    return f"attestations.{name}.conditions[{index}]"


def exception(index: int) -> str:
    return f"exceptions[{index}]"


def attestation_check_ids(rule: AttestationRule) -> list[str]:
    ids = [present(rule.name)]
    prov = rule.provenance
    if prov is not None:
        if prov.builder_ids:
            ids.append(PROVENANCE_BUILDER)
        if prov.build_types:
            ids.append(PROVENANCE_BUILD_TYPE)
        if prov.source is not None:
            if prov.source.repositories:
                ids.append(PROVENANCE_REPOS)
            if prov.source.refs:
                ids.append(PROVENANCE_REFS)
            if prov.source.require_commit:
                ids.append(PROVENANCE_COMMIT)
        if prov.tasks_required:
            ids.append(PROVENANCE_TASKS)
        if prov.tasks_trusted_refs:
            ids.append(PROVENANCE_TASK_REFS)
        if prov.step_images is not None:
            ids.append(PROVENANCE_STEP_IMAGES)
        if prov.max_age is not None:
            ids.append(PROVENANCE_MAX_AGE)
    vuln = rule.vulnerabilities
    if vuln is not None:
        if vuln.max_severity is not None:
            ids.append(VULN_SEVERITY)
        if vuln.max_age is not None:
            ids.append(VULN_MAX_AGE)
    ids.extend(condition(rule.name, i) for i in range(len(rule.conditions)))
    return ids


def policy_check_ids(policy: Policy) -> list[str]:
    """Every check id `policy` can produce from its rules, in evaluation order."""
    ids = [SIGNATURES_THRESHOLD] if policy.signatures is not None else []
    for rule in policy.attestations:
        ids.extend(attestation_check_ids(rule))
    return ids
