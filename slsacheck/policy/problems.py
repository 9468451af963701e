"""What is wrong with a policy file, with file, line and path (for lint and every loader).

A loader collects every problem it can find in a file before giving up, so that
`slsacheck policy lint` shows them all at once; `PolicyLoadError` carries them and reads
as the first one (`FILE:LINE: PATH: what is wrong`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from slsacheck.errors import PolicyError, diagnostic_lines


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    path: str
    message: str
    expected: str | None = None
    found: str | None = None
    hint: str | None = None

    def location(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.path}"

    def render(self) -> str:
        lines = diagnostic_lines(
            f"{self.location()}: {self.message}", expected=self.expected, found=self.found, hint=self.hint
        )
        return "\n    ".join(lines)


class PolicyLoadError(PolicyError):
    """One or more problems in policy files; reads as the first, lists them all."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError("PolicyLoadError needs at least one problem")
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(
            f"{first.location()}: {first.message}{more}",
            expected=first.expected,
            found=first.found,
            hint=first.hint or "fix the policy file; `slsacheck policy lint FILE` lists every problem",
        )
        self.problems = tuple(problems)
        self.file = first.file
        self.line = first.line
        self.path = first.path

    def diagnostics(self) -> str:
        return "\n".join(p.render() for p in self.problems)


def closest(name: str, choices: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return found[0] if found else None


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    options = sorted(set(choices))
    best = closest(name, options)
    listed = ", ".join(options)
    if best is not None:
        return f"did you mean {best!r}? (valid: {listed})"
    return f"valid: {listed}"
