"""Rekor transparency-log entries: inclusion promise (SET), inclusion proof with its
signed checkpoint, and the binding of the entry's body to the signature at hand.

Written with `cryptography` alone because sigstore-python's log-entry checks are tied
to its `Bundle` type, which requires a certificate (so cannot serve key-based bundles
or cosign's `.sig`/`.att` annotations) and does not bind `intoto` 0.0.2 entries.

Invariants:
- the log key is the one whose declared log id equals the entry's; an unknown log
  id is a failure, never "try every key";
- an entry counts only when its body names THIS signature and this artifact or
  envelope (the CVE-2022-36056 family), and when a SET or an inclusion proof whose
  checkpoint is signed by the same log verifies;
- every failure is a `VerificationError` that says which of these failed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from slsacheck.errors import VerificationError
from slsacheck.signing.trust import LogKey, PublicKey, TrustedRoot

# A log's clock and ours may differ a little; more than this in the future is a forgery.
CLOCK_SKEW = timedelta(minutes=5)
_HINT = "the transparency-log entry does not prove this signature was logged; re-fetch it from the log or re-sign"


@dataclass(frozen=True)
class InclusionProof:
    log_index: int
    tree_size: int
    root_hash: bytes
    hashes: tuple[bytes, ...]
    checkpoint: str


@dataclass(frozen=True)
class TlogEntry:
    log_index: int
    log_id: bytes
    kind: str
    version: str
    body: bytes
    integrated_time: int | None
    set_signature: bytes | None
    proof: InclusionProof | None

    @property
    def integrated_at(self) -> datetime | None:
        if not self.integrated_time:
            return None
        try:
            return datetime.fromtimestamp(self.integrated_time, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise VerificationError(
                "the tlog entry's integrated time is out of range", found=str(self.integrated_time), hint=_HINT
            ) from exc


@dataclass(frozen=True)
class Binding:
    """What a log entry body must name: the signature, who made it, and over what."""

    signature: bytes
    verifier: x509.Certificate | PublicKey
    signed_sha256: bytes  # sha256 of the signed bytes: the message, or the DSSE PAE
    signed_data: bytes | None = None  # the signed bytes themselves, when known
    payload_type: str | None = None  # DSSE only
    payload: bytes | None = None


def b64(value: Any, what: str) -> bytes:
    """Strict base64 (standard alphabet, or URL-safe as protobuf JSON allows)."""
    if not isinstance(value, str):
        raise VerificationError(f"{what} is not base64 text", found=type(value).__name__)
    # Line breaks are allowed (Go's decoder, which wrote most bundles, skips them); nothing else is.
    value = value.replace("\r", "").replace("\n", "")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        try:
            return base64.b64decode(value, altchars=b"-_", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise VerificationError(
                f"{what} is not valid base64", found=value[:60], hint="the bundle is corrupt or was truncated"
            ) from exc


def _int(value: Any, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise VerificationError(f"{what} is not an integer", found=repr(value)[:40]) from exc
    if number < 0:
        raise VerificationError(f"{what} is negative", expected=">= 0", found=str(number), hint=_HINT)
    return number


def obj(doc: Mapping[str, Any], key: str, what: str) -> Mapping[str, Any]:
    """An optional JSON object field: absent (or null) is empty, anything but an object is malformed."""
    value = doc.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise VerificationError(
            f"{what}.{key} is not a JSON object", found=type(value).__name__, hint="the bundle is malformed"
        )
    return value


def entry_from_bundle(doc: Mapping[str, Any]) -> TlogEntry:
    """Parse one `tlogEntries[]` object of a Sigstore bundle (protobuf JSON)."""
    if not isinstance(doc, Mapping):
        raise VerificationError("a tlog entry is not a JSON object", hint="the bundle is malformed")
    kv = obj(doc, "kindVersion", "tlog entry")
    promise = obj(doc, "inclusionPromise", "tlog entry")
    raw_proof = obj(doc, "inclusionProof", "tlog entry")
    proof = None
    if raw_proof:
        checkpoint = obj(raw_proof, "checkpoint", "inclusion proof").get("envelope", "")
        if not isinstance(checkpoint, str):
            raise VerificationError("the checkpoint envelope is not text", hint="the bundle is malformed")
        hashes = raw_proof.get("hashes") or []
        if not isinstance(hashes, list):
            raise VerificationError("the inclusion proof hashes are not a list", hint="the bundle is malformed")
        proof = InclusionProof(
            # protobuf JSON omits fields at their default, so an absent number means 0
            log_index=_int(raw_proof.get("logIndex", 0), "inclusion proof log index"),
            tree_size=_int(raw_proof.get("treeSize", 0), "inclusion proof tree size"),
            root_hash=b64(raw_proof.get("rootHash"), "inclusion proof root hash"),
            hashes=tuple(b64(h, "inclusion proof hash") for h in hashes),
            checkpoint=checkpoint,
        )
    integrated = doc.get("integratedTime")
    return TlogEntry(
        log_index=_int(doc.get("logIndex", 0), "tlog entry log index"),
        log_id=b64(obj(doc, "logId", "tlog entry").get("keyId"), "tlog entry log id"),
        kind=str(kv.get("kind", "")),
        version=str(kv.get("version", "")),
        body=b64(doc.get("canonicalizedBody"), "tlog entry body"),
        integrated_time=(_int(integrated, "integrated time") or None) if integrated is not None else None,
        set_signature=b64(promise.get("signedEntryTimestamp"), "SET")
        if doc.get("inclusionPromise") is not None
        else None,
        proof=proof,
    )


def entry_from_cosign_bundle(doc: Mapping[str, Any]) -> TlogEntry:
    """Parse cosign's `dev.sigstore.cosign/bundle` annotation (SET + Payload)."""
    payload = doc.get("Payload")
    if not isinstance(payload, Mapping):
        raise VerificationError("cosign bundle annotation has no Payload object", hint=_HINT)
    body = b64(payload.get("body"), "cosign bundle Payload.body")
    try:
        kind_doc = json.loads(body)
        kind, version = str(kind_doc["kind"]), str(kind_doc["apiVersion"])
    except (ValueError, KeyError, TypeError) as exc:
        raise VerificationError("Rekor entry body is not a Rekor entry JSON", hint=_HINT) from exc
    log_id = payload.get("logID")
    try:
        log_id_bytes = bytes.fromhex(log_id) if isinstance(log_id, str) else b""
    except ValueError as exc:
        raise VerificationError("cosign bundle Payload.logID is not hex", found=str(log_id)[:70]) from exc
    return TlogEntry(
        log_index=_int(payload.get("logIndex"), "cosign bundle Payload.logIndex"),
        log_id=log_id_bytes,
        kind=kind,
        version=version,
        body=body,
        integrated_time=_int(payload.get("integratedTime"), "cosign bundle Payload.integratedTime"),
        set_signature=b64(doc.get("SignedEntryTimestamp"), "cosign bundle SignedEntryTimestamp"),
        proof=None,
    )


# -- proofs of logging ---------------------------------------------------------------


def log_key_for(entry: TlogEntry, root: TrustedRoot) -> LogKey:
    key = root.tlog(entry.log_id)
    if key is None:
        raise VerificationError(
            "transparency log entry is from a log the trust root does not know",
            expected="one of " + ", ".join(base64.b64encode(t.log_id).decode() for t in root.tlogs),
            found=base64.b64encode(entry.log_id).decode(),
            hint=f"the entry was logged by another Sigstore instance (staging? private?); pass its trust root "
            f"(using {root.source})",
        )
    return key


def set_payload(entry: TlogEntry) -> bytes:
    """Canonical JSON of `{body, integratedTime, logID, logIndex}`: what Rekor's SET signs."""
    doc = {
        "body": base64.b64encode(entry.body).decode(),
        "integratedTime": entry.integrated_time or 0,
        "logID": entry.log_id.hex(),
        "logIndex": entry.log_index,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def verify_set(entry: TlogEntry, key: LogKey) -> None:
    if entry.set_signature is None or entry.integrated_time is None:
        raise VerificationError("no signed entry timestamp (SET) to verify", hint=_HINT)
    if not key.verify(entry.set_signature, set_payload(entry)):
        raise VerificationError(
            "signed entry timestamp (SET) does not verify with the log key",
            expected=f"a SET by log {base64.b64encode(key.log_id).decode()} over this entry",
            found=f"a signature that fails for logIndex {entry.log_index}, integratedTime {entry.integrated_time}",
            hint="the entry or its SET was altered; re-fetch the entry from the log",
        )


def _leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _root_from_proof(index: int, size: int, leaf: bytes, proof: tuple[bytes, ...]) -> bytes:
    """RFC 6962 / RFC 9162 section 2.1.3.2 inclusion-proof root computation."""
    if index >= size:
        raise VerificationError("inclusion proof index is outside the tree", found=f"index {index}, size {size}")
    fn, sn, node = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            raise VerificationError("inclusion proof has too many hashes", hint=_HINT)
        if fn & 1 or fn == sn:
            node = _node_hash(sibling, node)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            node = _node_hash(node, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("inclusion proof has too few hashes", hint=_HINT)
    return node


def verify_inclusion(entry: TlogEntry, key: LogKey) -> None:
    """The Merkle path leads to the proof's root, and the log signed that root in a checkpoint."""
    verify_merkle_path(entry)
    assert entry.proof is not None
    verify_checkpoint(entry.proof, key)


def verify_merkle_path(entry: TlogEntry) -> None:
    proof = entry.proof
    if proof is None:
        raise VerificationError("no inclusion proof to verify", hint=_HINT)
    # Rekor v1 proofs index the entry within its shard while logIndex is global, so the two may differ.
    root = _root_from_proof(proof.log_index, proof.tree_size, _leaf_hash(entry.body), proof.hashes)
    if root != proof.root_hash:
        raise VerificationError(
            "inclusion proof does not lead to its root hash",
            expected=proof.root_hash.hex(),
            found=root.hex(),
            hint=_HINT,
        )


def verify_checkpoint(proof: InclusionProof, key: LogKey) -> None:
    """A signed note `origin\\nsize\\nroot\\n[extra]\\n\\n— name b64(hint4||sig)\\n...`."""
    text = proof.checkpoint
    if not text:
        raise VerificationError("inclusion proof has no checkpoint", hint=_HINT)
    if text.count("\n\n") != 1:
        raise VerificationError("checkpoint is malformed: needs exactly one blank line before its signatures")
    split = text.index("\n\n")
    note, sigblock = text[: split + 1], text[split + 2 :]
    lines = note.split("\n")[:-1]
    if len(lines) < 3 or not lines[0]:
        raise VerificationError("checkpoint is malformed: needs origin, size and root hash lines", found=note[:120])
    try:
        size = int(lines[1])
        root = base64.b64decode(lines[2], validate=True)
    except (ValueError, binascii.Error) as exc:
        raise VerificationError("checkpoint is malformed: bad size or root hash", found=note[:120]) from exc
    hint = key.log_id[:4]
    verified = False
    if not sigblock.endswith("\n"):
        raise VerificationError("checkpoint is malformed: signature block must end with a newline")
    for line in sigblock[:-1].split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014":
            raise VerificationError("checkpoint is malformed: bad signature line", found=line[:80])
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except (ValueError, binascii.Error) as exc:
            raise VerificationError("checkpoint signature is not base64", found=line[:80]) from exc
        if len(raw) < 5 or raw[:4] != hint:
            continue  # another key's signature (a witness cosignature): not ours to judge
        if not key.verify(raw[4:], note.encode()):
            raise VerificationError(
                "checkpoint signature does not verify with the log key",
                expected=f"a signature by {parts[1]} with log key {base64.b64encode(key.log_id).decode()}",
                found="an invalid signature",
                hint=_HINT,
            )
        verified = True
    if not verified:
        raise VerificationError(
            "checkpoint is not signed by the log that holds the entry",
            expected=f"a signature with key hint {hint.hex()}",
            found="none",
            hint=_HINT,
        )
    if root != proof.root_hash or size != proof.tree_size:
        raise VerificationError(
            "checkpoint does not commit to the inclusion proof's tree",
            expected=f"size {proof.tree_size}, root {proof.root_hash.hex()}",
            found=f"size {size}, root {root.hex()}",
            hint=_HINT,
        )


# -- body binding --------------------------------------------------------------------


def _mismatch(what: str, expected: str = "", found: str = "") -> VerificationError:
    return VerificationError(
        f"transparency log entry does not match this signature: {what}",
        expected=expected or None,
        found=found or None,
        hint="the log entry belongs to another signature or artifact; it cannot vouch for this one",
    )


def _same_verifier(encoded: Any, verifier: x509.Certificate | PublicKey, *, pem_b64: bool) -> bool:
    """Does a body's verifier (base64 of PEM, or raw DER) name our certificate or key?"""
    try:
        raw = base64.b64decode(encoded) if pem_b64 else encoded
        if pem_b64:
            if b"CERTIFICATE" in raw:
                theirs: Any = x509.load_pem_x509_certificate(raw)
            else:
                theirs = serialization.load_pem_public_key(raw)
        else:
            theirs = raw
    except (ValueError, TypeError, binascii.Error):
        return False
    if isinstance(verifier, x509.Certificate):
        der = verifier.public_bytes(serialization.Encoding.DER)
        if isinstance(theirs, x509.Certificate):
            return theirs.public_bytes(serialization.Encoding.DER) == der
        return isinstance(theirs, bytes) and theirs == der
    spki = verifier.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if isinstance(theirs, bytes):
        return theirs == spki
    if isinstance(theirs, x509.Certificate):
        return False
    return bool(
        theirs.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == spki
    )


def verify_body(entry: TlogEntry, binding: Binding) -> None:
    """The entry's body must name this signature, its verifier and its artifact/envelope."""
    try:
        body = json.loads(entry.body)
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
        elif kv == ("intoto", "0.0.2"):
            _intoto_v2(spec["content"], binding)
        else:
            raise _mismatch(
                "unsupported entry kind", "hashedrekord 0.0.1/0.0.2, dsse 0.0.1, intoto 0.0.2", " ".join(kv)
            )
    except (KeyError, TypeError, AttributeError) as exc:
        raise _mismatch(f"the {kv[0]} body lacks a field ({exc})") from exc


def _hashedrekord_v1(spec: Mapping[str, Any], b: Binding) -> None:
    digest = spec["data"]["hash"]
    if digest.get("algorithm") != "sha256" or digest.get("value") != b.signed_sha256.hex():
        raise _mismatch(
            "artifact digest", f"sha256:{b.signed_sha256.hex()}", f"{digest.get('algorithm')}:{digest.get('value')}"
        )
    if b64(spec["signature"]["content"], "entry signature") != b.signature:
        raise _mismatch("signature bytes differ")
    if not _same_verifier(spec["signature"]["publicKey"]["content"], b.verifier, pem_b64=True):
        raise _mismatch("the entry names another certificate or public key")


def _hashedrekord_v2(spec: Mapping[str, Any], b: Binding) -> None:
    data = spec["data"]
    algorithm = data.get("algorithm")
    names = {"SHA2_384": "sha384", "SHA2_512": "sha512"}
    if algorithm == "SHA2_256":
        want = b.signed_sha256
    elif algorithm in names and b.signed_data is not None:
        want = hashlib.new(names[algorithm], b.signed_data).digest()
    else:
        raise _mismatch("digest algorithm", "SHA2_256 (or SHA2_384/512 with the artifact bytes)", str(algorithm))
    if b64(data["digest"], "entry digest") != want:
        raise _mismatch("artifact digest", want.hex(), b64(data["digest"], "entry digest").hex())
    sig = spec["signature"]
    if b64(sig["content"], "entry signature") != b.signature:
        raise _mismatch("signature bytes differ")
    verifier = sig["verifier"]
    raw = verifier.get("x509Certificate", verifier.get("publicKey", {})).get("rawBytes")
    if not _same_verifier(b64(raw, "entry verifier"), b.verifier, pem_b64=False):
        raise _mismatch("the entry names another certificate or public key")


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
