"""One audit from sources to finished report files, in two steps.

- `audit(targets, settings, clients)` audits the targets and yields the finished `Report`
  (its records read from a spool that lives as long as the context);
  `merged(paths)` yields the one report the JSON reports of an audit's shards make.
- `write_reports(report, outputs)` writes one report in every format asked for.

`run_audit` is the two in one call, for the public API. Outputs are written from the
spool after the run, each to a temporary file beside its destination and renamed into
place, with SIGINT ignored while they are written: an interrupt (the first, during the
run) yields whole documents, never half a file.
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

from slsacheck.audit import artifact
from slsacheck.audit.records import Spool, Summary
from slsacheck.audit.report import FORMATS, Report, writer
from slsacheck.audit.runner import Auditor, AuditSettings
from slsacheck.audit.shard import Shard, ShardReport, check_set, merged_meta, parse_shard, read_shard
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


def _meta(settings: AuditSettings, started: str, interrupted: bool) -> dict[str, Any]:
    from slsacheck import __version__  # noqa: PLC0415

    policy_set = settings.policy_set
    return {
        "tool": {"name": "slsacheck", "version": __version__},
        "startedAt": started,
        "finishedAt": _now(),
        "complete": not interrupted,
        "interrupted": interrupted,
        "mode": "policy" if policy_set is not None else "inventory",
        "policies": [p.name for p in policy_set.policies] if policy_set is not None else [],
        "policyFiles": list(settings.policy_files),
        "policyDigest": policy_set.digest() if policy_set is not None else None,
        "trustedRoot": settings.trusted_root,
        "sources": list(settings.sources),
        "note": INVENTORY_NOTE if policy_set is None else None,
        "shard": settings.shard.to_json() if settings.shard is not None else None,
    }


@contextlib.contextmanager
def audit(
    targets: Iterable[Target],
    settings: AuditSettings,
    clients: Clients,
    *,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> Iterator[Report]:
    """Audit every target; the report (`meta["interrupted"]` after a first interrupt) is
    readable until the context ends."""
    spool, summary = Spool(), Summary()
    started = _now()
    try:
        auditor = Auditor(settings, clients, spool, summary, on_record=on_record, on_total=on_total)
        auditor.run(targets)
        yield Report(_meta(settings, started, auditor.interrupted), summary.to_json(), spool.ordered)
    finally:
        spool.discard()


def _shard_report(source: str, version: str, options: RegistryOptions | None) -> ShardReport:
    """A shard's JSON report from a file, or from the artifact a reference names (`artifact`)."""
    if os.path.exists(source) or not artifact.is_reference(source):  # a file that is there is a file
        return read_shard(source, version)
    from slsacheck.oci.options import RegistryOptions  # noqa: PLC0415

    data, where = artifact.pull_report(source, options or RegistryOptions())
    return parse_shard(data, where, version)


@contextlib.contextmanager
def merged(sources: Sequence[str], options: RegistryOptions | None = None) -> Iterator[Report]:
    """The shards' JSON reports (`slsacheck.audit.shard`), files or artifacts pushed with
    `--output-oci` (read with `options`), as the report one run would have written."""
    from slsacheck import __version__  # noqa: PLC0415

    spool, summary = Spool(), Summary()
    try:
        reports = []
        for source in sources:  # one shard's records in memory at a time
            report = _shard_report(source, __version__, options)
            for record in report.images:
                spool.append(record)
                summary.add(record)
            report.images.clear()
            reports.append(report)
        check_set(reports)
        spool.close()
        yield Report(merged_meta(reports), summary.to_json(), spool.ordered)
    finally:
        spool.discard()


def write_reports(report: Report, outputs: Sequence[tuple[str, str | None]], *, stdout: TextIO | None = None,
                  mode: int | None = None) -> tuple[str, ...]:
    """Write `report` in each (format, path; None for stdout) of `outputs` (`output_paths`);
    files get `file_mode(mode)`. Returns the paths written."""
    written_mode = file_mode(mode)
    with _no_interrupts():
        for fmt, path in outputs:
            _write(report, fmt, path, stdout or sys.stdout, written_mode)
    return tuple(p for _, p in outputs if p is not None)


def push_report(report: Report, reference: str, options: RegistryOptions) -> str:
    """Push `report` as an artifact tagged `reference` (`artifact.push_report`); REPO@DIGEST of it.
    An interrupt may stop it: the tag is written last, so a cut push leaves no tag to read."""
    return artifact.push_report(report, reference, options).reference


def result_of(report: Report, written: tuple[str, ...]) -> AuditResult:
    return AuditResult(dict(report.meta), dict(report.summary), bool(report.meta["interrupted"]), written)


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
    """Audit every target and write the reports: `audit` then `write_reports`, in one call
    (the public API's entry point; its keywords are those of earlier releases)."""
    outputs = output_paths(list(formats), output)
    written_mode = file_mode(mode)  # read before any worker starts
    settings = AuditSettings(policy_set, now or datetime.now(UTC), max(1, concurrency), trusted_root, offline,
                             shard, tuple(sources), tuple(policy_files))
    clients = clients or Clients(options, pool=settings.concurrency, rate=rate)
    with audit(targets, settings, clients, on_record=on_record, on_total=on_total) as report:
        return result_of(report, write_reports(report, outputs, stdout=stdout, mode=written_mode))
