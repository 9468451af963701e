"""What verification found on an image, before a policy judges it (no I/O).

The verify layer collects candidate signatures and attestations from a Store (cosign
`.sig`/`.att` tags and OCI referrers, both), checks each one against the policy's
authorities, and records the outcome here: verified items name the authority that
verified them, rejected items say why, and `searched`/`limits` say where it looked and what
it read. Policy evaluation reads only this; a Verdict carries it and `to_json` is its one
serialisation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from slsacheck.models.digest import Digest

if TYPE_CHECKING:
    # Only blob and bundle verification attach one (models.artifact, which image commands never load).
    from slsacheck.models.artifact import ArtifactDigests


@dataclass(frozen=True)
class SignerInfo:
    """Who signed, as established by verification."""

    kind: Literal["key", "keyless"]
    key_fingerprint: str | None = None  # sha256 hex of the DER SubjectPublicKeyInfo
    subject: str | None = None  # certificate SAN (keyless)
    issuer: str | None = None  # OIDC issuer (keyless)
    tlog: bool = False  # a Rekor SET or inclusion proof verified
    integrated_time: datetime | None = None
    certificate_fingerprint: str | None = None  # sha256 hex of the DER certificate (keyless)

    def signer_ids(self) -> frozenset[str]:
        """What names this signer for counting distinct signers (`signatures.threshold`).

        Two signatures share a signer when any id is shared: the same public key (a key, or
        the key a certificate certifies), the same certificate, or, keyless, the same
        identity (issuer and subject): two certificates for one identity are one party.
        """
        ids = set()
        if self.key_fingerprint:
            ids.add(f"key:{self.key_fingerprint}")
        if self.certificate_fingerprint:
            ids.add(f"certificate:{self.certificate_fingerprint}")
        if self.kind == "keyless" and self.subject is not None:
            ids.add(f"identity:{self.issuer}\n{self.subject}")
        return frozenset(ids)

    def describe(self) -> str:
        if self.kind == "key":
            return f"key sha256:{(self.key_fingerprint or '?')[:16]}"
        return f"{self.subject} (issuer {self.issuer})"


@dataclass(frozen=True)
class VerifiedSignature:
    authority: str
    signer: SignerInfo
    source: str  # e.g. "sha256-<hex>.sig layer 0" or "referrer sha256:<hex>"
    annotations: Mapping[str, Any] = field(default_factory=dict)  # simple-signing `optional`


@dataclass(frozen=True)
class VerifiedAttestation:
    authority: str
    signer: SignerInfo
    source: str
    predicate_type: str
    statement: Mapping[str, Any]  # the whole in-toto statement, subject already checked
    # A file's attestation verified by command-line trust: what it left unchecked (listed as
    # `notChecked`, empty or not); None where the question does not arise.
    not_checked: Sequence[str] | None = None


@dataclass(frozen=True)
class Rejected:
    """A candidate that did not verify for any authority it was tried with, and why."""

    kind: Literal["signature", "attestation"]
    source: str
    reason: str
    authority: str | None = None
    predicate_type: str | None = None


@dataclass(frozen=True)
class Evidence:
    image: str  # the reference as the user gave it
    digest: Digest  # what was actually judged
    signatures: Sequence[VerifiedSignature] = ()
    attestations: Sequence[VerifiedAttestation] = ()
    rejected: Sequence[Rejected] = ()
    # Reasons collection could not complete; any entry makes the verdict fail closed.
    incomplete: Sequence[str] = ()
    # Where candidates were looked for ("<repo>:sha256-<hex>.sig", "... referrers of ..."),
    # and the limits applied with what was read under them.
    searched: Sequence[str] = ()
    limits: Mapping[str, int] = field(default_factory=dict)
    # A file judged by an ArtifactPolicy: its bytes, so that statements are compared on every
    # digest algorithm they share with it, not on `digest` alone.
    artifact: ArtifactDigests | None = field(default=None, repr=False, compare=False)
    # A file's evidence: the attestation documents given with it, which `found` counts (several
    # policies may each verify one). A file has no signatures section; None for an image.
    documents: int | None = None

    def verified(self, kind: Literal["signature", "attestation"]) -> Sequence[VerifiedSignature | VerifiedAttestation]:
        return self.signatures if kind == "signature" else self.attestations

    def to_json(self) -> dict[str, Any]:
        """What was searched, found, verified, rejected and why (schemas/verdict.schema.json `evidence`)."""
        out: dict[str, Any] = {} if self.documents is not None else {"signatures": self._section("signature")}
        out["attestations"] = self._section("attestation")
        if self.searched:
            out["searched"] = list(self.searched)
        if self.limits:
            out["limits"] = dict(self.limits)
        if self.incomplete:
            out["incomplete"] = list(self.incomplete)
        return out

    def rejected_of(self, kind: Literal["signature", "attestation"]) -> list[Rejected]:
        return [r for r in self.rejected if r.kind == kind]

    def found(self, kind: Literal["signature", "attestation"]) -> int:
        """Distinct places holding a candidate of `kind`, verified or not (a file: the documents given)."""
        if self.documents is not None:
            return self.documents if kind == "attestation" else 0
        return len({v.source for v in self.verified(kind)} | {r.source for r in self.rejected_of(kind)})

    def _section(self, kind: Literal["signature", "attestation"]) -> dict[str, Any]:
        return {
            "found": self.found(kind),
            "verified": [self._entry(v) for v in self.verified(kind)],
            "rejected": [
                {"source": r.source, "reason": r.reason,
                 **({"predicateType": r.predicate_type} if r.predicate_type else {})}
                for r in self.rejected_of(kind)
            ],
        }

    def _entry(self, v: VerifiedSignature | VerifiedAttestation) -> dict[str, Any]:
        if self.documents is not None and isinstance(v, VerifiedAttestation):
            # A file's attestation, in the order the blob commands have always written it.
            return {"source": v.source, "predicateType": v.predicate_type, "signer": v.signer.describe(),
                    "authority": v.authority, "tlog": v.signer.tlog,
                    **({"notChecked": list(v.not_checked)} if v.not_checked is not None else {})}
        return {"source": v.source, "authority": v.authority, "signer": v.signer.describe(),
                # which evidence a transparency log vouched for (SET or inclusion proof verified)
                "tlog": v.signer.tlog,
                **({"predicateType": v.predicate_type} if isinstance(v, VerifiedAttestation) else {})}
