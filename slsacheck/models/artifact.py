"""An artifact as verification knows it: its bytes, or one digest of it.

`ArtifactDigests` decides whether an in-toto subject names the artifact: on every
algorithm the two share, with at least one shared, so a subject cannot match on one
algorithm while another one says it is a different artifact. Blob and bundle
verification build it; image commands never do, so it lives apart from `models.digest`,
which every command loads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from slsacheck.errors import InputError
from slsacheck.models.digest import ALGORITHMS, Digest


@dataclass(frozen=True)
class ArtifactDigests:
    """An artifact as its bytes (every digest computable) or as one digest of it."""

    data: bytes | None = field(default=None, repr=False)
    given: Digest | None = None
    _computed: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.data is None and self.given is None:
            raise InputError("the artifact or its digest is needed", hint="pass FILE or <algorithm>:<hex>")
        if self.data is not None and self.given is not None:
            mine = self.hex(self.given.algorithm)
            if mine != self.given.hex:
                raise InputError(
                    "the artifact and the digest given disagree",
                    expected=str(self.given),
                    found=f"{self.given.algorithm}:{mine}",
                )

    def hex(self, algorithm: str) -> str | None:
        """The artifact's digest in `algorithm`, or None when it cannot be known."""
        if self.given is not None and self.given.algorithm == algorithm:
            return self.given.hex
        if self.data is None or algorithm not in ALGORITHMS:
            return None
        if algorithm not in self._computed:
            self._computed[algorithm] = hashlib.new(algorithm, self.data).hexdigest()
        return self._computed[algorithm]

    def raw(self, algorithm: str) -> bytes | None:
        value = self.hex(algorithm)
        return bytes.fromhex(value) if value is not None else None

    def known(self) -> tuple[str, ...]:
        """The algorithms this artifact can be compared on."""
        return tuple(ALGORITHMS) if self.data is not None else (self.given.algorithm,) if self.given else ()

    def named_by(self, digest_set: Mapping[str, object]) -> bool:
        """Whether an in-toto digest set names this artifact: every shared algorithm agrees,
        and at least one is shared."""
        shared = [a for a in digest_set if self.hex(a) is not None]
        return bool(shared) and all(digest_set[a] == self.hex(a) for a in shared)

    def describe(self) -> str:
        if self.given is not None:
            return str(self.given)
        return f"sha256:{self.hex('sha256')}"
