"""`RegistryStore`: one repository in a registry, through the OCI distribution API.

It keeps every promise of `slsacheck.oci.store.Store`:

- every manifest read is checked against the digest asked for, or, when asked by tag,
  against the registry's own `Docker-Content-Digest`; every blob against its descriptor's
  digest and size; the mismatch is a `DigestMismatch` naming both digests;
- manifests are capped at 4 MiB, in-memory blobs at `max_size` (`TooLarge`); streamed
  blobs are checked as they are read (`open_blob`);
- manifests are sent and kept as exact bytes, so their digests survive;
- a registry without the referrers API (404) is read, and written by `push_referrer`,
  through the `sha256-<hex>` tag schema.

HTTP, TLS, auth and retries are `RegistryClient`'s job (`slsacheck.oci._http`); uploads
live in `slsacheck.oci._upload`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, BinaryIO
from urllib.parse import urlencode

from slsacheck._json import Refused, parse
from slsacheck._numbers import decimal
from slsacheck.errors import DigestMismatch, NotFound, RegistryError, TooLarge
from slsacheck.models import mediatypes as mt
from slsacheck.models.descriptor import Descriptor, MalformedManifest, Manifest
from slsacheck.models.digest import Digest, InvalidDigest
from slsacheck.oci._http import RegistryClient
from slsacheck.oci._io import CHUNK, VerifyingReader, check_blob, check_length, read_capped
from slsacheck.oci._transport import Response
from slsacheck.oci._upload import mount_blob, push_blob

MANIFEST_ACCEPT = ", ".join([mt.OCI_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST])
_MAX_PAGES = 10_000
# Referrers one listing may hold: far more than any verification reads (it stops at 256
# bundles), few enough that a repository flooded with referrers cannot fill memory.
MAX_REFERRERS = 10_000
_MAX_LISTING = 16 * 1024 * 1024
# The largest blob uploaded without a HEAD first when its writer says it is fresh (a
# signature layer or a config is a few KiB, an attestation tens): above it, one upload made
# in vain would cost more than the HEADs it saves.
_FRESH_MAX = 64 * 1024


class BodyInterrupted(RegistryError):
    """The connection broke off in the middle of a body; the request may be retried."""


def _media_type(response: Response) -> str | None:
    value = response.headers.get("Content-Type")
    return value.split(";", 1)[0].strip() if value else None


def _as_digest(reference: str) -> Digest | None:
    return Digest.parse(reference) if ":" in reference else None


class RegistryStore:
    """Manifests, blobs, tags and referrers of `repository` on `client`'s registry."""

    def __init__(self, client: RegistryClient, repository: str) -> None:
        self.client = client
        self.repository = repository

    @property
    def location(self) -> str:
        return f"{self.client.registry}/{self.repository}"

    @property
    def registry(self) -> str:
        return self.client.registry

    def __repr__(self) -> str:
        return f"RegistryStore({self.location!r})"

    def _path(self, kind: str, reference: str) -> str:
        return f"/v2/{self.repository}/{kind}/{reference}"

    def _broken(self, what: str, seen: int, cause: BaseException) -> RegistryError:
        return BodyInterrupted(
            f"{self.location}: the connection broke off while reading {what} after {seen} bytes",
            registry=self.client.registry,
            repository=self.repository,
            found=f"{type(cause).__name__}: {str(cause)[:200]}",
            hint="the registry or a proxy in between cut the transfer; try again",
        )

    def _digest_header(self, response: Response) -> Digest | None:
        value = response.headers.get("Docker-Content-Digest")
        if not value:
            return None
        try:
            return Digest.parse(value.strip())
        except InvalidDigest as exc:
            raise RegistryError(
                f"{self.location}: the registry sent a malformed Docker-Content-Digest header",
                registry=self.client.registry,
                repository=self.repository,
                found=value[:200],
                hint="the registry is misbehaving; tell its operator",
            ) from exc

    def _get(self, path: str, cap: int, what: str, headers: dict[str, str]) -> tuple[bytes, Response]:
        """GET a whole body under `cap`, again if the connection breaks off mid-body."""
        attempts = 1 + self.client.options.retries
        for attempt in range(attempts):
            response = self.client.request("GET", path, repository=self.repository, headers=headers, stream=True,
                                           what=f"fetch {what}")
            try:
                return read_capped(response, cap, what, self._broken), response
            except BodyInterrupted:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    # -- manifests ------------------------------------------------------------------------

    def resolve(self, reference: str) -> Descriptor:
        asked = _as_digest(reference)
        response = self.client.request(
            "HEAD", self._path("manifests", reference), repository=self.repository,
            headers={"Accept": MANIFEST_ACCEPT}, what=f"resolve {reference}",
        )
        response.close()
        digest = self._digest_header(response)
        media_type = _media_type(response)
        length = decimal(response.headers.get("Content-Length", ""))
        if digest is None or media_type not in mt.MANIFEST_TYPES or length is None:
            # Some registries answer HEAD without the digest: the body tells.
            return self.fetch_manifest(reference).descriptor
        if asked is not None and digest != asked:
            raise DigestMismatch(f"manifest {self.location}@{asked} (HEAD)", expected=str(asked), found=str(digest))
        return Descriptor(media_type, digest, length)

    def fetch_manifest(self, reference: str, *, max_size: int = mt.MAX_MANIFEST_SIZE) -> Manifest:
        asked = _as_digest(reference)
        what = f"manifest {self.location}{'@' if asked else ':'}{reference}"
        raw, response = self._get(self._path("manifests", reference), max_size, what, {"Accept": MANIFEST_ACCEPT})
        claimed = self._digest_header(response)
        # By digest: the bytes must hash to it. By tag: to what the registry says it served.
        expected = asked or claimed
        if expected is not None:
            expected.check(raw, what)
        manifest = Manifest.parse(raw, _media_type(response), where=what)
        if expected is not None and expected != manifest.digest:
            manifest = replace(manifest, descriptor=replace(manifest.descriptor, digest=expected))
        return manifest

    def push_manifest(self, manifest: bytes, media_type: str, *, tag: str | None = None) -> Descriptor:
        return self._put_manifest(manifest, media_type, tag)[0]

    def _put_manifest(self, manifest: bytes, media_type: str, tag: str | None) -> tuple[Descriptor, Response]:
        descriptor = Descriptor.of(manifest, media_type)
        if descriptor.size > mt.MAX_MANIFEST_SIZE:
            raise TooLarge(
                f"manifest for {self.location} is larger than registries accept",
                expected=f"at most {mt.MAX_MANIFEST_SIZE} bytes",
                found=f"{descriptor.size} bytes",
            )
        reference = tag or str(descriptor.digest)
        response = self.client.request(
            "PUT", self._path("manifests", reference), repository=self.repository, actions="pull,push",
            headers={"Content-Type": media_type}, data=manifest, ok=(200, 201, 202),
            what=f"push manifest {descriptor.digest} as {reference}",
        )
        response.close()
        stored = self._digest_header(response)
        if stored is not None and stored.algorithm == descriptor.digest.algorithm and stored != descriptor.digest:
            raise DigestMismatch(
                f"manifest pushed to {self.location}:{reference}", expected=str(descriptor.digest), found=str(stored),
                hint="the registry stored other bytes than we sent; it may rewrite manifests",
            )
        return descriptor, response

    def push_referrer(self, manifest: bytes, media_type: str, *, tag: str | None = None) -> Descriptor:
        """Push a manifest that has a `subject`, and list it in the `sha256-<hex>` fallback
        index of its subject unless the registry answered with `OCI-Subject` (it indexes
        referrers itself)."""
        parsed = Manifest.parse(manifest, media_type, where="referrer manifest")
        subject = parsed.subject
        if subject is None:
            raise MalformedManifest("push_referrer: the manifest has no 'subject'", hint="use push_manifest")
        descriptor, response = self._put_manifest(manifest, media_type, tag)
        if response.headers.get("OCI-Subject"):
            return descriptor
        entry = descriptor.to_json()
        artifact_type = parsed.descriptor.artifact_type or (parsed.config.media_type if parsed.config else None)
        if artifact_type:
            entry["artifactType"] = artifact_type
        if parsed.annotations:
            entry["annotations"] = dict(parsed.annotations)
        self._add_to_fallback(subject.digest, entry)
        return descriptor

    def _add_to_fallback(self, subject: Digest, entry: dict[str, Any]) -> None:
        tag = subject.tag_form
        # No conditional PUT in the distribution API: write, read back, and merge again if
        # another writer's index replaced ours in between (bounded).
        for _ in range(5):
            try:
                index: dict[str, Any] = dict(self.fetch_manifest(tag).json)
            except NotFound:
                index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}
            manifests = [m for m in index.get("manifests") or [] if isinstance(m, dict)]
            if any(m.get("digest") == entry["digest"] for m in manifests):
                return
            index["manifests"] = [*manifests, entry]
            self.push_manifest(json.dumps(index, separators=(",", ":")).encode(), mt.OCI_INDEX, tag=tag)
        raise RegistryError(
            f"{self.location}:{tag}: the referrers fallback index kept losing our entry",
            registry=self.client.registry, repository=self.repository,
            hint="another writer is updating the same index; try again",
        )

    # -- blobs ------------------------------------------------------------------------------

    def blob_exists(self, digest: Digest) -> bool:
        try:
            self.client.request(
                "HEAD", self._path("blobs", str(digest)), repository=self.repository, what=f"check blob {digest}"
            ).close()
        except NotFound:
            return False
        return True

    def fetch_blob(self, descriptor: Descriptor, *, max_size: int | None = None) -> bytes:
        cap = self.client.options.max_blob_size if max_size is None else max_size
        what = f"blob {self.location}@{descriptor.digest}"
        if descriptor.size > cap:
            raise TooLarge(f"{what} is larger than the cap", expected=f"at most {cap} bytes",
                           found=f"{descriptor.size} bytes (descriptor)",
                           hint="stream it (open_blob) or raise the cap")
        # One byte past the declared size is enough to know the registry sent too much.
        data, _ = self._get(self._path("blobs", str(descriptor.digest)), descriptor.size + 1, what, {})
        check_blob(data, descriptor.digest, descriptor.size, what)
        return data

    @contextmanager
    def open_blob(self, descriptor: Descriptor) -> Iterator[BinaryIO]:
        what = f"blob {self.location}@{descriptor.digest}"
        response = self.client.request(
            "GET", self._path("blobs", str(descriptor.digest)), repository=self.repository, stream=True,
            what=f"fetch {what}",
        )
        check_length(response, descriptor.size, what)
        reader = io.BufferedReader(VerifyingReader(response, descriptor.digest, descriptor.size, what, self._broken),
                                   CHUNK)
        try:
            yield reader
        finally:
            reader.close()

    def push_blob(self, descriptor: Descriptor, data: bytes | BinaryIO, *, fresh: bool = False) -> None:
        # A fresh blob is uploaded unasked only when small and in memory: a large or streamed
        # one uploaded in vain would cost more than the HEAD that could have saved it.
        unasked = fresh and isinstance(data, bytes) and descriptor.size <= _FRESH_MAX
        if not unasked:
            if not self.blob_exists(descriptor.digest):
                push_blob(self, descriptor, data)
            return
        try:
            push_blob(self, descriptor, data)
        except RegistryError:
            # A registry may refuse to store again a blob it has (the spec allows it; some
            # do not): asked after the fact, the blob being there is what the caller needed.
            if not self.blob_exists(descriptor.digest):
                raise

    def mount_blob(self, descriptor: Descriptor, from_repository: str) -> bool:
        """Ask the registry to link a blob from another repository on it; False if it did not."""
        return mount_blob(self, descriptor, from_repository)

    # -- listings ---------------------------------------------------------------------------

    def tags(self) -> Iterator[str]:
        path: str | None = f"/v2/{self.repository}/tags/list?n={self.client.options.tags_page_size}"
        for _ in range(_MAX_PAGES):
            if path is None:
                return
            body, response = self._get(path, _MAX_LISTING, f"tags of {self.location}", {"Accept": "application/json"})
            tags = self._json(body, "tags list").get("tags") or []
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise self._malformed("tags list", "'tags' must be a list of strings")
            yield from tags
            path = response.links.get("next", {}).get("url")
        raise self._malformed("tags list", f"more than {_MAX_PAGES} pages")

    def referrers(self, subject: Digest, *, artifact_type: str | None = None) -> list[Descriptor]:
        found = self._referrers_api(subject, artifact_type)
        if found is None:
            try:
                index = self.fetch_manifest(subject.tag_form)
            except NotFound:
                return []
            found = index.children
        return [d for d in found if artifact_type is None or d.artifact_type == artifact_type]

    def _referrers_api(self, subject: Digest, artifact_type: str | None) -> list[Descriptor] | None:
        """The referrers API's answer (all pages), or None where the registry has no such API."""
        path: str | None = self._path("referrers", str(subject))
        if artifact_type:
            path = f"{path}?{urlencode({'artifactType': artifact_type})}"
        out: list[Descriptor] = []
        what = f"referrers of {self.location}@{subject}"
        for _ in range(_MAX_PAGES):
            if path is None:
                return out
            try:
                body, response = self._get(path, mt.MAX_MANIFEST_SIZE, what, {"Accept": mt.OCI_INDEX})
            except NotFound:
                if out:
                    raise
                return None
            manifests = self._json(body, what).get("manifests") or []
            if not isinstance(manifests, list):
                raise self._malformed(what, "'manifests' must be a list")
            out.extend(Descriptor.from_json(m, f"{what} manifests[{i}]") for i, m in enumerate(manifests))
            if len(out) > MAX_REFERRERS:
                # A RegistryError: whoever reads the listing cannot judge a part of it.
                raise RegistryError(
                    f"{self.location}: more than {MAX_REFERRERS} referrers of {subject}; the listing was not read",
                    registry=self.client.registry, repository=self.repository,
                    hint="delete the junk referrers of this image",
                )
            path = response.links.get("next", {}).get("url")
        raise self._malformed(what, f"more than {_MAX_PAGES} pages")

    def _json(self, body: bytes, what: str) -> dict[str, Any]:
        try:
            obj = parse(body)
        except Refused:
            obj = None
        if not isinstance(obj, dict):
            raise self._malformed(what, "not a JSON object")
        return obj

    def _malformed(self, what: str, problem: str) -> RegistryError:
        return RegistryError(
            f"{self.location}: the registry sent a malformed {what}: {problem}",
            registry=self.client.registry, repository=self.repository,
            hint="the registry is misbehaving; tell its operator",
        )
