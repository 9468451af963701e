"""The checks every Sigstore signature goes through, whatever carries it: a Sigstore
bundle (`signing.bundle`) or cosign's layer annotations (`signing.cosign_material`).

A `Verifier` is built once with its trusted root and its clock (`Verifier.for_root(root)`,
`Verifier.from_trusted_root(path)`), as sigstore-python's is, and does the phases of the
Sigstore client specification, each a method, so that both formats run the same code:

1. `establish_times`: the verified times of a signature. Each transparency-log entry is
   proven by the log (`verify_log_entry`: its inclusion proof under a checkpoint the same
   log signed, and/or its SET, with a log key of the root; the body names THIS signature,
   signer and payload; an integrated time is never in the future); each RFC 3161
   timestamp verifies against a TSA of the root; and the log key was valid at the time
   of its entry (`check_log_keys`);
2. `verify_certificate`: keyless, at every verified time the certificate chains to a
   Fulcio CA of the root valid then; it has a valid SCT when the root lists CT logs, the
   Fulcio profile, and the expected identity.

What the formats differ in (how the signature, entries and timestamps are read, which proof
an entry must carry, whether a bad timestamp is skipped or fatal) stays with the format.
`Verified` is the one result: this signature verified, by this signer, at these times.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from slsacheck.errors import VerificationError
from slsacheck.models.statement import Statement
from slsacheck.signing import _rekor_body, _timestamps, _tlog
from slsacheck.signing._x509ext import signing_key
from slsacheck.signing.identity import Identity
from slsacheck.signing.trust import PublicKey, TrustedRoot, load_trusted_root

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["EntryProof", "Verified", "VerifiedTimes", "Verifier", "certificate_key"]

# What a log entry must carry to count: its SET (a v0.1 bundle, a cosign layer) or its
# inclusion proof with a checkpoint (bundles from v0.2 on).
EntryProof = Literal["set", "proof"]


@dataclass(frozen=True)
class Verified:
    """A signature that verified: by whom, when the log or a timestamp saw it, and over what.

    Keyless results name the certificate's `subject` and `issuer`; key-signed ones the
    key's fingerprint. The content fields (`media_type` ... `statement_json`) are those
    of a Sigstore bundle; a cosign layer's caller holds its payload already.
    """

    kind: Literal["message", "dsse"]
    subject: str | None = None
    issuer: str | None = None
    key_fingerprint: str | None = None
    certificate: x509.Certificate | None = field(default=None, repr=False)
    integrated_time: datetime | None = None  # the earliest SET-backed integrated time
    log_index: int | None = None  # of the one entry of a cosign layer
    log_id: str | None = None  # hex, likewise
    timestamps: tuple[datetime, ...] = ()  # genTimes of the RFC 3161 timestamps that verified
    rejected_timestamps: tuple[str, ...] = ()  # why each other timestamp was skipped
    tlog_entries: int = 0  # transparency-log entries verified (SET and/or inclusion proof)
    tlog_unchecked: int = 0  # entries present but not checked (key: no trust root, or rule `ignore`)
    media_type: str | None = None
    payload_type: str | None = None
    payload: bytes | None = field(default=None, repr=False)
    # The in-toto statement: the strict model when it parses as one, and always the JSON object.
    statement: Statement | None = field(default=None, repr=False)
    statement_json: Mapping[str, object] | None = field(default=None, repr=False)

    @property
    def signer(self) -> str:
        """"SUBJECT (ISSUER)" for keyless, "key sha256:<hex>" for a key."""
        if self.subject is not None:
            return f"{self.subject} ({self.issuer})"
        return f"key sha256:{self.key_fingerprint}"


@dataclass(frozen=True)
class VerifiedTimes:
    """The times a signature is proven to have existed at, and the timestamps that did not count."""

    integrated: tuple[datetime, ...] = ()  # SET-backed integrated times
    timestamps: tuple[datetime, ...] = ()  # RFC 3161 genTimes
    rejected: tuple[str, ...] = ()

    @property
    def all(self) -> tuple[datetime, ...]:
        return self.integrated + self.timestamps

    @property
    def earliest_integrated(self) -> datetime | None:
        return min(self.integrated) if self.integrated else None


def certificate_key(leaf: x509.Certificate) -> PublicKey:
    """The key a keyless certificate certifies, refused when it is of a type no Sigstore
    client signs with (or does not parse)."""
    return signing_key(leaf)


class Verifier:
    """Verification against one trusted root at one clock (`now`, the current time by default)."""

    def __init__(self, trusted_root: TrustedRoot, *, now: datetime | None = None) -> None:
        self.trusted_root = trusted_root
        self.now = now or datetime.now(UTC)

    @classmethod
    def for_root(cls, trusted_root: TrustedRoot, *, now: datetime | None = None) -> Verifier:
        return cls(trusted_root, now=now)

    @classmethod
    def from_trusted_root(cls, path: str | Path, *, now: datetime | None = None) -> Verifier:
        """Read a Sigstore `trusted_root.json` (an `InputError` when it is not one)."""
        return cls(load_trusted_root(Path(path)), now=now)

    # -- 1: the verified times -------------------------------------------------------------

    def establish_times(
        self,
        entries: Sequence[_tlog.TlogEntry],
        binding: _rekor_body.Binding,
        *,
        needs: EntryProof,
        stamps: Sequence[bytes] = (),
        layer_stamp: bytes | None = None,
        layer_stamped: Sequence[bytes] = (),
    ) -> VerifiedTimes:
        """Every entry verified (`verify_log_entry`), the timestamps checked, and each log key
        valid at its entry's time (the integrated time, else the timestamps').

        `stamps` are a bundle's timestamps over the signature: one that does not verify is
        skipped and reported. `layer_stamp` is a cosign layer's one timestamp over one of
        `layer_stamped`: present, it must verify.
        """
        integrated = tuple(t for e in entries if (t := self.verify_log_entry(e, binding, needs=needs)) is not None)
        verified, rejected = _timestamps.verify_timestamps(list(stamps), binding.signature, self.trusted_root, self.now)
        if layer_stamp is not None:
            verified.append(
                _timestamps.verify_layer_timestamp(layer_stamp, layer_stamped, self.trusted_root, self.now)
            )
        self.check_log_keys(entries, verified)
        return VerifiedTimes(integrated, tuple(verified), tuple(rejected))

    def verify_log_entry(
        self, entry: _tlog.TlogEntry, binding: _rekor_body.Binding, *, needs: EntryProof
    ) -> datetime | None:
        """Check one log entry: first the log's own signatures over it (checkpoint, SET), then
        that its body names this signature; return its integrated time when a SET vouches for it."""
        key = _tlog.log_key_for(entry, self.trusted_root)
        proof = entry.proof
        if proof is not None and not proof.checkpoint:
            # The bundle format marks InclusionProof.checkpoint REQUIRED in every version: v0.1
            # may omit the proof, never half of it. An unsigned root proves nothing, and the
            # Sigstore clients (sigstore-python, sigstore-go) refuse the same bundles.
            raise VerificationError(
                "the tlog entry's inclusion proof has no checkpoint",
                expected="an inclusion proof with the log's signed checkpoint (required by the bundle format)",
                found="a proof without checkpoint",
                hint="re-fetch the entry with its checkpoint from the log (sigstore-python: `sigstore plumbing "
                "fix-bundle`), or drop the incomplete proof from a v0.1 bundle to rely on its SET",
            )
        if needs == "proof" and proof is None:
            raise VerificationError(
                "the tlog entry has no inclusion proof with a checkpoint",
                expected="an inclusion proof (required from bundle v0.2 on)",
                found="none",
                hint="re-fetch the entry with its inclusion proof from the log",
            )
        if needs == "set" and entry.set_signature is None:
            raise VerificationError(
                "a v0.1 bundle's tlog entry needs an inclusion promise (SET)",
                found="none",
                hint="re-fetch the entry from the log",
            )
        when = entry.integrated_at
        if needs == "set" and when is None:
            # A SET over no time vouches for nothing: counting the entry would count an
            # entry nothing checked.
            raise VerificationError("the Rekor entry has no integrated time", hint="re-fetch the entry from the log")
        if proof is not None:
            _tlog.verify_merkle_path(entry)
            _tlog.verify_checkpoint(proof, key)
        set_backed = entry.set_signature is not None and when is not None
        if set_backed:
            _tlog.verify_set(entry, key)
        _rekor_body.verify_body(entry, binding)
        if not set_backed or when is None:
            return None
        if _timestamps.in_future(when, self.now):
            raise VerificationError(
                "the tlog entry's integrated time is in the future",
                expected=f"before {self.now.isoformat()}",
                found=when.isoformat(),
                hint="the entry was forged or the clock is wrong",
            )
        return when

    def check_log_keys(self, entries: Sequence[_tlog.TlogEntry], fallback: Sequence[datetime]) -> None:
        """Each entry's log key was valid when the entry was logged: at its integrated time,
        or, for an entry without one, at every verified timestamp."""
        for entry in entries:
            key = self.trusted_root.tlog(entry.log_id)
            when_logged = entry.integrated_at
            for when in [when_logged] if when_logged is not None else fallback:
                if key is not None and not key.validity.contains(when):
                    raise VerificationError(
                        "the transparency log key was not valid when the entry was logged",
                        expected=f"a time within {key.validity}",
                        found=when.isoformat(),
                        hint="the trust root retired this log key before (or introduced it after) this entry",
                    )

    # -- 2: the keyless certificate -------------------------------------------------------

    def verify_certificate(
        self,
        leaf: x509.Certificate,
        times: Sequence[datetime],
        identity: Identity,
        *,
        intermediates: Sequence[x509.Certificate] = (),
    ) -> tuple[str, str]:
        """The certificate's (subject, issuer), once it chains to a Fulcio CA of the root at
        every one of `times`, carries a valid SCT, has the Fulcio profile and names `identity`."""
        # cryptography's x509 path validation loads with the first certificate: key-only
        # verification never pays for it.
        from slsacheck.signing import _certs  # noqa: PLC0415

        if not times:
            raise VerificationError("no time to check the certificate at", hint="a caller bug")
        chain: list[x509.Certificate] = []
        for when in times:
            chain = _certs.verify_chain(leaf, self.trusted_root, when, extra_intermediates=intermediates)
        _certs.verify_scts(leaf, chain[0], self.trusted_root)
        _certs.check_fulcio_profile(leaf)
        return identity.verify(leaf)
