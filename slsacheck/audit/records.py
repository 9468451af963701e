"""An audit's results as they arrive: one JSON record per image in a spool, and a running summary.

Workers append records to the `Spool` (JSON Lines in an unnamed temporary file) as images
finish, and the `Summary` counts them on the way in; the report writers later read the
spool back one record at a time. Memory stays flat however many images are audited: what
is kept per image is a few counters and, for digests seen under several tags, the
record's offset in the spool.

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

    def discard(self) -> None:
        self._file.close()


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
                "failingChecks": [{"id": k, "count": n} for k, n in self.failing.most_common(top)],
                "warningChecks": [{"id": k, "count": n} for k, n in self.warning.most_common(top)],
            }
