"""Audit for security teams: many images, one report a person can read (a surface layer).

`audit(targets, AuditSettings(...), clients)` takes image sources (`slsacheck.audit.sources`),
verifies every image with bounded concurrency through the same gate as `slsacheck verify`
(or, without a policy, describes its evidence) and yields the finished report;
`write_reports` writes it (`slsacheck.audit.report`): JSON, JUnit, SARIF, Markdown, HTML,
PolicyReport and text; `push_report` pushes it to a registry as an OCI artifact
(`slsacheck.audit.artifact`); `merged` reads shard reports (files or artifacts) back as one.
`run_audit` is audit-then-write in one call. Per image, errors are outcomes; an
interrupted audit still writes whole documents of what finished.
"""

from __future__ import annotations

from slsacheck.audit.runner import AuditSettings
from slsacheck.audit.session import AuditResult, audit, merged, push_report, run_audit, write_reports

__all__ = ["AuditResult", "AuditSettings", "audit", "merged", "push_report", "run_audit", "write_reports"]
