"""An audit's results as they arrive: one JSON record per image in a spool, and a running summary.

Workers append records to the `Spool` (JSON Lines in an unnamed temporary file) as images
finish, and the `Summary` counts them on the way in; the report writers later read the
spool back one record at a time. Memory stays flat however many images are audited: what
is kept per image is a few counters and, for digests seen under several tags, the
record's offset in the spool.

Reports list the records in a fixed order whatever order the workers finished in
(`Spool.ordered()`): sorted by `image`, then `digest`. Of the images that share a digest,
the record that holds the verification is the one whose `image` sorts first, and the
others name it in `sameAs` (whichever tag the workers reached first). Two runs over the
same inputs therefore write the same report, timestamps aside, and a merge of shard
reports writes what one run would have.

A record (its fields are the audit report's `images[]` items, schemas/audit-report.schema.json):
`image` (as listed), `repository`, `digest`, `outcome` (pass, warn, fail, error, or
inventory: read completely, judged by no policy), `slsaLevel`, `verdict`
(`Verdict.to_json()`, null without a policy), `evidence` (the inventory), `error` (why
the image could not be audited), `sameAs` (the first tag audited for the same digest).
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

OUTCOMES = ("pass", "warn", "fail", "error", "inventory")


class Spool:
    """Append-only JSON Lines of records; `read(offset)` gets one back; closed means full stop."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(mode="w+b", prefix="slsacheck-audit-")  # noqa: SIM115 - lives as long as the spool
        self._lock = threading.Lock()
        self._end = 0
        self.count = 0
        self.closed = False
        # (image, digest, offset, sameAs) per record: enough to order the report without
        # holding the records.
        self._index: list[tuple[str, str, int, str | None]] = []

    def append(self, record: Mapping[str, Any]) -> int | None:
        """Write `record`; its offset, or None once the spool is closed (the audit was stopped)."""
        # ASCII escapes: a lone surrogate from evidence round-trips exactly instead of failing
        # to encode (and turning a passing image into an audit error).
        line = json.dumps(record, separators=(",", ":")).encode() + b"\n"
        with self._lock:
            if self.closed:
                return None
            offset = self._end
            self._file.seek(offset)
            self._file.write(line)
            self._end += len(line)
            self.count += 1
            same = record.get("sameAs")
            self._index.append((str(record.get("image") or ""), str(record.get("digest") or ""), offset,
                                same if isinstance(same, str) else None))
            return offset

    def read(self, offset: int) -> dict[str, Any]:
        with self._lock:
            self._file.seek(offset)
            line = self._file.readline()
        record: dict[str, Any] = json.loads(line)
        return record

    def close(self) -> None:
        """Accept no more records (late workers after an interrupt are ignored)."""
        with self._lock:
            self.closed = True
            self._file.flush()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Every record in the order written (the spool must be closed)."""
        offset = 0
        while True:
            with self._lock:
                if offset >= self._end:
                    return
                self._file.seek(offset)
                line = self._file.readline()
            offset += len(line)
            yield json.loads(line)

    def ordered(self) -> Iterator[dict[str, Any]]:
        """Every record sorted by (image, digest), `sameAs` naming the first image of its group."""
        with self._lock:
            index = sorted(self._index)
        first_of = _canonical_names(index)
        shown: set[tuple[str, str]] = set()
        for image, digest, offset, same in index:
            record = self.read(offset)
            canonical = first_of.get((same if same is not None else image, digest))
            if canonical is not None:
                # An image listed twice is verified once: its first copy holds the record.
                record["sameAs"] = None if canonical == image and (image, digest) not in shown else canonical
                shown.add((image, digest))
            yield record

    def discard(self) -> None:
        self._file.close()


def _canonical_names(index: list[tuple[str, str, int, str | None]]) -> dict[tuple[str, str], str]:
    """For each group of records sharing a verification (the image audited first and the
    digest), the image that sorts first: the one reports show as verified, the others `sameAs` it."""
    groups: dict[tuple[str, str], str] = {}
    for image, digest, _, same in index:  # sorted: the first member seen is the smallest
        if same is not None:
            groups.setdefault((same, digest), image)
    first_of: dict[tuple[str, str], str] = {}
    for image, digest, _, same in index:
        if same is None and (image, digest) in groups:
            first_of[(image, digest)] = min(image, groups[(image, digest)])
    return first_of


class Summary:
    """Counts over every record: by outcome, by SLSA level, evidence present, failing checks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.images = 0
        self.digests = 0
        self.outcomes: Counter[str] = Counter({o: 0 for o in OUTCOMES})
        self.levels: Counter[str] = Counter()
        self.failing: Counter[str] = Counter()
        self.warning: Counter[str] = Counter()
        self.signed = 0
        self.verified_signatures = 0
        self.attested = 0
        self.with_provenance = 0

    def add(self, record: Mapping[str, Any]) -> None:
        evidence = record.get("evidence") or {}
        verdict = record.get("verdict") or {}
        with self._lock:
            self.images += 1
            if record.get("sameAs") is None and record.get("digest"):
                self.digests += 1
            self.outcomes[str(record.get("outcome"))] += 1
            level = record.get("slsaLevel")
            self.levels["unknown" if level is None else f"L{level}"] += 1
            for check in verdict.get("checks") or []:
                if check.get("outcome") == "fail":
                    self.failing[check["id"]] += 1
                elif check.get("outcome") == "warn":
                    self.warning[check["id"]] += 1
            signatures = evidence.get("signatures") or []
            self.signed += bool(signatures)
            self.verified_signatures += any(s.get("verified") for s in signatures)
            self.attested += bool(evidence.get("attestations"))
            self.with_provenance += evidence.get("provenance") is not None

    def to_json(self, top: int = 10) -> dict[str, Any]:
        with self._lock:
            return {
                "images": self.images,
                "uniqueDigests": self.digests,
                "outcomes": dict(self.outcomes),
                "slsaLevels": dict(sorted(self.levels.items())),
                "evidence": {"signed": self.signed, "signatureVerified": self.verified_signatures,
                             "attested": self.attested, "provenance": self.with_provenance},
                "failingChecks": _top(self.failing, top),
                "warningChecks": _top(self.warning, top),
            }


def _top(counts: Counter[str], top: int) -> list[dict[str, Any]]:
    # Ties broken by id: `most_common` would keep the order the workers happened to finish in.
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
    return [{"id": k, "count": n} for k, n in ranked]
