"""Where images live: the `Store` protocol and its registry and layout implementations."""

from slsacheck.oci.store import Store

__all__ = ["Store"]
