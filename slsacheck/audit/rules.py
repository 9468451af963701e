"""What each check id means, for reports that explain a failure (SARIF rules, HTML, Markdown).

The texts are the help column of `policy.checkids.CHECKS`, the one table of check ids;
a test keeps docs/checks.md (the reference) in step with it, so a check documented there
and not in the table (or the reverse) fails the build. Ids with a name or index in them
(`attestations.<name>.present`) are matched by their shape.
"""

from __future__ import annotations

import re

from slsacheck.policy.checkids import CHECKS, CONDITION_SHAPE, EXCEPTION_SHAPE, PRESENT_SHAPE

DOCS = "docs/checks.md"

HELP: dict[str, str] = {check.id: check.help for check in CHECKS}

_SHAPES = [
    (re.compile(r"attestations\.[^.]+\.present"), PRESENT_SHAPE),
    (re.compile(r"attestations\.[^.]+\.conditions\[\d+\]"), CONDITION_SHAPE),
    (re.compile(r"exceptions\[\d+\]"), EXCEPTION_SHAPE),
]


def documented(check_id: str) -> str | None:
    """The documented form of `check_id` (itself, or its shape), None when undocumented."""
    if check_id in HELP:
        return check_id
    for pattern, shape in _SHAPES:
        if pattern.fullmatch(check_id):
            return shape
    return None


def help_text(check_id: str) -> str:
    shape = documented(check_id)
    return HELP[shape] if shape else f"See {DOCS} for the check ids slsacheck produces."
