"""How slsacheck talks to registries: trust, credentials, limits (one frozen value).

`RegistryOptions` is hashable so that one `RegistryClient` (and its connection pool and
token cache) can be shared per (registry, options). Nothing here weakens TLS: there is a
way to add a CA, and a way to name hosts that speak plain HTTP, never a skip-verify.
"""

from __future__ import annotations

from dataclasses import dataclass

from slsacheck.models import mediatypes as mt


@dataclass(frozen=True)
class RegistryOptions:
    """Settings for every registry a command talks to.

    - `ca_bundle`: PEM file of the CAs to trust instead of the system store.
    - `allow_http`: registries (`host` or `host:port`) allowed to speak plain HTTP, besides
      loopback hosts (127.0.0.0/8, ::1, localhost), which always are.
    - `docker_config`: a docker `config.json` (or the directory holding it) to read
      credentials from, instead of `DOCKER_CONFIG`, `~/.docker` and `REGISTRY_AUTH_FILE`.
    - `timeout`: seconds for connecting and for each read on every request.
    - `retries`: extra attempts for idempotent requests on connection errors, 429 and 5xx.
    - `max_blob_size`: default cap for blobs read into memory.
    - `chunk_size`: blobs larger than this are uploaded in chunks (PATCH) of this size.
    - `tags_page_size`: tags asked for per page when listing tags.
    - `max_retry_after`: the longest `Retry-After` (seconds) honoured; longer waits fail.
    - `max_evidence_bytes`: distinct evidence bytes one verification may read; past it the
      verdict is incomplete, never judged on part of the evidence.
    """

    ca_bundle: str | None = None
    allow_http: frozenset[str] = frozenset()
    docker_config: str | None = None
    timeout: float = 30.0
    retries: int = 3
    max_blob_size: int = mt.MAX_EVIDENCE_SIZE
    chunk_size: int = 8 * 1024 * 1024
    tags_page_size: int = 1000
    max_retry_after: float = 30.0
    max_evidence_bytes: int = mt.MAX_VERIFICATION_EVIDENCE
