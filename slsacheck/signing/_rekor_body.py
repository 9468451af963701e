"""Does a Rekor entry's body name THIS signature? The binding checks per entry kind.

An entry proves only what its body names; a body that names another signature,
another signer or another artifact proves nothing here (the CVE-2022-36056 family).
Kinds bound: hashedrekord 0.0.1 and 0.0.2 (also Rekor v2's DSSE-as-hashedrekord,
digest over the PAE), dsse 0.0.1 (payload hash and signature list; its envelope hash
covers uncanonicalised JSON and cannot be recomputed), dsse 0.0.2 (Rekor v2 as cosign 3
and sigstore-js log an envelope: payload hash and each signature with its verifier, raw
DER), intoto 0.0.1 (payload hash, the
signer, and the sha256 of the envelope JSON as uploaded, which is the only thing that
names the signature: it must be the `.att` layer's blob or Go's serialisation of the
envelope) and intoto 0.0.2 (payload hash, payload type and signatures, each
base64-encoded twice by Rekor).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from slsacheck._json import parse
from slsacheck.errors import VerificationError
from slsacheck.signing._tlog import TlogEntry, b64
from slsacheck.signing.trust import PublicKey

if TYPE_CHECKING:
    from cryptography import x509


@dataclass(frozen=True)
class Binding:
    """What a log entry body must name: the signature, who made it, and over what."""

    signature: bytes
    verifier: x509.Certificate | PublicKey
    signed_digests: Mapping[str, bytes]  # hashlib name -> digest of the signed bytes (message or DSSE PAE)
    signed_data: bytes | None = None  # the signed bytes themselves, when known
    payload_type: str | None = None  # DSSE only
    payload: bytes | None = None
    # DSSE only: the envelope's JSON as it may have been sent to the log (the `.att` layer's
    # blob, Go's serialisation of the bundle's envelope); intoto 0.0.1 names it by hash alone.
    envelopes: tuple[bytes, ...] = ()

    def digest(self, algorithm: str) -> bytes | None:
        """The signed bytes' digest in `algorithm`, when known or computable."""
        known = self.signed_digests.get(algorithm)
        if known is not None:
            return known
        if self.signed_data is not None and algorithm in ("sha256", "sha384", "sha512"):
            return hashlib.new(algorithm, self.signed_data).digest()
        return None


def _mismatch(what: str, expected: str = "", found: str = "") -> VerificationError:
    return VerificationError(
        f"transparency log entry does not match this signature: {what}",
        expected=expected or None,
        found=found or None,
        hint="the log entry belongs to another signature or artifact; it cannot vouch for this one",
    )


def _same_verifier(encoded: Any, verifier: x509.Certificate | PublicKey, *, pem_b64: bool) -> bool:
    """Does a body's verifier (base64 of PEM, or raw DER) name our certificate or key?"""
    # A key-signed entry is checked without x509 (a certificate in its body names another
    # signer, unparsed); x509 is loaded already wherever `verifier` is a certificate.
    if isinstance(verifier, PublicKey):
        return _same_key(encoded, verifier, pem_b64=pem_b64)
    from cryptography import x509  # noqa: PLC0415

    try:
        raw = base64.b64decode(encoded) if pem_b64 else encoded
        if pem_b64:
            if b"CERTIFICATE" in raw:
                theirs: Any = x509.load_pem_x509_certificate(raw)
            else:
                theirs = serialization.load_pem_public_key(raw)
        else:
            theirs = raw
    except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm):
        return False
    der = verifier.public_bytes(serialization.Encoding.DER)
    if isinstance(theirs, x509.Certificate):
        return theirs.public_bytes(serialization.Encoding.DER) == der
    return isinstance(theirs, bytes) and theirs == der


def _same_key(encoded: Any, key: PublicKey, *, pem_b64: bool) -> bool:
    """`_same_verifier` for a key: the body's verifier must be that key (PEM, or DER
    SubjectPublicKeyInfo); a certificate there is another signer's, never this key."""
    try:
        raw = base64.b64decode(encoded) if pem_b64 else encoded
        if not pem_b64:
            return isinstance(raw, bytes) and raw == _spki(key)
        if b"CERTIFICATE" in raw:
            return False
        theirs = serialization.load_pem_public_key(raw)
    except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm):
        return False
    return _spki(theirs) == _spki(key)


def _spki(key: Any) -> bytes:
    return bytes(key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def verify_body(entry: TlogEntry, binding: Binding) -> None:
    """The entry's body must name this signature, its verifier and its artifact/envelope."""
    try:
        body = parse(entry.body, strict=True)
        spec = body["spec"]
    except (ValueError, KeyError, TypeError) as exc:
        raise _mismatch("the body is not a Rekor entry") from exc
    if (body.get("kind"), body.get("apiVersion")) != (entry.kind, entry.version):
        raise _mismatch("kind/version", f"{entry.kind} {entry.version}", f"{body.get('kind')} {body.get('apiVersion')}")
    kv = (entry.kind, entry.version)
    try:
        if kv == ("hashedrekord", "0.0.1"):
            _hashedrekord_v1(spec, binding)
        elif kv == ("hashedrekord", "0.0.2"):
            _hashedrekord_v2(spec["hashedRekordV002"], binding)
        elif kv == ("dsse", "0.0.1"):
            _dsse_v1(spec, binding)
        elif kv == ("dsse", "0.0.2"):
            _dsse_v2(spec["dsseV002"], binding)
        elif kv == ("intoto", "0.0.1"):
            _intoto_v1(spec, binding)
        elif kv == ("intoto", "0.0.2"):
            _intoto_v2(spec["content"], binding)
        else:
            raise _mismatch(
                "unsupported entry kind", "hashedrekord 0.0.1/0.0.2, dsse 0.0.1/0.0.2, intoto 0.0.1/0.0.2", " ".join(kv)
            )
    except (KeyError, TypeError, AttributeError) as exc:
        raise _mismatch(f"the {kv[0]} body lacks a field ({exc})") from exc


def _hashedrekord_v1(spec: Mapping[str, Any], b: Binding) -> None:
    digest = spec["data"]["hash"]
    algorithm = digest.get("algorithm")
    want = b.digest(algorithm) if isinstance(algorithm, str) else None
    if want is None:
        raise _mismatch("digest algorithm", f"one of {', '.join(b.signed_digests) or 'sha256'} "
                        "(or sha384/sha512 with the artifact bytes)", str(algorithm))
    if digest.get("value") != want.hex():
        raise _mismatch("artifact digest", f"{algorithm}:{want.hex()}", f"{algorithm}:{digest.get('value')}")
    if b64(spec["signature"]["content"], "entry signature") != b.signature:
        raise _mismatch("signature bytes differ")
    if not _same_verifier(spec["signature"]["publicKey"]["content"], b.verifier, pem_b64=True):
        raise _mismatch("the entry names another certificate or public key")


def _hashedrekord_v2(spec: Mapping[str, Any], b: Binding) -> None:
    data = spec["data"]
    algorithm = data.get("algorithm")
    names = {"SHA2_256": "sha256", "SHA2_384": "sha384", "SHA2_512": "sha512"}
    want = b.digest(names[algorithm]) if algorithm in names else None
    if want is None:
        raise _mismatch("digest algorithm", "SHA2_256 (or SHA2_384/512 with the artifact bytes)", str(algorithm))
    if b64(data["digest"], "entry digest") != want:
        raise _mismatch("artifact digest", want.hex(), b64(data["digest"], "entry digest").hex())
    sig = spec["signature"]
    if b64(sig["content"], "entry signature") != b.signature:
        raise _mismatch("signature bytes differ")
    if not _v2_verifier_is(sig["verifier"], b.verifier):
        raise _mismatch("the entry names another certificate or public key")


def _v2_verifier_is(verifier: Mapping[str, Any], ours: x509.Certificate | PublicKey) -> bool:
    """A Rekor v2 verifier (a DER certificate or SubjectPublicKeyInfo) names `ours`."""
    raw = verifier.get("x509Certificate", verifier.get("publicKey", {})).get("rawBytes")
    return _same_verifier(b64(raw, "entry verifier"), ours, pem_b64=False)


def _payload_hash(spec_hash: Mapping[str, Any], b: Binding) -> None:
    if b.payload is None:
        raise _mismatch("a DSSE entry cannot log a message signature", "hashedrekord", "dsse/intoto")
    want = hashlib.sha256(b.payload).hexdigest()
    if spec_hash.get("algorithm") != "sha256" or spec_hash.get("value") != want:
        raise _mismatch("DSSE payload hash", f"sha256:{want}", f"{spec_hash.get('algorithm')}:{spec_hash.get('value')}")


def _dsse_v1(spec: Mapping[str, Any], b: Binding) -> None:
    _payload_hash(spec["payloadHash"], b)
    sigs = spec["signatures"]
    if not any(
        b64(s["signature"], "entry signature") == b.signature
        and _same_verifier(s["verifier"], b.verifier, pem_b64=True)
        for s in sigs
    ):
        raise _mismatch("the entry does not list this envelope's signature by this signer")


def _dsse_v2(spec: Mapping[str, Any], b: Binding) -> None:
    if b.payload is None:
        raise _mismatch("a DSSE entry cannot log a message signature", "hashedrekord", "dsse")
    payload_hash = spec["payloadHash"]
    want = hashlib.sha256(b.payload).digest()
    if payload_hash.get("algorithm") != "SHA2_256" or b64(payload_hash.get("digest"), "entry payload hash") != want:
        found = f"{payload_hash.get('algorithm')}:{payload_hash.get('digest')}"
        raise _mismatch("DSSE payload hash", f"SHA2_256:{want.hex()}", found)
    if not any(
        b64(s["content"], "entry signature") == b.signature and _v2_verifier_is(s["verifier"], b.verifier)
        for s in spec["signatures"]
    ):
        raise _mismatch("the entry does not list this envelope's signature by this signer")


def _intoto_v1(spec: Mapping[str, Any], b: Binding) -> None:
    """intoto 0.0.1 keeps no signature, only the sha256 of the envelope JSON as it was
    uploaded: that hash is what binds this signature (and the payload, which the envelope
    holds), so it must be the hash of this envelope's bytes. Where those bytes are not
    known (a bundle re-encodes the envelope), only Go's serialisation, the one cosign
    uploads, is tried; anything else is refused."""
    content = spec["content"]
    if "payloadHash" in content:  # entries logged before Rekor recorded it carry the envelope hash alone
        _payload_hash(content["payloadHash"], b)
    elif b.payload is None:
        raise _mismatch("an intoto entry cannot log a message signature", "hashedrekord", "intoto")
    if not _same_verifier(spec["publicKey"], b.verifier, pem_b64=True):
        raise _mismatch("the entry names another certificate or public key")
    envelope_hash = content["hash"]
    value = envelope_hash.get("value")
    if envelope_hash.get("algorithm") != "sha256" or not isinstance(value, str):
        raise _mismatch("envelope hash algorithm", "sha256", str(envelope_hash.get("algorithm")))
    if not any(hashlib.sha256(blob).hexdigest() == value for blob in b.envelopes):
        raise _mismatch(
            "the intoto 0.0.1 entry logs another envelope (its hash is not this envelope's)",
            " or ".join(f"sha256:{hashlib.sha256(blob).hexdigest()}" for blob in b.envelopes) or "an envelope",
            f"sha256:{value}",
        )


def _intoto_v2(content: Mapping[str, Any], b: Binding) -> None:
    _payload_hash(content["payloadHash"], b)
    envelope = content["envelope"]
    if envelope.get("payloadType") != b.payload_type:
        raise _mismatch("payload type", str(b.payload_type), str(envelope.get("payloadType")))
    if not any(
        _double_b64(s["sig"]) == b.signature and _same_verifier(s["publicKey"], b.verifier, pem_b64=True)
        for s in envelope["signatures"]
    ):
        raise _mismatch("the entry does not list this envelope's signature by this signer")


def _double_b64(value: Any) -> bytes | None:
    """intoto 0.0.2 stores each signature base64-encoded twice; None when it is not."""
    try:
        return base64.b64decode(base64.b64decode(value, validate=True), validate=True)
    except (binascii.Error, ValueError, TypeError):
        return None
