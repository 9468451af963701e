"""Encoded answers to warm reviews, reused while what they were built from still holds.

A review whose every image the caches decide (the warm path) gets an answer that is a
function of its key and of those cache entries, apart from its `uid`. The answer is encoded
once, split around the uid's value, and a later review with the same key gets the same
bytes with its own uid spliced in (escaped as JSON: it comes from the request, so it is
untrusted text). The outcome's log fields and the metrics it counts are kept beside it.

Invariants:
- the key holds everything the answer is built from besides the caches: the policy-set
  digest, the mode, validate or mutate, the apiVersion, and every image field of the
  workload as written (text and JSON Pointer, in order, duplicates included); an answer
  that quotes the review's kind, namespace and name (a denial's message) is reused only for
  a review naming the same;
- an entry is served only while `Judge.holds` every image's cache entries: a verdict or a
  tag expired, evicted or replaced sends the review down the path that builds answers (and
  judges what the caches no longer decide);
- only answers built wholly from the caches are kept: never one with a verification, a
  time budget or an error in it;
- bounded in entries and in bytes (`max_entries`, `max_bytes`: anyone allowed a dry run
  can make a denial listing many unmatched images, under a new key each time); when either
  would be passed the map is emptied (each answer is rebuilt by the next review that needs
  it, from the caches).

Pure bookkeeping on the event loop's thread: no I/O, no locks.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import Any

from slsacheck.admission.judge import Held
from slsacheck.admission.metrics import Increment
from slsacheck.admission.review import PodImage

# Built once: `json.dumps` with options builds an encoder per call. ASCII out (the same JSON
# value), which is also the stdlib's fastest string path.
ANSWER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))
# An answer past this size (a denial quoting many long check results) is not kept: rare, and
# memory is better spent on the common answers.
MAX_ANSWER = 64 * 1024
MAX_BYTES = 16 * 1024 * 1024  # all kept answers, their log fields and keys
_ENTRY = 512  # what an entry holds besides its text (objects, tuples, the map's slot), roughly

Key = tuple[str, str, bool, str, tuple[tuple[str, str], ...]]


def key(policy_digest: str, mode: str, mutate: bool, api_version: str, images: Sequence[PodImage]) -> Key:
    """What an answer built from the caches depends on (see the module docstring)."""
    return policy_digest, mode, mutate, api_version, tuple([(i.image, i.pointer) for i in images])


def encode(answer: dict[str, Any]) -> bytes:
    """An AdmissionReview answer as the bytes the webhook sends."""
    return ANSWER.encode(answer).encode()


@dataclass(frozen=True)
class Outcome:
    """What a reused answer's log line says after the review's own fields, already encoded,
    and the image metrics serving it counts."""

    decision: str
    log_fields: str
    counts: tuple[Increment, ...] = ()

    def encoded(self) -> str:
        return self.log_fields


@dataclass(frozen=True)
class Answer:
    """An encoded answer without its uid, what it rests on, and its outcome."""

    head: bytes  # the answer up to the uid's value
    tail: bytes  # the answer after it
    held: tuple[Held, ...]
    what: str | None  # the review's "Kind namespace/name" when the answer quotes it
    outcome: Outcome

    def for_uid(self, uid: str) -> bytes:
        return b"".join((self.head, encode_basestring_ascii(uid).encode(), self.tail))


def split(answer: dict[str, Any], encoded: bytes) -> tuple[bytes, bytes] | None:
    """`encoded` (`encode(answer)`) cut before and after its uid's value; None when the uid is
    not where it is looked for (then the answer is not kept)."""
    head = b'{"apiVersion":%s,"kind":"AdmissionReview","response":{"uid":' % encode(answer["apiVersion"])
    value = encode(answer["response"]["uid"])
    if not encoded.startswith(head + value):
        return None
    return head, encoded[len(head) + len(value):]


class Answers:
    def __init__(self, max_entries: int, *, max_bytes: int = MAX_BYTES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.size = 0  # bytes held, as `_cost` counts them
        self._entries: dict[Key, Answer] = {}

    def get(self, key: Key) -> Answer | None:
        return self._entries.get(key)

    def put(self, key: Key, answer: dict[str, Any], encoded: bytes, *, held: Sequence[Held], what: str | None,
            outcome: Outcome) -> None:
        if len(encoded) > MAX_ANSWER:
            return
        parts = split(answer, encoded)
        if parts is None:
            return
        self.drop(key)
        kept = Answer(parts[0], parts[1], tuple(held), what, outcome)
        cost = _cost(key, kept)
        if len(self._entries) >= self.max_entries or self.size + cost > self.max_bytes:
            self.clear()
        if cost <= self.max_bytes:
            self._entries[key] = kept
            self.size += cost

    def drop(self, key: Key) -> None:
        kept = self._entries.pop(key, None)
        if kept is not None:
            self.size -= _cost(key, kept)

    def clear(self) -> None:
        self._entries.clear()
        self.size = 0

    def __len__(self) -> int:
        return len(self._entries)


def _cost(key: Key, kept: Answer) -> int:
    text = sum(len(image) + len(pointer) for image, pointer in key[4])  # the image fields, as written
    return len(kept.head) + len(kept.tail) + len(kept.outcome.log_fields) + len(kept.what or "") + text + _ENTRY
