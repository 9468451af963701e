"""Where images live: the `Store` protocol and its registry and layout implementations.

The registry half pulls in `http.client`, `ssl` and the credential helpers; it is loaded
on first use of its names, so that modules importing only `slsacheck.oci.store` (and
`slsacheck --help`) stay light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from slsacheck.oci.store import Store

if TYPE_CHECKING:
    from slsacheck.oci._http import RegistryClient
    from slsacheck.oci.layout import LayoutStore
    from slsacheck.oci.open import open_store
    from slsacheck.oci.options import RegistryOptions
    from slsacheck.oci.registry import RegistryStore

_LAZY = {
    "LayoutStore": "slsacheck.oci.layout",
    "RegistryClient": "slsacheck.oci._http",
    "RegistryOptions": "slsacheck.oci.options",
    "RegistryStore": "slsacheck.oci.registry",
    "open_store": "slsacheck.oci.open",
}

__all__ = ["LayoutStore", "RegistryClient", "RegistryOptions", "RegistryStore", "Store", "open_store"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'slsacheck.oci' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
