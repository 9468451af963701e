"""Blob uploads to a registry: monolithic (POST + PUT), chunked (POST + PATCH... + PUT), mount.

Invariants: nothing is committed under a digest the bytes do not have: in-memory data is
checked before it is sent, streamed data is hashed while it is sent and the upload is
cancelled, not committed, when it does not match. The registry's `Docker-Content-Digest`
on commit must name the digest we committed. A failed upload session is cancelled.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from slsacheck.errors import DigestMismatch, RegistryError
from slsacheck.models.descriptor import Descriptor
from slsacheck.models.digest import Digest
from slsacheck.oci._io import check_blob
from slsacheck.oci._transport import Response

if TYPE_CHECKING:
    from slsacheck.oci.registry import RegistryStore

_OCTETS = "application/octet-stream"


def _location(store: RegistryStore, response: Response, what: str) -> str:
    location = response.headers.get("Location")
    response.close()
    if not location:
        raise RegistryError(
            f"{store.location}: {what}: the registry gave no upload Location",
            registry=store.client.registry, repository=store.repository, status=response.status_code,
            hint="the registry is misbehaving; tell its operator",
        )
    return store.client.url(location)


def _with_digest(url: str, digest: Digest) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("digest", str(digest))]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _start(store: RegistryStore, what: str) -> str:
    response = store.client.request(
        "POST", f"/v2/{store.repository}/blobs/uploads/", repository=store.repository, actions="pull,push",
        ok=(202,), what=what,
    )
    return _location(store, response, what)


def _cancel(store: RegistryStore, location: str) -> None:
    # Best effort: registries purge abandoned uploads themselves.
    with contextlib.suppress(RegistryError):
        store.client.request(
            "DELETE", location, repository=store.repository, actions="pull,push", ok=(200, 202, 204, 404),
            retry=False, what="cancel upload",
        ).close()


def _commit(store: RegistryStore, location: str, descriptor: Descriptor, body: bytes, what: str) -> None:
    response = store.client.request(
        "PUT", _with_digest(location, descriptor.digest), repository=store.repository, actions="pull,push",
        headers={"Content-Type": _OCTETS}, data=body, ok=(201, 204), retry=False, what=what,
    )
    response.close()
    stored = response.headers.get("Docker-Content-Digest")
    if stored and stored.strip() != str(descriptor.digest):
        raise DigestMismatch(
            f"blob committed to {store.location}", expected=str(descriptor.digest), found=stored.strip()[:200],
            hint="the registry stored other bytes than we sent",
        )


def _transient(exc: RegistryError) -> bool:
    return exc.status is None or exc.status == 429 or exc.status >= 500


def _monolithic(store: RegistryStore, descriptor: Descriptor, data: bytes) -> None:
    what = f"upload blob {descriptor.digest}"
    attempts = 1 + store.client.options.retries
    for attempt in range(attempts):
        location = _start(store, what)
        try:
            _commit(store, location, descriptor, data, what)
            return
        except RegistryError as exc:
            _cancel(store, location)
            if attempt == attempts - 1 or not _transient(exc):
                raise


def _chunked(store: RegistryStore, descriptor: Descriptor, chunks: Iterator[bytes]) -> None:
    what = f"upload blob {descriptor.digest} in chunks"
    location = _start(store, what)
    hasher = descriptor.digest.hasher()
    offset = 0
    try:
        for chunk in chunks:
            if offset + len(chunk) > descriptor.size:
                raise DigestMismatch(
                    f"blob {descriptor.digest} to upload", expected=f"{descriptor.size} bytes",
                    found=f"more than {descriptor.size} bytes",
                )
            hasher.update(chunk)
            response = store.client.request(
                "PATCH", location, repository=store.repository, actions="pull,push",
                headers={
                    "Content-Type": _OCTETS,
                    "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                },
                data=chunk, ok=(202,), retry=False, what=f"{what} (bytes {offset}-)",
            )
            location = _location(store, response, what)
            offset += len(chunk)
        actual = Digest(descriptor.digest.algorithm, hasher.hexdigest())
        if offset != descriptor.size or actual != descriptor.digest:
            raise DigestMismatch(
                f"blob to upload to {store.location}",
                expected=f"{descriptor.digest} ({descriptor.size} bytes)", found=f"{actual} ({offset} bytes)",
            )
        _commit(store, location, descriptor, b"", what)
    except BaseException:
        _cancel(store, location)
        raise


def _read_exactly(stream: BinaryIO, limit: int) -> bytes:
    parts: list[bytes] = []
    left = limit
    while left > 0:
        chunk = stream.read(min(left, 1024 * 1024))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _stream_chunks(stream: BinaryIO, size: int, chunk_size: int) -> Iterator[bytes]:
    # Read one byte past the declared size so that a longer stream is noticed.
    left = size + 1
    while left > 0:
        chunk = _read_exactly(stream, min(chunk_size, left))
        if not chunk:
            return
        left -= len(chunk)
        yield chunk


def push_blob(store: RegistryStore, descriptor: Descriptor, data: bytes | BinaryIO) -> None:
    """Upload a blob the registry does not have yet (the caller checked)."""
    chunk_size = max(1, store.client.options.chunk_size)
    what = f"blob {descriptor.digest} to upload to {store.location}"
    if isinstance(data, bytes | bytearray | memoryview):
        body = bytes(data)
        check_blob(body, descriptor.digest, descriptor.size, what)
        if len(body) <= chunk_size:
            _monolithic(store, descriptor, body)
        else:
            view = memoryview(body)
            _chunked(store, descriptor, (bytes(view[i : i + chunk_size]) for i in range(0, len(body), chunk_size)))
        return
    if descriptor.size <= chunk_size:
        body = _read_exactly(data, descriptor.size + 1)
        check_blob(body, descriptor.digest, descriptor.size, what)
        _monolithic(store, descriptor, body)
        return
    _chunked(store, descriptor, _stream_chunks(data, descriptor.size, chunk_size))


def mount_blob(store: RegistryStore, descriptor: Descriptor, from_repository: str) -> bool:
    """Cross-repository mount; False (and no upload left open) when the registry declines."""
    if from_repository == store.repository:
        return store.blob_exists(descriptor.digest)
    response = store.client.request(
        "POST", f"/v2/{store.repository}/blobs/uploads/", repository=store.repository, actions="pull,push",
        scopes=(f"repository:{from_repository}:pull",),
        params={"mount": str(descriptor.digest), "from": from_repository}, ok=(201, 202),
        what=f"mount blob {descriptor.digest} from {from_repository}",
    )
    if response.status_code == 201:
        response.close()
        return True
    # 202: the registry started an ordinary upload instead; we do not want it.
    _cancel(store, _location(store, response, "mount"))
    return False
