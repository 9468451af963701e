"""Content digests (`sha256:<hex>`, `sha512:<hex>`, ...): parse strictly, compute, check.

Accepted: the algorithms the OCI image spec registers (sha256, sha512) and the other
SHA-2/SHA-3 members in-toto digest sets name for subjects and artifacts (sha384, as
npm and Sigstore message digests use; sha3_256/384/512), each with exactly its encoded
length, in lower case. Weak ones (sha1, md5, sha224) and anything else are refused with
a message that says which part is wrong: a digest slsacheck cannot check is never passed
along as if it were one.

`ArtifactDigests` is what is known of an artifact (its bytes, or one digest of it) and
decides whether an in-toto subject names it: on every algorithm the two share, with at
least one shared, so a subject cannot match on one algorithm while another one says it
is a different artifact.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from slsacheck.errors import DigestMismatch, InputError

if TYPE_CHECKING:
    from hashlib import _Hash

# algorithm (in-toto digest-set name, hashlib name) -> length of the lower-case hex encoding
ALGORITHMS: dict[str, int] = {
    "sha256": 64,
    "sha384": 96,
    "sha512": 128,
    "sha3_256": 64,
    "sha3_384": 96,
    "sha3_512": 128,
}
_HEX = re.compile(r"[0-9a-f]+")


class InvalidDigest(InputError):
    """A string that is not `<registered algorithm>:<hex of the right length>`."""


@dataclass(frozen=True, order=True)
class Digest:
    algorithm: str
    hex: str

    def __post_init__(self) -> None:
        length = ALGORITHMS.get(self.algorithm)
        if length is None:
            raise InvalidDigest(
                f"unsupported digest algorithm {self.algorithm!r}",
                expected=" or ".join(ALGORITHMS),
                found=self.algorithm,
            )
        if len(self.hex) != length or not _HEX.fullmatch(self.hex):
            raise InvalidDigest(
                f"malformed {self.algorithm} digest",
                expected=f"{length} lower-case hex characters",
                found=f"{len(self.hex)} characters: {self.hex[:80]!r}",
            )

    @classmethod
    def parse(cls, text: str) -> Digest:
        algorithm, sep, encoded = text.partition(":")
        if not sep:
            raise InvalidDigest(
                f"not a digest: {text[:100]!r}",
                expected="<algorithm>:<hex>, e.g. sha256:<64 hex>",
                found=text[:100],
            )
        return cls(algorithm, encoded)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def hasher(self) -> _Hash:
        return hashlib.new(self.algorithm)

    def check(self, data: bytes, what: str) -> None:
        """Raise `DigestMismatch` unless `data` hashes to this digest."""
        actual = hashlib.new(self.algorithm, data).hexdigest()
        if actual != self.hex:
            raise DigestMismatch(what, expected=str(self), found=f"{self.algorithm}:{actual}")

    @property
    def tag_form(self) -> str:
        """The `sha256-<hex>` form used in cosign tags and the referrers tag schema."""
        return f"{self.algorithm}-{self.hex}"

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def looks_like_digest(text: str) -> bool:
    """`<known algorithm>:...`: a digest argument (maybe malformed), never a file name."""
    algorithm, sep, _ = text.partition(":")
    return bool(sep) and algorithm in ALGORITHMS


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
