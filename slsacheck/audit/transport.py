"""Registry clients for an audit: one per registry, pooled for the audit's concurrency, rate limited.

An audit sends thousands of requests to a few registries from many threads. Each registry
gets one `RegistryClient` (connections and tokens shared by every repository on it) that
keeps as many idle connections as there are workers (the default of 10 would drop
connections above that and reconnect), and takes a token from that registry's
`RateLimiter` before every request. `Retry-After` and retries on
429/5xx stay the client's job: the limiter only keeps us from causing them.
"""

from __future__ import annotations

import threading
import time

from slsacheck.oci._http import RegistryClient
from slsacheck.oci.options import RegistryOptions


class RateLimiter:
    """A token bucket: at most `rate` requests a second on average, bursts up to `burst`."""

    def __init__(self, rate: float, burst: int | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = float(burst if burst is not None else max(1, int(rate)))
        self._tokens = self.burst
        self._stamp = time.monotonic()
        self._lock = threading.Lock()
        self.waited = 0.0  # seconds spent waiting, summed over callers

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self.rate
                self.waited += wait
            time.sleep(wait)


class Clients:
    """The audit's registry clients, made on first use, one per registry."""

    def __init__(self, options: RegistryOptions, *, pool: int = 10, rate: float | None = None) -> None:
        self.options = options
        self.pool = max(1, pool)
        self.rate = rate
        self._clients: dict[str, RegistryClient] = {}
        self.limiters: dict[str, RateLimiter] = {}
        self._lock = threading.Lock()

    def get(self, registry: str) -> RegistryClient:
        with self._lock:
            client = self._clients.get(registry)
            if client is None:
                limiter = None
                if self.rate is not None:
                    limiter = self.limiters[registry] = RateLimiter(self.rate)
                client = self._clients[registry] = RegistryClient(
                    registry, self.options, pool=self.pool, before_send=limiter.acquire if limiter else None)
            return client
