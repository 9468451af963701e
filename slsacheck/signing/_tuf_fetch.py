"""ngclient's fetcher, bounded: a deadline on each whole file, not only between bytes.

A mirror that drips a byte a second cannot hold a verification for ever; every failure is
one of python-tuf's download errors, which `slsacheck.signing.tuf` turns into its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import urllib3
from tuf.api import exceptions as tuf_errors
from tuf.ngclient.fetcher import FetcherInterface

from slsacheck.signing.tuf_source import DEFAULT_TIMEOUT


class BoundedFetcher(FetcherInterface):
    """ngclient's fetcher with a deadline on each whole file, not only between bytes: a mirror
    that drips a byte a second cannot hold a verification for ever."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        self._pool = urllib3.PoolManager(headers={"User-Agent": "slsacheck"}, retries=False)

    def _fetch(self, url: str) -> Iterator[bytes]:
        deadline = time.monotonic() + self.timeout
        try:
            response = self._pool.request("GET", url, preload_content=False,
                                          timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout))
        except urllib3.exceptions.TimeoutError as exc:
            raise tuf_errors.SlowRetrievalError(f"no answer within {self.timeout:g}s") from exc
        except urllib3.exceptions.HTTPError as exc:
            raise tuf_errors.DownloadError(f"{type(exc).__name__}: {exc}") from exc
        if response.status >= 400:
            response.release_conn()
            raise tuf_errors.DownloadHTTPError(f"{url} answered HTTP {response.status}", response.status)
        return self._chunks(response, url, deadline)

    def _chunks(self, response: Any, url: str, deadline: float) -> Iterator[bytes]:
        try:
            for chunk in response.stream(64 * 1024):
                if time.monotonic() > deadline:
                    raise tuf_errors.SlowRetrievalError(f"{url} took longer than {self.timeout:g}s")
                yield chunk
        except urllib3.exceptions.TimeoutError as exc:
            raise tuf_errors.SlowRetrievalError(f"{url}: no data within {self.timeout:g}s") from exc
        except urllib3.exceptions.HTTPError as exc:
            raise tuf_errors.DownloadError(f"{url}: {type(exc).__name__}: {exc}") from exc
        finally:
            response.release_conn()
