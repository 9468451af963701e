"""What each check id means, for reports that explain a failure (SARIF rules, HTML, Markdown).

The texts restate `docs/checks.md` (the reference for check ids) in one sentence each; a
test keeps the two in step, so a check documented there and not here (or the reverse)
fails the build. Ids with a name or index in them (`attestations.<name>.present`) are
matched by their shape.
"""

from __future__ import annotations

import re

DOCS = "docs/checks.md"

HELP: dict[str, str] = {
    "verification.complete": "Evidence could not be collected or verified (registry unreachable, timeout, "
    "content not matching its digest). Never exempted: the verdict's outcome is error.",
    "policy.match": "No loaded policy's images match the image; spec.noMatch (or --no-match) decides: deny "
    "fails, warn warns, allow passes.",
    "signatures.threshold": "Fewer than threshold distinct listed authorities signed the image; signatures by "
    "unlisted authorities and rejected candidates are listed in found.",
    "attestations.<name>.present": "No attestation of the entry's predicateType is signed by one of its "
    "authorities; when it fails, the entry's other checks are skipped.",
    "provenance.builderIds": "The provenance's builder id matches no trusted builder pattern.",
    "provenance.buildTypes": "The provenance's build type matches no allowed pattern.",
    "provenance.source.repositories": "No source is recorded, or a recorded source repository matches no "
    "allowed pattern.",
    "provenance.source.refs": "No ref is recorded, or a recorded branch or tag matches no allowed pattern.",
    "provenance.source.requireCommit": "No commit is recorded, or a recorded commit is not a full SHA.",
    "provenance.tasks.required": "The provenance records no pipeline tasks, or a required task is missing.",
    "provenance.tasks.trustedRefs": "A task or pipeline reference is not pinned by digest or commit, or "
    "comes from an untrusted place.",
    "provenance.stepImages": "No step image is recorded, or a step image is not pinned by digest or comes "
    "from a registry outside the allowed ones.",
    "provenance.maxAge": "The build finish time is missing, in the future, or older than maxAge.",
    "attestations.<name>.conditions[<i>]": "The policy's CEL condition is false for an accepted statement, "
    "or fails to evaluate.",
    "vulnerabilities.maxSeverity": "The newest accepted vulnerability scan has a finding above the limit, "
    "or no report slsacheck can read.",
    "vulnerabilities.maxAge": "The newest scan's finish time is missing, in the future, or older than maxAge.",
    "exceptions[<i>]": "A policy exception covers this image but has expired, so the checks it named apply again.",
}

_SHAPES = [
    (re.compile(r"attestations\.[^.]+\.present"), "attestations.<name>.present"),
    (re.compile(r"attestations\.[^.]+\.conditions\[\d+\]"), "attestations.<name>.conditions[<i>]"),
    (re.compile(r"exceptions\[\d+\]"), "exceptions[<i>]"),
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
