"""A loaded policy: frozen data, already checked (no I/O here).

`load.py` builds these from `ImagePolicy` files; `evaluate.py` judges Evidence against
them. Everything a rule needs at evaluation time is prepared at load: globs and regular
expressions compiled, CEL compiled, key material read, durations parsed, aliases resolved.
So evaluation never fails on the policy, only on the evidence.

Invariants (enforced by the loader, relied on by evaluation):
- a policy has at least one authority and at least one of `signatures`/`attestations`;
- every authority name a rule references exists in `authorities`;
- `1 <= threshold <= len(signatures.authorities)`;
- no list a rule reads is empty.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

from slsacheck.models.reference import ImageRef
from slsacheck.policy.authority import Authority
from slsacheck.policy.cel_reads import Reads, reads_of
from slsacheck.policy.globs import NO_ALIASES, Glob, RegistryAliases, canonical_image_name

Mode = Literal["enforce", "warn"]
Kind = Literal["ImagePolicy", "ArtifactPolicy"]
NoMatch = Literal["deny", "warn", "allow"]

# Strictest first: combining several policy files keeps the strictest `noMatch`.
NO_MATCH_ORDER: tuple[NoMatch, ...] = ("deny", "warn", "allow")


@dataclass(frozen=True)
class Condition:
    """One CEL expression over an attestation's statement, compiled at load."""

    expr: str
    message: str
    program: Any = field(compare=False, repr=False)  # a checked cel-expr-python Expression

    @functools.cached_property
    def one_line(self) -> str:
        """The expression on one line, as checks show it."""
        return " ".join(self.expr.split())


@dataclass(frozen=True)
class SourceRules:
    repositories: tuple[Glob, ...] = ()
    refs: tuple[Glob, ...] = ()
    require_commit: bool = False


@dataclass(frozen=True)
class ProvenanceRules:
    builder_ids: tuple[Glob, ...] = ()
    build_types: tuple[Glob, ...] = ()
    source: SourceRules | None = None
    tasks_required: tuple[str, ...] = ()
    tasks_trusted_refs: tuple[Glob, ...] = ()
    tasks_allow_inline: bool = False  # trustedRefs accepts tasks defined inline (taskSpec)
    tasks_allow_cluster: bool = False  # trustedRefs accepts Tasks of the cluster (taskRef by name)
    step_images: StepImageRules | None = None
    max_age: timedelta | None = None


@dataclass(frozen=True)
class StepImageRules:
    require_digest: bool = True
    allowed_registries: tuple[str, ...] = ()


@dataclass(frozen=True)
class VulnerabilityRules:
    max_severity: str | None = None
    ignore_ids: frozenset[str] = frozenset()
    ignore_unfixed: bool = False
    max_age: timedelta | None = None


@dataclass(frozen=True)
class AttestationRule:
    name: str
    predicate_type: str  # the full URI (aliases resolved at load)
    authorities: tuple[str, ...]
    provenance: ProvenanceRules | None = None
    vulnerabilities: VulnerabilityRules | None = None
    conditions: tuple[Condition, ...] = ()

    @functools.cached_property
    def cel_reads(self) -> Reads:
        """What the conditions can observe of a statement, together (read once per rule)."""
        return reads_of(c.expr for c in self.conditions)


@dataclass(frozen=True)
class SignatureRule:
    authorities: tuple[str, ...]
    threshold: int = 1


@dataclass(frozen=True)
class PolicyException:
    index: int
    images: tuple[Glob, ...]
    checks: tuple[str, ...]
    until: date  # inclusive: the exception applies through the end of this UTC day
    reason: str

    def covers_image(self, name: str) -> bool:
        return any(g.match(name) for g in self.images)


@dataclass(frozen=True)
class Policy:
    name: str
    source: Path | None
    mode: Mode
    include: tuple[Glob, ...]
    exclude: tuple[Glob, ...]
    authorities: Mapping[str, Authority]
    signatures: SignatureRule | None
    attestations: tuple[AttestationRule, ...]
    exceptions: tuple[PolicyException, ...] = ()
    no_match: NoMatch = "deny"
    # This file's `spec.registryAliases` (canonical alias -> canonical registry), as declared.
    declared_aliases: Mapping[str, str] = field(default_factory=dict, compare=False)
    # The aliases of the whole loaded set (`load_policies` sets them: one registry, one name
    # for every policy), which `matches` and the exceptions apply.
    registry_aliases: RegistryAliases = field(default_factory=lambda: NO_ALIASES, compare=False, repr=False)
    # The policy as loaded (defaults applied, key material and trusted-root digests inlined):
    # what `fingerprint` hashes, so two loads of the same content give the same digest.
    canonical: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # An ArtifactPolicy's include/exclude are file-name globs, and the image gate never applies it.
    kind: Kind = "ImagePolicy"

    def canonical_name(self, image: str | ImageRef) -> str:
        return canonical_image_name(image, self.registry_aliases)

    def matches(self, image: str | ImageRef) -> bool:
        if self.kind != "ImagePolicy":
            return False
        name = self.canonical_name(image)
        return any(g.match(name) for g in self.include) and not any(g.match(name) for g in self.exclude)

    def matches_artifact(self, name: str) -> bool:
        """An ArtifactPolicy's say on a file name (as verified: the file's base name)."""
        if self.kind != "ArtifactPolicy":
            return False
        return any(g.match(name) for g in self.include) and not any(g.match(name) for g in self.exclude)

    def fingerprint(self) -> str:
        text = json.dumps(self.canonical, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class PolicySet:
    policies: tuple[Policy, ...]
    no_match: NoMatch = "deny"

    def matching(self, image: str | ImageRef) -> list[Policy]:
        """The policies that judge `image`: chosen by its canonical name (`canonical_image_name`).
        ArtifactPolicies never judge images."""
        return [p for p in self.policies if p.matches(image)]

    def matching_artifact(self, name: str) -> list[Policy]:
        """The ArtifactPolicies that judge a file of this name."""
        return [p for p in self.policies if p.matches_artifact(name)]

    def digest(self) -> str:
        """`sha256:<hex>` over the loaded policies (order-independent) and `no_match`."""
        body = json.dumps(
            {"noMatch": self.no_match, "policies": sorted(p.fingerprint() for p in self.policies)},
            sort_keys=True,
            separators=(",", ":"),
        )
        return "sha256:" + hashlib.sha256(body.encode()).hexdigest()

    def by_name(self, name: str) -> Policy:
        for p in self.policies:
            if p.name == name:
                return p
        raise KeyError(name)
