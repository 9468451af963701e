"""Content digests (`sha256:<hex>`, `sha512:<hex>`, ...): parse strictly, compute, check.

Accepted: the algorithms the OCI image spec registers (sha256, sha512) and the other
SHA-2/SHA-3 members in-toto digest sets name for subjects and artifacts (sha384, as
npm and Sigstore message digests use; sha3_256/384/512), each with exactly its encoded
length, in lower case. Weak ones (sha1, md5, sha224) and anything else are refused with
a message that says which part is wrong: a digest slsacheck cannot check is never passed
along as if it were one.

What is known of an artifact (its bytes, or one digest of it) is `models.artifact`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
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
