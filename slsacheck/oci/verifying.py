"""Reading content that must match a digest: whole (capped) or streamed (checked as read).

Every store hands out bytes through these two paths, so the integrity promise of
`slsacheck.oci.store.Store` is kept in one place:

- `read_capped` refuses content over its cap before reading it when the size is known,
  and never reads more than the cap plus one byte when it is not;
- `VerifyingReader` hashes a stream as it is consumed and raises `DigestMismatch` the
  moment the bytes end early, run past the declared size, or hash to another digest,
  so a consumer that reads to the end has read exactly the content the digest names.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from slsacheck.errors import DigestMismatch, TooLarge
from slsacheck.models.descriptor import Descriptor
from slsacheck.models.digest import Digest


def size_mismatch(what: str, descriptor: Descriptor, found_size: int | str) -> DigestMismatch:
    return DigestMismatch(
        what,
        expected=f"{descriptor.digest} ({descriptor.size} bytes)",
        found=f"{found_size} bytes",
        hint="the content is truncated or was replaced; fetch or copy it again from a trusted source",
    )


def too_large(what: str, size: int | str, cap: int) -> TooLarge:
    return TooLarge(
        f"{what} is larger than allowed",
        expected=f"at most {cap} bytes",
        found=f"{size} bytes",
        hint="this is not the content expected here; if it is legitimate, raise the size cap for this kind",
    )


def read_capped(stream: BinaryIO, digest: Digest, *, size: int | None, max_size: int, what: str) -> bytes:
    """Read all of `stream`, which must be `size` bytes (when known) hashing to `digest`."""
    if size is not None and size > max_size:
        raise too_large(what, size, max_size)
    limit = max_size if size is None else size
    data = stream.read(limit + 1)
    if len(data) > limit:
        if size is None:
            raise too_large(what, f"more than {max_size}", max_size)
        raise DigestMismatch(
            what,
            expected=f"{digest} ({size} bytes)",
            found=f"more than {size} bytes",
            hint="the content is longer than its descriptor says; it was replaced or appended to",
        )
    actual = Digest.of(data, digest.algorithm)
    if actual != digest:
        raise DigestMismatch(
            what,
            expected=str(digest) if size is None else f"{digest} ({size} bytes)",
            found=f"{actual} ({len(data)} bytes)",
        )
    return data


class VerifyingReader(io.RawIOBase):
    """A raw stream that yields `descriptor.size` bytes of `source` and checks them.

    The digest is compared as soon as the declared size has been read; the source is
    then probed for one more byte so that appended content is caught too.
    """

    def __init__(self, source: BinaryIO, descriptor: Descriptor, what: str) -> None:
        super().__init__()
        self._source = source
        self._descriptor = descriptor
        self._what = what
        self._hasher = descriptor.digest.hasher()
        self._left = descriptor.size
        self._verified = False
        if self._left == 0:
            self._finish()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._verified:
            return 0
        view = memoryview(buffer).cast("B")
        want = min(len(view), self._left)
        if want == 0:
            return 0
        chunk = self._source.read(want)
        if not chunk:
            raise size_mismatch(self._what, self._descriptor, self._descriptor.size - self._left)
        n = len(chunk)
        view[:n] = chunk
        self._hasher.update(chunk)
        self._left -= n
        if self._left == 0:
            self._finish()
        return n

    def _finish(self) -> None:
        if self._source.read(1):
            raise size_mismatch(self._what, self._descriptor, f"more than {self._descriptor.size}")
        actual = f"{self._descriptor.digest.algorithm}:{self._hasher.hexdigest()}"
        if actual != str(self._descriptor.digest):
            raise DigestMismatch(self._what, expected=str(self._descriptor.digest), found=actual)
        self._verified = True

    @property
    def verified(self) -> bool:
        """True once every byte has been read and matched the digest."""
        return self._verified

    def close(self) -> None:
        try:
            self._source.close()
        finally:
            super().close()
