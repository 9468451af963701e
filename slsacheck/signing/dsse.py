"""DSSE envelopes (Dead Simple Signing Envelope v1): PAE, parse, serialise, verify.

A signature covers PAE(payloadType, payload) = "DSSEv1" SP len(type) SP type SP
len(payload) SP payload, lengths in bytes as ASCII decimal, so changing the payload
type invalidates every signature. The JSON form is what cosign writes:

    {"payloadType":"...","payload":"<b64>","signatures":[{"keyid":"","sig":"<b64>"}]}

Parsing is strict: the three fields with their JSON types, base64 standard or URL-safe,
no duplicate keys. Verification passes only if at least one signature verifies with
the given verifier (and, when asked, carries the given keyid); an envelope with no
signatures never verifies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from slsacheck._json import without_lone_surrogates
from slsacheck.errors import InputError, VerificationError
from slsacheck.signing._encoding import b64decode, b64encode, go_json, strict_json
from slsacheck.signing.verify_sig import SignatureVerifier

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


class MalformedEnvelope(InputError):
    """A DSSE envelope that does not parse."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSEv1 Pre-Authentication Encoding of (payload_type, payload)."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


class Signature(NamedTuple):
    """One DSSE signature: a plain (keyid, sig) pair."""

    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | bytes | str, *, where: str = "the DSSE envelope") -> Envelope:
        # Lone surrogates read as Go reads them: the payloadType goes into the PAE as UTF-8.
        obj = (without_lone_surrogates(strict_json(data, where=where, error=MalformedEnvelope))
               if isinstance(data, bytes | str) else data)
        if not isinstance(obj, Mapping):
            raise MalformedEnvelope(f"{where} is not a JSON object", expected="an object",
                                    found=type(obj).__name__)
        payload_type = obj.get("payloadType")
        if not isinstance(payload_type, str):
            raise MalformedEnvelope(f"{where} has no payloadType string", expected='"payloadType": "<media type>"',
                                    found=_kind(payload_type))
        payload = b64decode(obj.get("payload"), what=f"the payload of {where}", error=MalformedEnvelope)
        raw_sigs = obj.get("signatures")
        if not isinstance(raw_sigs, list):
            raise MalformedEnvelope(f"{where} has no signatures list", expected='"signatures": [...]',
                                    found=_kind(raw_sigs))
        sigs = []
        for i, item in enumerate(raw_sigs):
            here = f"signature {i} of {where}"
            if not isinstance(item, Mapping):
                raise MalformedEnvelope(f"{here} is not an object", found=_kind(item))
            keyid = item.get("keyid", "")
            if not isinstance(keyid, str):
                raise MalformedEnvelope(f"{here} has a non-string keyid", found=_kind(keyid))
            sig = b64decode(item.get("sig"), what=f"the sig of {here}", error=MalformedEnvelope)
            sigs.append(Signature(keyid, sig))
        return cls(payload_type, payload, tuple(sigs))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object, fields in the order cosign writes them."""
        return {
            "payloadType": self.payload_type,
            "payload": b64encode(self.payload),
            "signatures": [{"keyid": k, "sig": b64encode(s)} for k, s in self.signatures],
        }

    def to_json(self) -> bytes:
        """The bytes cosign writes for this envelope (Go `json.Marshal`, compact)."""
        return go_json(self.to_dict())

    def pae(self) -> bytes:
        return pae(self.payload_type, self.payload)


def _kind(value: object) -> str:
    return "nothing" if value is None else f"a JSON {type(value).__name__}"


def verify_envelope(
    envelope: Envelope,
    verifier: SignatureVerifier,
    *,
    expected_payload_type: str | None = None,
    keyid: str | None = None,
) -> bytes:
    """The payload, once at least one signature over its PAE verifies.

    `keyid`, when given, restricts the signatures considered to those carrying exactly
    that keyid (an empty string means an empty keyid).
    """
    if expected_payload_type is not None and envelope.payload_type != expected_payload_type:
        raise VerificationError(
            "DSSE payloadType is not the expected one",
            expected=expected_payload_type,
            found=envelope.payload_type,
            hint="the envelope carries another kind of payload; it is not the evidence asked for",
        )
    if not envelope.signatures:
        raise VerificationError("DSSE envelope has no signatures", expected="at least one signature", found="none")
    candidates = [Signature(k, s) for k, s in envelope.signatures if keyid is None or k == keyid]
    if not candidates:
        raise VerificationError(
            "no DSSE signature carries the required keyid",
            expected=repr(keyid),
            found=", ".join(repr(k) for k, _ in envelope.signatures),
            hint="check the key id configured for this verification",
        )
    message = envelope.pae()
    reasons = []
    for sig in candidates:
        try:
            verifier.verify(sig.sig, message)
            return envelope.payload
        except VerificationError as exc:
            reasons.append(f"keyid {sig.keyid!r}: {exc.message}")
    raise VerificationError(
        f"no DSSE signature verifies with {verifier.description}",
        expected=f"a signature over PAE(payloadType, payload) by {verifier.description}",
        found=f"{len(candidates)} signature(s) that do not: " + "; ".join(reasons),
        hint="the payload or payloadType changed after signing, or another key signed it",
    )
