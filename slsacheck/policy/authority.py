"""Authorities: who may sign, as a policy names them (data only; no crypto here).

The policy loader builds these from `spec.authorities`; the verify layer checks
candidate signatures and attestations against them. An authority is exactly one of
a set of public keys or a keyless identity set over a trusted root: a file read offline,
or a TUF repository (`Mirror`) whose verified root is cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from slsacheck.signing.tlog_rule import DEFAULT_TLOG_RULE, TlogRule
from slsacheck.signing.tuf_source import Mirror

# A trusted_root.json read offline, or the one a TUF repository vouches for.
TrustSource = Path | Mirror


@dataclass(frozen=True)
class IdentitySpec:
    """One accepted keyless identity. Exact values or anchored (full-match) regexps."""

    issuer: str | None = None
    subject: str | None = None
    issuer_regexp: str | None = None
    subject_regexp: str | None = None


@dataclass(frozen=True)
class KeyAuthority:
    name: str
    public_keys: tuple[bytes, ...]  # PKIX PEM, one or more (key rotation)
    # Checks the transparency-log entries key-signed evidence carries (signing.tlog_rule).
    trusted_root: Path | None = None
    tlog: TlogRule = DEFAULT_TLOG_RULE


@dataclass(frozen=True)
class KeylessAuthority:
    name: str
    trusted_root: TrustSource
    identities: tuple[IdentitySpec, ...]
    require_tlog: bool = True


Authority = KeyAuthority | KeylessAuthority
