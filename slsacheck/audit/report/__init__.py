"""Audit report writers: one finished audit (`Report`) in, one document out, streamed.

Every writer reads the records through `Report.records()` (a fresh pass over the spool each
call), so a writer never holds more than one image's record; those that need totals before
the rows (JUnit's counts, SARIF's rules) take a first pass for them. `FORMATS` maps the
format names of `slsacheck audit --output` to a file suffix and a writer.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TextIO


@dataclass(frozen=True)
class Report:
    meta: Mapping[str, Any]  # tool, times, complete/interrupted, mode, policies, sources
    summary: Mapping[str, Any]  # `Summary.to_json()`
    records: Callable[[], Iterator[dict[str, Any]]]


Writer = Callable[[Report, TextIO], None]

# format -> (file suffix, "module:function")
FORMATS: dict[str, tuple[str, str]] = {
    "text": (".txt", "slsacheck.audit.report.text:write_text"),
    "json": (".json", "slsacheck.audit.report.jsondoc:write_json"),
    "junit": (".junit.xml", "slsacheck.audit.report.junit:write_junit"),
    "sarif": (".sarif", "slsacheck.audit.report.sarif:write_sarif"),
    "markdown": (".md", "slsacheck.audit.report.markdown:write_markdown"),
    "html": (".html", "slsacheck.audit.report.html:write_html"),
    "policyreport": (".policyreport.json", "slsacheck.audit.report.policyreport:write_policyreport"),
}


def writer(fmt: str) -> Writer:
    module, _, name = FORMATS[fmt][1].partition(":")
    found: Writer = getattr(importlib.import_module(module), name)
    return found
