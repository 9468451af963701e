"""`open_store`: the one way from an `ImageRef` to the `Store` holding it.

Layout references open a `LayoutStore` on their directory; registry references a
`RegistryStore` over a `RegistryClient` shared per (registry, options), so that connections
and tokens are reused across every store a command opens on the same registry.
"""

from __future__ import annotations

import threading

from slsacheck.models.reference import ImageRef
from slsacheck.oci._http import RegistryClient
from slsacheck.oci.options import RegistryOptions
from slsacheck.oci.registry import RegistryStore
from slsacheck.oci.store import Store

_clients: dict[tuple[str, RegistryOptions], RegistryClient] = {}
_lock = threading.Lock()


def client_for(registry: str, options: RegistryOptions | None = None) -> RegistryClient:
    """The shared client for `registry` with these options."""
    key = (registry, options or RegistryOptions())
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = RegistryClient(registry, key[1])
        return client


def open_store(ref: ImageRef, options: RegistryOptions | None = None, *, create: bool = False) -> Store:
    """The store holding `ref`'s repository; `create` makes a missing layout directory."""
    if ref.is_layout:
        # Imported here so that registry-only users never load the layout code, and back.
        from slsacheck.oci.layout import LayoutStore  # noqa: PLC0415

        assert ref.layout is not None
        return LayoutStore(ref.layout, create=create)
    return RegistryStore(client_for(ref.registry, options), ref.repository)
