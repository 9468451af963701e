"""Rekor transparency-log entries: parsing (bundle `tlogEntries` and cosign's SET
annotation), the inclusion promise (SET), and the inclusion proof with its signed
checkpoint. What the entry's body must name is `_rekor_body`'s job.

Written with `cryptography` alone because sigstore-python's log-entry checks are tied
to its `Bundle` type, which requires a certificate (so cannot serve key-based bundles
or cosign's `.sig`/`.att` annotations).

Invariants:
- the log key is the one whose declared log id equals the entry's; an unknown log
  id is a failure, never "try every key";
- a checkpoint counts only when signed by that same log key (a witness cosignature
  with another key hint is skipped, a bad signature with the log's hint is a failure);
- protobuf JSON omits zero values, so an absent index or size reads as 0;
- every failure is a `VerificationError` that says which check failed.
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

from slsacheck._json import parse
from slsacheck._numbers import decimal, json_integer
from slsacheck.errors import VerificationError
from slsacheck.signing.trust import LogKey, TrustedRoot

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


_INT64_MAX = 2**63 - 1


def _int(value: Any, what: str) -> int:
    number = json_integer(value)
    if number is None:
        raise VerificationError(
            f"{what} is not an integer",
            expected="a JSON integer or a string of decimal digits",
            found=repr(value)[:40],
            hint="the bundle is malformed",
        )
    if number < 0:
        raise VerificationError(f"{what} is negative", expected=">= 0", found=str(number), hint=_HINT)
    if number > _INT64_MAX:
        raise VerificationError(f"{what} is out of range", expected="<= 2^63 - 1", found=str(number)[:40], hint=_HINT)
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
        hashes = raw_proof.get("hashes")
        hashes = [] if hashes is None else hashes  # absent at its default, as protobuf JSON writes it
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
        kind_doc = parse(body, strict=True)
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
    size = decimal(lines[1])
    try:
        root = base64.b64decode(lines[2], validate=True)
    except (ValueError, binascii.Error):
        size = None
    if size is None:
        raise VerificationError("checkpoint is malformed: bad size or root hash", found=note[:120])
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
