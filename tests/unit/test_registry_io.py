"""Bodies are read capped and checked against their digest while streaming (no network:
responses over in-memory bodies)."""

from __future__ import annotations

import io

import pytest

from slsacheck.errors import DigestMismatch, RegistryError, TooLarge
from slsacheck.models.digest import Digest
from slsacheck.oci._io import VerifyingReader, read_capped
from slsacheck.oci._transport import Response

DATA = bytes(range(256)) * 40  # 10 KiB


def _response(body: bytes, length: int | None = None) -> Response:
    return Response.of(200, body, {"Content-Length": str(length)} if length is not None else {})


def _broken(what: str, seen: int, cause: BaseException) -> RegistryError:
    return RegistryError(f"{what} broke off after {seen}")


def _reader(body: bytes, digest: Digest, size: int) -> io.BufferedReader:
    return io.BufferedReader(VerifyingReader(_response(body), digest, size, "blob", _broken), 1024)


def test_exact_content_reads_through() -> None:
    assert _reader(DATA, Digest.of(DATA), len(DATA)).read() == DATA


def test_changed_byte_fails_at_the_end() -> None:
    bad = DATA[:-1] + b"\x00"
    reader = _reader(bad, Digest.of(DATA), len(DATA))
    assert len(reader.read(4096)) == 4096  # nothing known yet
    with pytest.raises(DigestMismatch) as err:
        reader.read()
    assert err.value.expected == f"{Digest.of(DATA)} ({len(DATA)} bytes)"
    assert err.value.found == f"{Digest.of(bad)} ({len(DATA)} bytes)"


def test_short_content_fails_at_the_end() -> None:
    with pytest.raises(DigestMismatch, match="digest mismatch"):
        _reader(DATA[:100], Digest.of(DATA), len(DATA)).read()


def test_longer_content_is_refused_while_reading() -> None:
    with pytest.raises(TooLarge):
        _reader(DATA + b"more", Digest.of(DATA), len(DATA)).read()


def test_read_capped() -> None:
    assert read_capped(_response(DATA), len(DATA), "x", _broken) == DATA
    with pytest.raises(TooLarge, match="larger than the cap"):
        read_capped(_response(DATA), len(DATA) - 1, "x", _broken)  # no Content-Length: found while reading
    with pytest.raises(TooLarge) as err:
        read_capped(_response(DATA, length=10**9), 4096, "x", _broken)  # refused before reading
    assert "Content-Length" in str(err.value.found)
