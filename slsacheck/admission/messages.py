"""What the webhook tells people: one line per image that did not pass, and the decision.

A line names the image as written, the digest judged, and every failed (or warned) check
by id with its policy, what was found and the hint; checks that could not complete read
`verification.complete: <reason>`. The deny message is a header plus these lines; warn
mode returns the same lines as `warnings`, so what an operator sees in warn mode is
exactly what enforce mode would deny with. Pure functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from slsacheck.admission.judge import ImageResult
from slsacheck.models import verdict_render

# The API server truncates or drops warnings once they pass 4096 characters in total
# (long ones first); the deny message (status.message) and the logs keep the full text.
MAX_WARNING = 1000
MAX_WARNINGS_TOTAL = 4000


def image_line(result: ImageResult) -> str:
    """`image (digest): outcome: check; check; ...` for one image (`verdict_render.image_line`)."""
    return verdict_render.image_line(result.image, result.verdict)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    label: str  # allowed, denied, warned
    message: str | None
    warnings: tuple[str, ...]


def _warnings(lines: Sequence[str]) -> tuple[str, ...]:
    """`lines` as warnings, each at most MAX_WARNING long, all within MAX_WARNINGS_TOTAL."""
    out: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        text = line if len(line) <= MAX_WARNING else line[: MAX_WARNING - 1] + "…"
        if used + len(text) > MAX_WARNINGS_TOTAL - 100:
            out.append(f"… and {len(lines) - i} more; the webhook's logs have every image")
            break
        out.append(text)
        used += len(text)
    return tuple(out)


def decide(results: Sequence[ImageResult], *, mode: str, what: str) -> Decision:
    """Enforce: deny if any image failed or could not be verified. Warn: allow, and say so."""
    bad = [r for r in results if r.verdict.outcome in ("fail", "error")]
    warned = [r for r in results if r.verdict.outcome == "warn"]
    lines = [image_line(r) for r in bad]
    notes = [image_line(r) for r in warned]
    if not bad:
        warnings = _warnings(notes)
        return Decision(True, "warned" if warnings else "allowed", None, warnings)
    header = f"slsacheck: {len(bad)} of {len(results)} images of {what} failed verification"
    message = header + ":\n" + "\n".join(f"- {line}" for line in lines)
    if mode == "warn":
        return Decision(True, "warned", None, _warnings([*lines, *notes]))
    return Decision(False, "denied", message, _warnings(notes))
