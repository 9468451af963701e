"""Which key signed a candidate that none of a key authority's keys verifies, as its evidence names it.

"The ECDSA signature does not verify" is true and useless to someone whose image was signed
with the wrong key: they need to hear whose key it was. Evidence often names the signer's
key without being trusted for it: a Rekor entry (`hashedrekord`, `intoto`, `dsse` bodies in
a layer's `dev.sigstore.cosign/bundle` annotation or a bundle's `tlogEntries`) carries the
public key or certificate, a cosign layer its certificate, a key-signed bundle a
`publicKey.hint`. A key read from the evidence is named as the signer only when the
signature verifies with it ("signed by key sha256:..."); a hint cannot be checked and is
reported as what the bundle says. Where no named key verifies it, the signature is by
another key OR over bytes changed since, and the reason says both. Nothing here makes a
candidate count: it only words the refusal.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from slsacheck._json import parse
from slsacheck.attach.candidates import BundleReferrer, Candidate
from slsacheck.errors import Error
from slsacheck.signing.keys import VerifyingKey, fingerprint, load_public_key

# Only a plain mismatch is re-worded; a malformed signature or payload keeps its own reason.
MISMATCH = "signature does not verify"
_DSSE_NONE = "no DSSE signature verifies with"
# Keys read from one candidate's evidence and tried: an attacker's entry may list thousands;
# cosign logs one, and a multi-signature DSSE entry a handful.
MAX_NAMED_KEYS = 8
_SHOWN = 16  # hex digits of a fingerprint in messages, as `SignerInfo.describe` shows them


def short(fp: str) -> str:
    return f"sha256:{fp[:_SHOWN]}"


def _b64(text: object) -> bytes | None:
    if not isinstance(text, str):
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _items(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _key_from_pem(pem: bytes) -> VerifyingKey | None:
    """A public key, or the key a certificate certifies (Rekor stores either)."""
    if b"CERTIFICATE" in pem:
        from cryptography import x509  # noqa: PLC0415 - x509 code loads only for certificates

        try:
            public = x509.load_pem_x509_certificate(pem).public_key()
        except ValueError:
            return None
        from slsacheck.signing.keys import check_key  # noqa: PLC0415

        try:
            key = check_key(public, where="the certificate's key")
        except Error:
            return None
        return key  # type: ignore[return-value]
    try:
        return load_public_key(pem, where="the key named by the evidence")
    except Error:
        return None


def _rekor_body_keys(body: object) -> Iterator[bytes]:
    """PEM keys or certificates in a Rekor entry body (base64 JSON), of the kinds cosign logs."""
    raw = _b64(body)
    if raw is None:
        return
    try:
        entry = parse(raw)
    except ValueError:
        return
    spec = entry.get("spec") if isinstance(entry, Mapping) else None
    if not isinstance(spec, Mapping):
        return
    found: list[object] = []
    signature = spec.get("signature")
    if isinstance(signature, Mapping) and isinstance(signature.get("publicKey"), Mapping):
        found.append(signature["publicKey"].get("content"))  # hashedrekord
    found.append(spec.get("publicKey"))  # intoto v0.0.1
    content = spec.get("content")
    envelope = content.get("envelope") if isinstance(content, Mapping) else None
    for sig in _items(envelope.get("signatures") if isinstance(envelope, Mapping) else None):
        if isinstance(sig, Mapping):
            found.append(sig.get("publicKey"))  # intoto v0.0.2
    for sig in _items(spec.get("signatures")):
        if isinstance(sig, Mapping):
            found.append(sig.get("verifier"))  # dsse
    for item in found:
        pem = _b64(item)
        if pem:
            yield pem


def _pems(candidate: Candidate) -> Iterator[tuple[bytes, str]]:
    """(PEM, where) for every key or certificate the candidate's evidence carries."""
    if isinstance(candidate, BundleReferrer):
        material = candidate.bundle.get("verificationMaterial")
        material = material if isinstance(material, Mapping) else {}
        for entry in _items(material.get("tlogEntries")):
            if isinstance(entry, Mapping):
                for pem in _rekor_body_keys(entry.get("canonicalizedBody")):
                    yield pem, "the bundle's transparency-log entry"
        return
    if candidate.material.certificate:
        yield candidate.material.certificate, "the layer's certificate"
    bundle = candidate.material.rekor_bundle
    payload = bundle.get("Payload") if isinstance(bundle, Mapping) else None
    if isinstance(payload, Mapping):
        for pem in _rekor_body_keys(payload.get("body")):
            yield pem, "the layer's Rekor entry"


def _hint(candidate: Candidate) -> str | None:
    """A key-signed bundle's `publicKey.hint` as a fingerprint (hex, or cosign's base64 of the sha256)."""
    if not isinstance(candidate, BundleReferrer):
        return None
    material = candidate.bundle.get("verificationMaterial")
    public = material.get("publicKey") if isinstance(material, Mapping) else None
    hint = public.get("hint") if isinstance(public, Mapping) else None
    if not isinstance(hint, str) or not hint:
        return None
    if len(hint) == 64 and all(c in "0123456789abcdef" for c in hint):
        return hint
    raw = _b64(hint)
    return raw.hex() if raw is not None and len(raw) == hashlib.sha256().digest_size else None


# The authority `verify --key` builds from its flags: named as the flag, not as a policy entry.
COMMAND_LINE = "command-line"


def _not_a_key_of(authority: str, theirs: str) -> str:
    if authority == COMMAND_LINE:
        return f"not a key given with --key ({theirs})"
    return f"not a key of authority {authority} (its keys: {theirs})"


def _not_one_of(authority: str, theirs: str) -> str:
    if authority == COMMAND_LINE:
        return f"not one of the keys given with --key ({theirs})"
    return f"not one of authority {authority}'s keys ({theirs})"


def foreign_key_reason(
    candidate: Candidate, authority: str, authority_fps: Sequence[str], verifies: Callable[[VerifyingKey], object],
) -> str:
    """The refusal of `candidate` by key authority `authority`, none of whose keys verified it:
    the signer's key as the evidence names it (checked with `verifies` where it carries the key)."""
    theirs = ", ".join(short(fp) for fp in authority_fps)
    named: list[str] = []
    for tried, (pem, where) in enumerate(_pems(candidate)):
        if tried == MAX_NAMED_KEYS:
            break
        key = _key_from_pem(pem)
        if key is None:
            continue
        fp = fingerprint(key)
        if fp in authority_fps or fp in named:
            continue
        if verifies(key):
            return f"signed by key {short(fp)} (named by {where}), {_not_a_key_of(authority, theirs)}"
        named.append(fp)
    hint = _hint(candidate)
    if hint is not None and hint not in authority_fps:
        return f"signed by key {short(hint)} (as the bundle's publicKey hint says), {_not_a_key_of(authority, theirs)}"
    # A mismatch is another key or bytes changed after signing: without a key that verifies, both remain.
    also = (f"; {', '.join(short(fp) for fp in named)} named by the evidence does not verify it either"
            if named else "; the evidence does not name the key")
    return f"signed by a key that is {_not_one_of(authority, theirs)}, or changed after signing{also}"


def _mismatch(error: Error) -> bool:
    if MISMATCH in error.message:
        return True
    # A DSSE envelope's signatures, each tried in turn: all of them plainly did not match.
    found = error.found or ""
    return error.message.startswith(_DSSE_NONE) and MISMATCH in found and "malformed" not in found


def mismatch_only(errors: Sequence[Error]) -> bool:
    """Every key refused the signature as not matching (rather than as malformed or for another reason)."""
    return bool(errors) and all(_mismatch(e) for e in errors)
