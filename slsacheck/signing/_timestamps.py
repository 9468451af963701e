"""RFC 3161 timestamps: a Sigstore bundle's (which verify, and why the others were skipped)
and a cosign layer's one timestamp annotation (which must verify)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from slsacheck.errors import VerificationError
from slsacheck.signing import _bundle_doc
from slsacheck.signing._tlog import CLOCK_SKEW
from slsacheck.signing.trust import TrustedRoot

# sigstore-python's and sigstore-go's bound: more timestamps than this is an attack, not a need.
MAX_TIMESTAMPS = 32

_IMPRINT_HASHES = {
    "2.16.840.1.101.3.4.2.1": hashlib.sha256,
    "2.16.840.1.101.3.4.2.2": hashlib.sha384,
    "2.16.840.1.101.3.4.2.3": hashlib.sha512,
}


def in_future(when: datetime, now: datetime) -> bool:
    """Later than `now` by more than the clock skew the Sigstore clients allow."""
    return when > now + CLOCK_SKEW


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

    from slsacheck.signing import _certs  # noqa: PLC0415 - x509 loads only with a timestamp

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
        if in_future(when, now):
            rejected.append(f"timestamp {index}: dated in the future ({when.isoformat()})")
            continue
        times.append(when)
    return times, rejected


def verify_layer_timestamp(der: bytes, candidates: Sequence[bytes], root: TrustedRoot, now: datetime) -> datetime:
    """The genTime of a cosign layer's RFC 3161 timestamp, once it verifies over one of
    `candidates` (the bytes cosign may have stamped); any fault refuses the layer."""
    from rfc3161_client import decode_timestamp_response  # noqa: PLC0415  # only layers with timestamps

    from slsacheck.signing import _certs  # noqa: PLC0415 - x509 loads only with a timestamp

    what = "the dev.sigstore.cosign/rfc3161timestamp annotation"
    try:
        imprint = decode_timestamp_response(der).tst_info.message_imprint
    except ValueError as exc:
        raise VerificationError(
            f"{what} is not an RFC 3161 timestamp response", found=str(exc)[:200],
            hint="the timestamp was altered or is not DER",
        ) from exc
    hasher = _IMPRINT_HASHES.get(imprint.hash_algorithm.dotted_string)
    if hasher is None:
        raise VerificationError(
            f"{what} uses an unsupported hash", expected="SHA-256, SHA-384 or SHA-512",
            found=imprint.hash_algorithm.dotted_string,
        )
    covered = next((data for data in candidates if hasher(data).digest() == imprint.message), None)
    if covered is None:
        raise VerificationError(
            f"{what} covers other bytes than this signature",
            expected="a message imprint of " + " or ".join(hasher(d).hexdigest() for d in candidates),
            found=imprint.message.hex(),
            hint="the timestamp was copied from another signature",
        )
    try:
        stamped_at = _certs.verify_timestamp(der, covered, root)
    except VerificationError as exc:
        raise VerificationError(
            f"{what}: {exc.message}", expected=exc.expected, found=exc.found, hint=exc.hint
        ) from exc
    if in_future(stamped_at, now):
        raise VerificationError(
            f"{what} is dated in the future", expected=f"before {now.isoformat()}",
            found=stamped_at.isoformat(), hint="the timestamp was forged or the clock is wrong",
        )
    return stamped_at
