"""RFC 3161 timestamps of a Sigstore bundle: which verify, and why the others were skipped."""

from __future__ import annotations

from datetime import datetime

from slsacheck.errors import VerificationError
from slsacheck.signing import _bundle_doc, _certs
from slsacheck.signing._tlog import CLOCK_SKEW
from slsacheck.signing.trust import TrustedRoot

# sigstore-python's and sigstore-go's bound: more timestamps than this is an attack, not a need.
MAX_TIMESTAMPS = 32


def verify_timestamps(
    stamps: list[bytes], signature: bytes, root: TrustedRoot | None, now: datetime
) -> tuple[list[datetime], list[str]]:
    """The times of the timestamps that verify, and why each other one was skipped.

    As the Sigstore clients do, a well-formed timestamp that does not verify (another
    signature's, an unknown TSA's) is skipped, not fatal (one that does not parse is a
    corrupt bundle): only verified times count towards the
    certificate's validity and the need for a trusted time. More than `MAX_TIMESTAMPS`, or
    the same timestamp twice, is refused outright: that is a bundle built to make us work
    or to count one time twice.
    """
    if not stamps or root is None:
        return [], []
    if len(stamps) > MAX_TIMESTAMPS:
        raise VerificationError(
            "the bundle carries too many RFC 3161 timestamps",
            expected=f"at most {MAX_TIMESTAMPS}",
            found=str(len(stamps)),
            hint="a signature needs one timestamp per TSA at most; the bundle was padded",
        )
    if len(set(stamps)) != len(stamps):
        raise VerificationError(
            "the bundle carries duplicate RFC 3161 timestamps",
            expected="each timestamp once",
            found=f"{len(stamps)} timestamps, {len(set(stamps))} distinct",
            hint="a timestamp counted twice is still one trusted time; the bundle was altered",
        )
    times: list[datetime] = []
    rejected: list[str] = []
    from rfc3161_client import decode_timestamp_response  # noqa: PLC0415  # only bundles with timestamps

    for index, stamp in enumerate(stamps):
        try:
            decode_timestamp_response(stamp)
        except ValueError as exc:  # not a timestamp at all: the bundle is corrupt, not merely unverified
            raise _bundle_doc.bad(f"RFC 3161 timestamp {index} does not parse", found=str(exc)[:200]) from exc
        try:
            when = _certs.verify_timestamp(stamp, signature, root)
        except VerificationError as exc:
            rejected.append(f"timestamp {index}: {exc}")
            continue
        if when > now + CLOCK_SKEW:
            rejected.append(f"timestamp {index}: dated in the future ({when.isoformat()})")
            continue
        times.append(when)
    return times, rejected
