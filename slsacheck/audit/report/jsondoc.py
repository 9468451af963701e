"""The JSON audit report: one document (schemas/audit-report.schema.json), written as it is read.

Field names are stable. `complete` is false when the audit was interrupted: the images
listed are those that finished, each whole.
"""

from __future__ import annotations

from typing import TextIO

from slsacheck._json import dumps_report
from slsacheck.audit.report import Report

SCHEMA_VERSION = "1"


def write_json(report: Report, out: TextIO) -> None:
    head = {"schemaVersion": SCHEMA_VERSION, **report.meta, "summary": dict(report.summary)}
    text = dumps_report(head, indent=2, ensure_ascii=False)
    out.write(text[: text.rstrip().rfind("}")].rstrip() + ',\n  "images": [')
    first = True
    for record in report.records():
        out.write("\n    " if first else ",\n    ")
        out.write(dumps_report(record, ensure_ascii=False, separators=(",", ":")))
        first = False
    out.write("\n  ]\n}\n" if not first else "]\n}\n")
