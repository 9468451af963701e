"""Audit for security teams: many images, one report a person can read (a surface layer).

`run_audit` takes image sources (`slsacheck.audit.sources`), verifies every image with
bounded concurrency through the same gate as `slsacheck verify` (or, without a policy,
describes its evidence), and writes the reports (`slsacheck.audit.report`): JSON, JUnit,
SARIF, Markdown, HTML and text. Per image, errors are outcomes; an interrupted audit
still writes whole documents of what finished.
"""

from __future__ import annotations

from slsacheck.audit.session import AuditResult, run_audit

__all__ = ["AuditResult", "run_audit"]
