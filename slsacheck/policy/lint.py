"""Warnings about policies that load but leave a gap an attacker can use (`policy lint`).

They are warnings, not load errors: each describes a configuration that may be intended,
and whose risk the author should weigh.

- A broad policy (a catch-all `**`, or `registry/**`) that also judges every image of a
  more specific policy but demands less. For images that match both, both apply, so
  nothing is lost; the gap is an image of those repositories that reaches the cluster
  under a name the specific patterns do not cover (a mirror, a second DNS name): the broad
  policy alone judges it. Registry names are canonicalised (case, default ports, Docker
  Hub, loopback spellings), and `spec.registryAliases` declares the rest.
- Two authorities of one policy that one signer can satisfy: the same public key under
  two names, or two keyless authorities over one trusted root whose identities can match
  one certificate. `signatures.threshold` counts distinct signers, so such a pair never
  reaches a threshold of 2 with one signature; but the policy then reads as if two
  independent parties were required, and it cannot be met by the two names alone.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

from slsacheck.policy.authority import Authority, KeyAuthority, KeylessAuthority, TrustSource
from slsacheck.policy.checkids import policy_check_ids
from slsacheck.policy.globs import normalise_image_pattern
from slsacheck.policy.model import Policy, PolicySet
from slsacheck.policy.problems import Problem
from slsacheck.policy.yamlsource import line_at, parse_documents
from slsacheck.signing.identity import Identity

_WILDCARDS = re.compile(r"\*\*|\*|\?")


def _sample(pattern: str) -> str:
    """A name the pattern matches (wildcards filled in), to test whether another pattern covers it."""
    return _WILDCARDS.sub(lambda m: "x/x" if m.group() == "**" else "x", pattern)


def _covers(broad: Policy, specific: Policy) -> bool:
    names = [_sample(normalise_image_pattern(g.pattern, specific.registry_aliases)) for g in specific.include]
    return bool(names) and all(
        any(g.match(n) for g in broad.include) and not any(g.match(n) for g in broad.exclude) for n in names
    )


def _demands(policy: Policy) -> set[str]:
    out = {cid for cid in policy_check_ids(policy) if not cid.startswith("attestations.")}
    for rule in policy.attestations:
        out.add(f"an attestation of type {rule.predicate_type}")
        if rule.conditions:
            out.add(f"CEL conditions on {rule.predicate_type}")
    if policy.signatures is not None and policy.signatures.threshold > 1:
        out.add(f"{policy.signatures.threshold} distinct signers")
    return out


def _weaker(broad: Policy, specific: Policy) -> list[str]:
    reasons = []
    if broad.mode == "warn" and specific.mode == "enforce":
        reasons.append("mode warn where the other enforces")
    missing = sorted(_demands(specific) - _demands(broad))
    if missing:
        reasons.append("it does not check " + ", ".join(missing))
    return reasons


def _line(policy: Policy, path: tuple[str | int, ...]) -> int | None:
    if policy.source is None:
        return None
    try:
        docs, _ = parse_documents(policy.source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
    for doc in docs:
        if isinstance(doc.data, dict) and doc.data.get("metadata", {}).get("name") == policy.name:
            return line_at(doc.node, path)
    return None


def _catch_all_warnings(policies: Sequence[Policy]) -> list[Problem]:
    out = []
    for broad in policies:
        for specific in policies:
            if broad is specific or broad.kind != specific.kind or broad.kind != "ImagePolicy":
                continue  # file patterns (ArtifactPolicy) are not image names: nothing to compare here
            if not _covers(broad, specific) or _covers(specific, broad):
                continue
            reasons = _weaker(broad, specific)
            if not reasons:
                continue
            patterns = ", ".join(g.pattern for g in specific.include)
            out.append(Problem(
                str(broad.source), _line(broad, ("spec", "images", "include")), "spec.images.include",
                f"policy {broad.name!r} judges every image of policy {specific.name!r} ({patterns}) but is "
                f"weaker: {'; '.join(reasons)}",
                expected=f"images of {patterns} reach the cluster only under names {specific.name!r} covers",
                found=f"an image of those repositories named through a mirror or another host name is judged by "
                f"{broad.name!r} alone",
                hint=f"declare the registry's other names in spec.registryAliases, list them in {specific.name!r}'s "
                f"images.include, or make {broad.name!r} as strict",
            ))
    return out


def _identities_overlap(a: Identity, b: Identity) -> bool:
    """Whether one certificate can satisfy both specs (exact values decide; a regexp is
    tested against the other's exact value; two regexps are assumed to overlap)."""
    def field(exact_a: str | None, rx_a: str | None, exact_b: str | None, rx_b: str | None) -> bool:
        if exact_a is not None and exact_b is not None:
            return exact_a == exact_b
        if exact_a is not None and rx_b is not None:
            return re.fullmatch(rx_b, exact_a) is not None
        if exact_b is not None and rx_a is not None:
            return re.fullmatch(rx_a, exact_b) is not None
        return True  # two regexps, or a side left open

    return field(a.issuer, a.issuer_regexp, b.issuer, b.issuer_regexp) and field(
        a.subject, a.subject_regexp, b.subject, b.subject_regexp
    )


def _fingerprints(authority: KeyAuthority) -> set[str]:
    """sha256 of each key's DER SubjectPublicKeyInfo: one key in two PEM spellings is one key."""
    out = set()
    for pem in authority.public_keys:
        der = load_pem_public_key(pem).public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        out.add(hashlib.sha256(der).hexdigest())
    return out


def _root_key(source: TrustSource) -> object:
    return source.resolve() if isinstance(source, Path) else source.url


def one_signer_for_both(a: Authority, b: Authority) -> str | None:
    """How one signer can satisfy both authorities (None: it cannot)."""
    if isinstance(a, KeyAuthority) and isinstance(b, KeyAuthority):
        return "they list the same public key" if _fingerprints(a) & _fingerprints(b) else None
    if isinstance(a, KeylessAuthority) and isinstance(b, KeylessAuthority):
        if _root_key(a.trusted_root) != _root_key(b.trusted_root):
            return None
        if any(_identities_overlap(x, y) for x in a.identities for y in b.identities):
            return "one certificate from their common trusted root can match an identity of each"
    return None


def _authority_warnings(policy: Policy) -> list[Problem]:
    out = []
    for (name_a, a), (name_b, b) in combinations(policy.authorities.items(), 2):
        how = one_signer_for_both(a, b)
        if how is None:
            continue
        out.append(Problem(
            str(policy.source), _line(policy, ("spec", "authorities")), "spec.authorities",
            f"authorities {name_a!r} and {name_b!r} can be satisfied by one signer: {how}",
            expected="authorities that name independent signers",
            found=f"{name_a} and {name_b} overlap",
            hint="signatures.threshold counts distinct signers, so one signature never counts twice; merge the "
            "two authorities, or narrow their keys or identities so they name different signers",
        ))
    return out


def lint_warnings(policy_set: PolicySet) -> list[Problem]:
    """Every warning about the loaded set (empty when nothing looks exploitable)."""
    warnings = _catch_all_warnings(policy_set.policies)
    for policy in policy_set.policies:
        warnings += _authority_warnings(policy)
    return warnings
