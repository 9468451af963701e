"""Authorities: who may sign, as a policy names them (data only; no crypto here).

The policy loader builds these from `spec.authorities`; the verify layer checks
candidate signatures and attestations against them. An authority is exactly one of
a set of public keys or a keyless identity set over a trusted root: a file read offline,
or a TUF repository (`Mirror`) whose verified root is cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from slsacheck.signing.identity import Identity
from slsacheck.signing.tlog_rule import DEFAULT_TLOG_RULE, TlogRule
from slsacheck.signing.tuf_source import Mirror

# A trusted_root.json read offline, or the one a TUF repository vouches for.
TrustSource = Path | Mirror

# One accepted keyless identity is the signing layer's `Identity` (exact values or anchored
# regexps, validated when built): the policy names signers with the type that checks them.
# `IdentitySpec` is the name this module used to export, kept so importers keep working.
IdentitySpec = Identity


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
    identities: tuple[Identity, ...]
    require_tlog: bool = True


Authority = KeyAuthority | KeylessAuthority
