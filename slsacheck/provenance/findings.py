"""Warnings about a run's inputs, and the one error they become under `--strict`.

slsacheck is stricter than Tekton Chains, which logs and drops what it cannot read.
Here every input that is ignored, refused as a digest or recorded as unpinned leaves a
`Finding` record: a stable `code` (for scripts and tests), `where` it was found and a
sentence for people. The generator returns these warnings with the statement; with
`strict=True` any of them fails generation instead (`ProvenanceRefused`).

`Finding` is a record, not an exception. It was called `Warning`, which shadowed the
builtin wherever it was imported; `Warning` stays as an alias for code written before.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from slsacheck.errors import InputError


@dataclass(frozen=True, order=True)
class Finding:
    """One input the generator ignored or could not record as given."""

    code: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message} [{self.code}]"


Warning = Finding  # the old name, kept so existing imports work; new code says Finding


class RunError(InputError):
    """A run object (or in-step input) that slsacheck cannot describe."""


class ProvenanceRefused(InputError):
    """`--strict` generation met at least one warning."""

    def __init__(self, warnings: Sequence[Warning]) -> None:
        lines = "\n    ".join(str(w) for w in warnings)
        super().__init__(
            f"provenance refused in strict mode: {len(warnings)} problem(s) in the run's inputs\n    {lines}",
            hint="fix the Task results or params named above, or generate without --strict to record them as warnings",
        )
        self.warnings = tuple(warnings)


def unique(warnings: Iterable[Warning]) -> list[Warning]:
    """Each warning once, in the order first met."""
    return list(dict.fromkeys(warnings))


_RESULTS_HINT = "have the build Task write its image URL and digest to IMAGE_URL and IMAGE_DIGEST results"


def no_artifact(label: str, warnings: Sequence[Warning], expected: str, hint: str | None = None) -> RunError:
    """Nothing to be about: an in-toto Statement needs at least one subject."""
    lines = "".join(f"\n    {w}" for w in warnings)
    return RunError(
        f"{label} declares no artifact: there is nothing for the provenance to be about{lines}",
        expected=expected,
        found="no valid type-hinted result",
        hint=hint or _RESULTS_HINT,
    )
