"""Reading HTTP bodies safely: capped, and checked against a digest while streaming.

Invariants: nothing is read past its cap (`TooLarge` as soon as the cap is crossed, or
before reading when `Content-Length` already says so); a verified stream raises
`DigestMismatch` at its end unless every byte hashed to the digest asked for and the
length equals the descriptor's size; transport failures in the middle of a body become
`RegistryError`, never a short read that looks like success.
"""

from __future__ import annotations

import http.client
import io
from collections.abc import Callable, Iterator

from slsacheck._numbers import decimal
from slsacheck.errors import DigestMismatch, RegistryError, TooLarge
from slsacheck.models.digest import Digest
from slsacheck.oci._transport import Response

CHUNK = 64 * 1024

# Builds the RegistryError for a body that broke off: (what, bytes read so far, cause).
ErrorFactory = Callable[[str, int, BaseException], RegistryError]


def declared_length(response: Response) -> int | None:
    value = response.headers.get("Content-Length")
    if value is None or response.headers.get("Content-Encoding"):
        return None
    return decimal(value)


def check_length(response: Response, cap: int, what: str) -> None:
    length = declared_length(response)
    if length is not None and length > cap:
        response.close()
        raise TooLarge(
            f"{what} is larger than the cap", expected=f"at most {cap} bytes", found=f"{length} bytes (Content-Length)"
        )


def iter_body(response: Response, what: str, broken: ErrorFactory) -> Iterator[bytes]:
    """The body in chunks; a transport failure mid-body becomes `broken(...)`."""
    seen = 0
    try:
        for chunk in response.iter_content(CHUNK):
            seen += len(chunk)
            yield chunk
    except (OSError, http.client.HTTPException) as exc:
        response.close()
        raise broken(what, seen, exc) from None


def read_capped(response: Response, cap: int, what: str, broken: ErrorFactory) -> bytes:
    """The whole body, refusing more than `cap` bytes."""
    check_length(response, cap, what)
    parts: list[bytes] = []
    total = 0
    for chunk in iter_body(response, what, broken):
        total += len(chunk)
        if total > cap:
            response.close()
            raise TooLarge(
                f"{what} is larger than the cap", expected=f"at most {cap} bytes", found=f"more than {cap} bytes"
            )
        parts.append(chunk)
    response.close()
    return b"".join(parts)


def check_blob(data: bytes, digest: Digest, size: int, what: str) -> None:
    """Exact size and digest, or `DigestMismatch` naming both digests."""
    if len(data) != size:
        actual = Digest.of(data, digest.algorithm)
        raise DigestMismatch(what, expected=f"{digest} ({size} bytes)", found=f"{actual} ({len(data)} bytes)")
    digest.check(data, what)


class VerifyingReader(io.RawIOBase):
    """A blob's body as a file, hashed while read; the end is checked, not trusted.

    Reading past `size` bytes is refused (`TooLarge`); reaching the end with another
    length or digest raises `DigestMismatch`. `close()` releases the connection.
    """

    def __init__(
        self, response: Response, digest: Digest, size: int, what: str, broken: ErrorFactory
    ) -> None:
        super().__init__()
        self._response = response
        self._chunks = iter_body(response, what, broken)
        self._digest = digest
        self._size = size
        self._what = what
        self._hasher = digest.hasher()
        self._seen = 0
        self._pending = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._done:
            return 0
        if not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                self._finish()
                return 0
            self._seen += len(chunk)
            if self._seen > self._size:
                self.close()
                raise TooLarge(
                    f"{self._what} is longer than its descriptor says",
                    expected=f"{self._size} bytes",
                    found=f"more than {self._size} bytes",
                )
            self._hasher.update(chunk)
            self._pending = chunk
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _finish(self) -> None:
        self._done = True
        actual = Digest(self._digest.algorithm, self._hasher.hexdigest())
        self._response.close()
        if self._seen != self._size or actual != self._digest:
            raise DigestMismatch(
                self._what, expected=f"{self._digest} ({self._size} bytes)", found=f"{actual} ({self._seen} bytes)"
            )

    def close(self) -> None:
        self._response.close()
        super().close()
