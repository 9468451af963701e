"""Verification without a policy file: one ad-hoc authority from command-line flags.

`slsacheck verify --key PUB IMAGE` and `--certificate-identity[-regexp] X
--certificate-oidc-issuer[-regexp] Y --trusted-root FILE` build one authority and judge
the image the way a one-rule policy would:

- `signature.authority`: at least one signature on the image verifies for it;
- `attestation.present` (verify-attestation): at least one attestation of the asked
  predicate type (any type when none is asked) verifies for it.

Keyless verification takes its trusted root from `--trusted-root FILE` (read offline), or
else from the TUF cache of a mirror (`--tuf-mirror`, default the Sigstore public good),
updated first when missing or expired unless `--offline`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from slsacheck.errors import InputError
from slsacheck.models.evidence import Evidence
from slsacheck.models.reference import ImageRef
from slsacheck.models.verdict import Check, Outcome, Verdict
from slsacheck.oci.options import RegistryOptions
from slsacheck.oci.store import Store
from slsacheck.policy.authority import Authority, KeyAuthority, KeylessAuthority, TrustSource
from slsacheck.signing.identity import Identity
from slsacheck.signing.tlog_rule import DEFAULT_TLOG_RULE, TlogRule
from slsacheck.signing.tuf_source import PUBLIC_GOOD_URL, Mirror
from slsacheck.verify.authorities import TrustRoots
from slsacheck.verify.gate import judge_image
from slsacheck.verify.named_key import COMMAND_LINE

AD_HOC = COMMAND_LINE


def key_authority(
    keys: Sequence[bytes], name: str = AD_HOC, *, trusted_root: str | None = None, tlog: TlogRule = DEFAULT_TLOG_RULE
) -> KeyAuthority:
    """`--key` (with `--trusted-root` and `--tlog`, the transparency-log rule of `signing.tlog_rule`)."""
    if not keys:
        raise InputError("--key needs at least one public key")
    if tlog == "require" and trusted_root is None:
        raise InputError("--tlog require needs --trusted-root FILE to check the log entries against",
                         hint="give the Sigstore instance's trusted_root.json, or use --tlog verify")
    root = None
    if trusted_root is not None:
        root = Path(trusted_root)
        if not root.is_file():
            raise InputError(f"--trusted-root {trusted_root}: no such file", expected="a Sigstore trusted_root.json")
    return KeyAuthority(name, tuple(keys), trusted_root=root, tlog=tlog)


def keyless_authority(
    *,
    identity: str | None,
    identity_regexp: str | None,
    issuer: str | None,
    issuer_regexp: str | None,
    trusted_root: str | None,
    tuf_mirror: Mirror | None = None,
    require_tlog: bool = True,
    name: str = AD_HOC,
) -> KeylessAuthority:
    if identity is None and identity_regexp is None:
        raise InputError("keyless verification needs --certificate-identity or --certificate-identity-regexp",
                         hint="name who must have signed; '.*' as a regexp accepts anyone, on purpose")
    if issuer is None and issuer_regexp is None:
        raise InputError("keyless verification needs --certificate-oidc-issuer or --certificate-oidc-issuer-regexp")
    source: TrustSource
    if trusted_root is not None:
        if tuf_mirror is not None:
            raise InputError("give either --trusted-root FILE or --tuf-mirror URL, not both",
                             hint="a file is read offline; a mirror's root comes through TUF")
        source = Path(trusted_root)
        if not source.is_file():
            raise InputError(f"--trusted-root {trusted_root}: no such file", expected="a Sigstore trusted_root.json")
    else:
        source = tuf_mirror or Mirror(PUBLIC_GOOD_URL)
    # Built now (its regexps compile) so a typo is a usage error.
    spec = Identity(issuer=issuer, subject=identity, issuer_regexp=issuer_regexp, subject_regexp=identity_regexp)
    return KeylessAuthority(name, source, (spec,), require_tlog=require_tlog)


@dataclass(frozen=True)
class Wanted:
    kind: Literal["signature", "attestation"]
    predicate_type: str | None = None  # attestations: the full URI, or None for any
    # signatures: what each counted signature's simple-signing `optional` must hold (cosign's -a)
    annotations: Mapping[str, str] = field(default_factory=dict)


def _annotated(annotations: Mapping[str, Any], wanted: Mapping[str, str]) -> bool:
    # cosign compares the values as text; a nested value never equals a flag's text.
    return all(isinstance(annotations.get(k), str | int | float | bool) and _text(annotations[k]) == v
               for k, v in wanted.items())


def _text(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def judge(evidence: Evidence, wanted: Wanted, authority: Authority) -> list[Check]:
    """The one check of ad-hoc verification, with the evidence counts in its text."""
    if wanted.kind == "signature":
        verified = [s for s in evidence.signatures if s.authority == authority.name]
        rejected = [r for r in evidence.rejected if r.kind == "signature"]
        found = len(verified) + len(rejected)
        if verified and wanted.annotations:
            signed = [s for s in verified if _annotated(s.annotations, wanted.annotations)]
            if not signed:
                want = ", ".join(f"{k}={v}" for k, v in wanted.annotations.items())
                seen = "; ".join(sorted({json.dumps(dict(s.annotations), sort_keys=True) for s in verified}))
                return [Check(
                    "signature.annotations", Outcome.FAIL, expected=f"a signature by {_who(authority)} with {want}",
                    found=f"{len(verified)} verified signature(s), annotated {seen}",
                    hint="sign with the annotations the verifier asks for (slsacheck sign -a KEY=VALUE), or ask "
                    "for what the signer put there",
                )]
            verified = signed
        if verified:
            return [Check("signature.authority", Outcome.PASS, expected=f"a signature by {_who(authority)}",
                          found=f"{len(verified)} of {found} signature(s) verified")]
        return [Check(
            "signature.authority", Outcome.FAIL, expected=f"a signature by {_who(authority)}",
            found=f"{found} signature(s) found, none verified",
            hint="sign the image with the expected key or identity" if not found
            else "see the reasons listed for each signature",
        )]
    ptype = wanted.predicate_type
    verified_atts = [a for a in evidence.attestations
                     if a.authority == authority.name and (ptype is None or a.predicate_type == ptype)]
    other_types = sorted({a.predicate_type for a in evidence.attestations if a.authority == authority.name}
                         - {a.predicate_type for a in verified_atts})
    rejected_atts = [r for r in evidence.rejected if r.kind == "attestation"]
    total = len(evidence.attestations) + len(rejected_atts)
    expected = f"an attestation{f' of type {ptype}' if ptype else ''} by {_who(authority)}"
    if verified_atts:
        return [Check("attestation.present", Outcome.PASS, expected=expected,
                      found=f"{len(verified_atts)} of {total} attestation(s) verified")]
    summary = f"{total} attestation(s) found, none verified with that type"
    if other_types:
        summary += f" (verified types: {', '.join(other_types)})"
    return [Check("attestation.present", Outcome.FAIL, expected=expected, found=summary,
                  hint="attest the image with the expected key or identity and --type")]


def _who(authority: Authority) -> str:
    if isinstance(authority, KeyAuthority):
        return "the given key" if len(authority.public_keys) == 1 else f"one of {len(authority.public_keys)} keys"
    spec = authority.identities[0]
    subject = spec.subject if spec.subject is not None else f"/{spec.subject_regexp}/"
    issuer = spec.issuer if spec.issuer is not None else f"/{spec.issuer_regexp}/"
    return f"{subject} (issuer {issuer})"


def verify_simple(
    ref: ImageRef,
    authority: Authority,
    wanted: Wanted,
    *,
    options: RegistryOptions | None = None,
    now: datetime | None = None,
    store: Store | None = None,
    roots: TrustRoots | None = None,
    statements: list[Mapping[str, Any]] | None = None,
) -> Verdict:
    """Resolve, collect and judge `ref` against one authority; never raises for registry
    trouble (that is an `error` verdict), only for bad input. `statements`, when given,
    receives the statements of the attestations that verified for the authority and
    have the wanted type (what `verify-attestation --output payload` prints)."""

    def judged(evidence: Evidence) -> list[Check]:
        if statements is not None:
            statements.extend(a.statement for a in evidence.attestations if a.authority == authority.name
                              and (wanted.predicate_type is None or a.predicate_type == wanted.predicate_type))
        return judge(evidence, wanted, authority)

    return judge_image(
        ref, {authority.name: authority}, judged,
        policies=(AD_HOC,), options=options, now=now, store=store, roots=roots,
    )
