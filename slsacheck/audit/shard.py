"""Shards of an audit and their merge: N processes (Kubernetes Indexed Job pods) audit one fleet.

`Shard(index, count)` owns a fixed part of the digests: the one where the first eight
bytes of SHA-256 over the digest's text, modulo `count`, equal `index` (0-based, as
`JOB_COMPLETION_INDEX`). Every tag of a digest (in any repository) lands in the same
shard, so `sameAs` groups never straddle shards. An entry that has no digest (a source
that could not be listed, a reference that could not be resolved) is owned by the hash of
its text, so exactly one shard reports it.

`merge(paths)` reads the shards' JSON reports and refuses any set that is not the N
shards of one audit: another slsacheck version, another policy set (by digest), other
sources or options, a shard missing or given twice, or a record in the wrong shard (a
report of another partition). The merged records, ordered as one run orders them, and a
summary counted again from them, make the report a single run would have written (its
timestamps: the earliest start and the latest finish; each record's provenance age, in
days, is the one its shard measured at its own clock).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from slsacheck._json import Refused, parse
from slsacheck._numbers import decimal
from slsacheck.errors import InputError

MAX_SHARD_REPORT = 2 * 1024 * 1024 * 1024
_MAX_VALUES = 500_000_000
# Meta fields every shard of one audit must agree on.
_SAME = ("schemaVersion", "tool", "mode", "policies", "policyFiles", "policyDigest", "trustedRoot", "sources", "note")


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        head, sep, tail = text.partition("/")
        index, count = decimal(head), decimal(tail)
        if not sep or index is None or count is None or count < 1 or not index < count:
            raise InputError(f"--shard {text}: expected I/N with 0 <= I < N", found=text,
                             hint="I is 0-based, as JOB_COMPLETION_INDEX: --shard 0/4 ... --shard 3/4")
        return cls(index, count)

    def owns(self, key: str) -> bool:
        return shard_of(key, self.count) == self.index

    def to_json(self) -> dict[str, int]:
        return {"index": self.index, "count": self.count}


def shard_of(key: str, count: int) -> int:
    return int.from_bytes(hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()[:8], "big") % count


def record_key(record: dict[str, Any]) -> str:
    """What decides a record's shard: its digest, else its image text."""
    return str(record.get("digest") or record.get("image") or "")


@dataclass(frozen=True)
class ShardReport:
    path: str
    meta: dict[str, Any]
    shard: Shard
    images: list[dict[str, Any]]


def read_shard(path: str, version: str) -> ShardReport:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SHARD_REPORT + 1)
    except OSError as exc:
        raise InputError(f"audit merge: cannot read {path}: {exc.strerror or exc}") from None
    return parse_shard(data, path, version)


def parse_shard(data: bytes, path: str, version: str) -> ShardReport:
    """One shard's JSON report (`path` names where it came from, in errors and in the merge)."""
    try:
        doc = parse(data, max_bytes=MAX_SHARD_REPORT, max_items=_MAX_VALUES)
    except Refused as exc:
        raise InputError(f"audit merge: {path} is not a JSON audit report ({exc})",
                         hint="merge the --format json reports of slsacheck audit --shard I/N") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list) or doc.get("schemaVersion") != "1":
        raise InputError(f"audit merge: {path} is not a JSON audit report", expected='schemaVersion "1" and images',
                         hint="merge the --format json reports of slsacheck audit --shard I/N")
    tool: dict[str, Any] = doc["tool"] if isinstance(doc.get("tool"), dict) else {}
    if tool.get("name") != "slsacheck" or tool.get("version") != version:
        raise InputError(f"audit merge: {path} was written by another slsacheck version",
                         expected=f"slsacheck {version}", found=f"{tool.get('name')} {tool.get('version')}",
                         hint="run every shard and the merge with the same slsacheck release")
    raw = doc.get("shard")
    if not isinstance(raw, dict) or not isinstance(raw.get("index"), int) or not isinstance(raw.get("count"), int):
        raise InputError(f"audit merge: {path} is not a shard report", expected='"shard": {"index", "count"}',
                         hint="audit with --shard I/N; a whole audit needs no merge")
    shard = Shard.parse(f"{raw['index']}/{raw['count']}")
    images = doc.pop("images")
    for record in images:
        if not isinstance(record, dict) or not shard.owns(record_key(record)):
            raise InputError(f"audit merge: {path} holds an image shard {shard.index}/{shard.count} does not own",
                             found=str(record.get("image") if isinstance(record, dict) else record)[:200],
                             hint="the file is not the report of that shard; re-run it")
    return ShardReport(path, doc, shard, images)


def check_set(reports: Sequence[ShardReport]) -> None:
    """Refuse anything but the N shards of one audit."""
    first = reports[0]
    for report in reports[1:]:
        for key in _SAME:
            if report.meta.get(key) != first.meta.get(key):
                what = "policy set" if key in ("policies", "policyDigest", "policyFiles") else key
                raise InputError(f"audit merge: {report.path} and {first.path} differ in {what}",
                                 expected=str(first.meta.get(key))[:200], found=str(report.meta.get(key))[:200],
                                 hint="merge only the shards of one audit (same policies, sources and release)")
        if report.shard.count != first.shard.count:
            raise InputError(f"audit merge: {report.path} is a shard of {report.shard.count}, "
                             f"{first.path} of {first.shard.count}")
    seen: dict[int, str] = {}
    for report in reports:
        if report.shard.index in seen:
            raise InputError(f"audit merge: shard {report.shard.index} given twice",
                             found=f"{seen[report.shard.index]} and {report.path}")
        seen[report.shard.index] = report.path
    missing = sorted(set(range(first.shard.count)) - set(seen))
    if missing:
        raise InputError(f"audit merge: shard(s) {', '.join(map(str, missing))} of {first.shard.count} missing",
                         hint="a merge of part of the shards would not be the whole audit; re-run the missing shards")


def merged_meta(reports: Sequence[ShardReport]) -> dict[str, Any]:
    first = reports[0].meta
    meta = {k: v for k, v in first.items() if k not in ("schemaVersion", "summary")}
    meta["startedAt"] = min(str(r.meta.get("startedAt")) for r in reports)
    meta["finishedAt"] = max(str(r.meta.get("finishedAt")) for r in reports)
    meta["complete"] = all(r.meta.get("complete") is True for r in reports)
    meta["interrupted"] = any(r.meta.get("interrupted") is True for r in reports)
    meta["shard"] = None
    return meta


def records(reports: Sequence[ShardReport]) -> Iterator[dict[str, Any]]:
    for report in reports:
        yield from report.images
