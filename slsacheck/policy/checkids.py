"""Check ids and the one table of the rules behind them (documented in docs/checks.md).

A check id is the dotted path of the rule that produced it. Typed attestation rules use
their short path (`provenance.builderIds`, `vulnerabilities.maxSeverity`); CEL conditions
are qualified by their attestation entry (`attestations.<name>.conditions[<i>]`) because
several entries may carry conditions. The loader uses `policy_check_ids` to refuse
exceptions that name a check the policy never produces.

`CHECKS` is the table every reader of check ids uses: for each id (or its shape), the
policy field that turns it on, when a typed rule applies, the sentence `policy explain`
prints, and the help text reports show. Evaluation runs the typed rules in this table's
order and only where `applies` says so (`provenance_rules.provenance_checks`,
`vuln_rules.vulnerability_checks`), so the ids a policy declares and the ids it emits come
from the same rows; the audit's help is built from it; a test compares docs/checks.md
with it. Adding a typed rule is one row here and its check function keyed by the id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from slsacheck.policy.timeutil import human_duration

if TYPE_CHECKING:
    from slsacheck.policy.globs import Glob
    from slsacheck.policy.model import AttestationRule, Policy, ProvenanceRules, VulnerabilityRules

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

PRESENT_SHAPE = "attestations.<name>.present"
CONDITION_SHAPE = "attestations.<name>.conditions[<i>]"
EXCEPTION_SHAPE = "exceptions[<i>]"


def present(name: str) -> str:
    return f"attestations.{name}.present"


def condition(name: str, index: int) -> str:
    return f"attestations.{name}.conditions[{index}]"


def exception(index: int) -> str:
    return f"exceptions[{index}]"


T = TypeVar("T")


@dataclass(frozen=True)
class CheckDoc:
    """A check id (or its shape) that no typed rule produces: what turns it on, its help."""

    id: str
    rule: str
    help: str


@dataclass(frozen=True)
class TypedRule(Generic[T]):
    """One typed attestation rule: its id, the policy field behind it, when the entry's
    rules (`T`: ProvenanceRules or VulnerabilityRules) turn it on, and its words."""

    id: str
    rule: str
    help: str
    applies: Callable[[T], bool]
    explain: Callable[[T], str]


def _any(globs: Iterable[Glob]) -> str:
    return " or ".join(g.pattern for g in globs)


def _trusted_refs(p: ProvenanceRules) -> str:
    unpinned = "".join(
        f"; {what} are accepted unpinned"
        for what, ok in (("inline tasks", p.tasks_allow_inline), ("Tasks of the cluster", p.tasks_allow_cluster))
        if ok
    )
    return f"every task came, pinned by digest, from {_any(p.tasks_trusted_refs)}{unpinned}"


def _step_images(p: ProvenanceRules) -> str:
    assert p.step_images is not None
    parts = ["pinned by digest"] if p.step_images.require_digest else []
    if p.step_images.allowed_registries:
        parts.append("pulled from " + " or ".join(p.step_images.allowed_registries))
    return "every step image " + " and ".join(parts or ["recorded"])


def _severity(v: VulnerabilityRules) -> str:
    extra = f", ignoring {', '.join(sorted(v.ignore_ids))}" if v.ignore_ids else ""
    extra += ", ignoring findings without a fix" if v.ignore_unfixed else ""
    return f"no vulnerability above {v.max_severity} in the newest scan{extra}"


def _max_age(what: str) -> Callable[[ProvenanceRules | VulnerabilityRules], str]:
    def text(rules: ProvenanceRules | VulnerabilityRules) -> str:
        assert rules.max_age is not None
        return f"{what} within {human_duration(rules.max_age)}"

    return text


PROVENANCE_RULES: tuple[TypedRule[ProvenanceRules], ...] = (
    TypedRule(PROVENANCE_BUILDER, "provenance.builderIds",
              "The provenance's builder id matches no trusted builder pattern.",
              lambda p: bool(p.builder_ids), lambda p: f"built by {_any(p.builder_ids)}"),
    TypedRule(PROVENANCE_BUILD_TYPE, "provenance.buildTypes",
              "The provenance's build type matches no allowed pattern.",
              lambda p: bool(p.build_types), lambda p: f"build type {_any(p.build_types)}"),
    TypedRule(PROVENANCE_REPOS, "provenance.source.repositories",
              "No source is recorded, or a recorded source repository matches no allowed pattern.",
              lambda p: p.source is not None and bool(p.source.repositories),
              lambda p: f"every source repository matches {_any(p.source.repositories if p.source else ())}"),
    TypedRule(PROVENANCE_REFS, "provenance.source.refs",
              "No ref is recorded, or a recorded branch or tag matches no allowed pattern.",
              lambda p: p.source is not None and bool(p.source.refs),
              lambda p: f"built from {_any(p.source.refs if p.source else ())}"),
    TypedRule(PROVENANCE_COMMIT, "provenance.source.requireCommit: true",
              "No commit is recorded, or a recorded commit is not a full SHA.",
              lambda p: p.source is not None and p.source.require_commit,
              lambda _p: "every source pinned by a full commit SHA"),
    TypedRule(PROVENANCE_TASKS, "provenance.tasks.required",
              "The provenance records no pipeline tasks, or a required task is missing.",
              lambda p: bool(p.tasks_required), lambda p: "the pipeline ran the tasks " + ", ".join(p.tasks_required)),
    TypedRule(PROVENANCE_TASK_REFS, "provenance.tasks.trustedRefs",
              "A task or pipeline reference is not pinned by digest or commit, or comes from an untrusted place.",
              lambda p: bool(p.tasks_trusted_refs), _trusted_refs),
    TypedRule(PROVENANCE_STEP_IMAGES, "provenance.stepImages",
              "No step image is recorded, or a step image is not pinned by digest or comes from a registry "
              "outside the allowed ones.",
              lambda p: p.step_images is not None, _step_images),
    TypedRule(PROVENANCE_MAX_AGE, "provenance.maxAge",
              "The build finish time is missing, in the future, or older than maxAge.",
              lambda p: p.max_age is not None, _max_age("the build finished")),
)

VULNERABILITY_RULES: tuple[TypedRule[VulnerabilityRules], ...] = (
    TypedRule(VULN_SEVERITY, "vulnerabilities.maxSeverity",
              "The newest accepted vulnerability scan has a finding above the limit, or no report slsacheck "
              "can read.",
              lambda v: v.max_severity is not None, _severity),
    TypedRule(VULN_MAX_AGE, "vulnerabilities.maxAge",
              "The newest scan's finish time is missing, in the future, or older than maxAge.",
              lambda v: v.max_age is not None, _max_age("the newest scan finished")),
)

_VERIFICATION = CheckDoc(
    VERIFICATION_COMPLETE, "always",
    "Evidence could not be collected or verified (registry unreachable, timeout, content not matching its "
    "digest). Never exempted: the verdict's outcome is error.")
_MATCH = CheckDoc(
    POLICY_MATCH, "spec.noMatch / --no-match",
    "No loaded policy's images match the image; spec.noMatch (or --no-match) decides: deny fails, warn warns, "
    "allow passes.")
_THRESHOLD = CheckDoc(
    SIGNATURES_THRESHOLD, "spec.signatures",
    "Fewer than threshold distinct listed authorities signed the image; signatures by unlisted authorities and "
    "rejected candidates are listed in found.")
_PRESENT = CheckDoc(
    PRESENT_SHAPE, "spec.attestations[]",
    "No attestation of the entry's predicateType is signed by one of its authorities; when it fails, the "
    "entry's other checks are skipped.")
_CONDITION = CheckDoc(
    CONDITION_SHAPE, "conditions[i]",
    "The policy's CEL condition is false for an accepted statement, or fails to evaluate.")
_EXCEPTION = CheckDoc(
    EXCEPTION_SHAPE, "spec.exceptions[i]",
    "A policy exception covers this image but has expired, so the checks it named apply again.")

# Every documented id, in the order of docs/checks.md's table.
CHECKS: tuple[CheckDoc, ...] = (
    _VERIFICATION, _MATCH, _THRESHOLD, _PRESENT,
    *(CheckDoc(r.id, r.rule, r.help) for r in PROVENANCE_RULES),
    _CONDITION,
    *(CheckDoc(r.id, r.rule, r.help) for r in VULNERABILITY_RULES),
    _EXCEPTION,
)


def attestation_check_ids(rule: AttestationRule) -> list[str]:
    """The ids one attestation entry produces, in evaluation order."""
    ids = [present(rule.name)]
    if rule.provenance is not None:
        ids.extend(r.id for r in PROVENANCE_RULES if r.applies(rule.provenance))
    if rule.vulnerabilities is not None:
        ids.extend(r.id for r in VULNERABILITY_RULES if r.applies(rule.vulnerabilities))
    ids.extend(condition(rule.name, i) for i in range(len(rule.conditions)))
    return ids


def policy_check_ids(policy: Policy) -> list[str]:
    """Every check id `policy` can produce from its rules, in evaluation order."""
    ids = [SIGNATURES_THRESHOLD] if policy.signatures is not None else []
    for rule in policy.attestations:
        ids.extend(attestation_check_ids(rule))
    return ids
