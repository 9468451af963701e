"""One audit from sources to finished report files: `run_audit`.

Outputs are written from the spool after the run, each to a temporary file beside its
destination and renamed into place, with SIGINT ignored while they are written: an
interrupt (the first, during the run) yields whole documents, never half a file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from slsacheck.audit.records import Spool, Summary
from slsacheck.audit.report import FORMATS, Report, writer
from slsacheck.audit.runner import Auditor, AuditSettings
from slsacheck.audit.shard import Shard, check_set, merged_meta, read_shard
from slsacheck.audit.sources import Target
from slsacheck.audit.transport import Clients

if TYPE_CHECKING:
    from slsacheck.oci.options import RegistryOptions
    from slsacheck.policy.model import PolicySet

INVENTORY_NOTE = (
    "No policy was given: this is an inventory. Signatures and attestations are listed with the signer they "
    "name, but a signature can only be verified against an authority (a key or a keyless identity from a "
    "policy); without one, only keyless signatures are verified, and only against a --trusted-root when given."
)


@dataclass(frozen=True)
class AuditResult:
    meta: dict[str, Any]
    summary: dict[str, Any]
    interrupted: bool
    written: tuple[str, ...]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def output_paths(formats: Sequence[str], output: str | None) -> list[tuple[str, str | None]]:
    """(format, path or None for stdout). An existing directory (or a path ending in `/`)
    gets `audit<suffix>` files, whatever the number of formats. Otherwise one format: `output`
    is the file; several: `output` is a prefix, `PREFIX<suffix>` (`reports/nightly` ->
    `reports/nightly.json`, ...)."""
    if len(formats) <= 1:
        fmt = formats[0] if formats else "text"
        if output is None or output == "-":
            return [(fmt, None)]
        if output.endswith(("/", os.sep)) or Path(output).is_dir():
            Path(output).mkdir(parents=True, exist_ok=True)
            return [(fmt, str(Path(output) / f"audit{FORMATS[fmt][0]}"))]
        return [(fmt, output)]
    if output is None or output == "-":
        from slsacheck.errors import InputError  # noqa: PLC0415

        raise InputError("several --format values need --output", expected="--output DIR/ or --output PREFIX",
                         hint="each format is written to its own file: DIR/audit.json, ... or PREFIX.json, ...")
    if output.endswith(("/", os.sep)) or Path(output).is_dir():
        Path(output).mkdir(parents=True, exist_ok=True)
        return [(f, str(Path(output) / f"audit{FORMATS[f][0]}")) for f in formats]
    return [(f, f"{output}{FORMATS[f][0]}") for f in formats]


@contextlib.contextmanager
def _no_interrupts() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def file_mode(requested: int | None) -> int:
    """The mode report files get: `requested`, else what the umask leaves of 0666, as any
    other tool's output (a report is shared, unlike a key). Read in the calling thread,
    before workers start: reading the umask means setting it for a moment."""
    if requested is not None:
        return requested
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _write(report: Report, fmt: str, path: str | None, stdout: TextIO, mode: int = 0o644) -> None:
    write = writer(fmt)
    if path is None:
        write(report, stdout)
        stdout.flush()
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        os.fchmod(fd, mode)  # mkstemp makes 0600 whatever the umask
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            write(report, fh)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def run_audit(
    targets: Iterable[Target],
    *,
    policy_set: PolicySet | None,
    options: RegistryOptions,
    formats: Sequence[str] = ("text",),
    output: str | None = None,
    concurrency: int = 8,
    rate: float | None = None,
    trusted_root: str | None = None,
    offline: bool = False,
    sources: Sequence[str] = (),
    policy_files: Sequence[str] = (),
    on_record: Callable[[dict[str, Any]], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    stdout: TextIO | None = None,
    now: datetime | None = None,
    clients: Clients | None = None,
    shard: Shard | None = None,
    mode: int | None = None,
) -> AuditResult:
    """Audit every target and write the reports (mode: `file_mode(mode)`); see the package docstring."""
    from slsacheck import __version__  # noqa: PLC0415

    stdout = stdout or sys.stdout
    written_mode = file_mode(mode)
    paths = output_paths(list(formats), output)
    settings = AuditSettings(policy_set, now or datetime.now(UTC), max(1, concurrency), trusted_root, offline,
                             shard)
    spool, summary = Spool(), Summary()
    started = _now()
    try:
        clients = clients or Clients(options, pool=settings.concurrency, rate=rate)
        auditor = Auditor(settings, clients, spool, summary, on_record=on_record, on_total=on_total)
        auditor.run(targets)
        meta: dict[str, Any] = {
            "tool": {"name": "slsacheck", "version": __version__},
            "startedAt": started,
            "finishedAt": _now(),
            "complete": not auditor.interrupted,
            "interrupted": auditor.interrupted,
            "mode": "policy" if policy_set is not None else "inventory",
            "policies": [p.name for p in policy_set.policies] if policy_set is not None else [],
            "policyFiles": list(policy_files),
            "policyDigest": policy_set.digest() if policy_set is not None else None,
            "trustedRoot": trusted_root,
            "sources": list(sources),
            "note": INVENTORY_NOTE if policy_set is None else None,
            "shard": shard.to_json() if shard is not None else None,
        }
        report = Report(meta, summary.to_json(), spool.ordered)
        with _no_interrupts():
            for fmt, path in paths:
                _write(report, fmt, path, stdout, written_mode)
        return AuditResult(meta, dict(report.summary), auditor.interrupted,
                           tuple(p for _, p in paths if p is not None))
    finally:
        spool.discard()


def merge_reports(paths: Sequence[str], *, formats: Sequence[str] = ("json",), output: str | None = None,
                  stdout: TextIO | None = None) -> AuditResult:
    """The shards' JSON reports (`slsacheck.audit.shard`) as the reports one run would have written."""
    from slsacheck import __version__  # noqa: PLC0415

    stdout = stdout or sys.stdout
    out_paths = output_paths(list(formats), output)
    spool, summary = Spool(), Summary()
    try:
        reports = []
        for path in paths:  # one shard's records in memory at a time
            report = read_shard(path, __version__)
            for record in report.images:
                spool.append(record)
                summary.add(record)
            report.images.clear()
            reports.append(report)
        check_set(reports)
        spool.close()
        meta = merged_meta(reports)
        merged = Report(meta, summary.to_json(), spool.ordered)
        with _no_interrupts():
            for fmt, destination in out_paths:
                _write(merged, fmt, destination, stdout)
        return AuditResult(meta, dict(merged.summary), bool(meta["interrupted"]),
                           tuple(p for _, p in out_paths if p is not None))
    finally:
        spool.discard()
