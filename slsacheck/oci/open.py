"""`open_store`: the one way from an `ImageRef` to the `Store` holding it.

Layout references open a `LayoutStore` on their directory; registry references a
`RegistryStore` over a `RegistryClient` from a `ClientPool`, one client per (registry,
options), so that connections and tokens are reused across every store opened on the same
registry. Without a pool of its own, a caller shares the process's (`SHARED_POOL`).
"""

from __future__ import annotations

import threading

from slsacheck.models.reference import ImageRef
from slsacheck.oci._http import RegistryClient
from slsacheck.oci.options import RegistryOptions
from slsacheck.oci.registry import RegistryStore
from slsacheck.oci.store import Store


class ClientPool:
    """Registry clients by (registry, options), created on first use; safe across threads."""

    def __init__(self) -> None:
        self._clients: dict[tuple[str, RegistryOptions], RegistryClient] = {}
        self._lock = threading.Lock()

    def client(self, registry: str, options: RegistryOptions | None = None) -> RegistryClient:
        key = (registry, options or RegistryOptions())
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = RegistryClient(registry, key[1])
            return client


SHARED_POOL = ClientPool()


def client_for(registry: str, options: RegistryOptions | None = None) -> RegistryClient:
    """The process's shared client for `registry` with these options."""
    return SHARED_POOL.client(registry, options)


def open_store(
    ref: ImageRef, options: RegistryOptions | None = None, *, create: bool = False, pool: ClientPool | None = None
) -> Store:
    """The store holding `ref`'s repository; `create` makes a missing layout directory;
    registry clients come from `pool` (the shared one without)."""
    if ref.is_layout:
        # Imported here so that registry-only users (every step's sign, attest and verify)
        # never load the layout code (four modules).
        from slsacheck.oci.layout import LayoutStore  # noqa: PLC0415

        assert ref.layout is not None
        return LayoutStore(ref.layout, create=create)
    return RegistryStore((pool or SHARED_POOL).client(ref.registry, options), ref.repository)
