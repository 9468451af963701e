"""How the webhook's HTTP server writes: one write per response.

uvicorn's httptools protocol writes a response's head and its body as two transport
writes; over TLS each becomes its own record and its own `send`, and on a warm review
those two sends were the largest single cost left (more than the review itself). The
protocol here hands uvicorn a transport that gathers what is written during one step of
the event loop and sends it as one write at the end of that step: the same bytes, in the
same order, one TLS record, one system call. `close()` sends what is gathered first.

`http_protocol()` is what `slsacheck serve` (and the tests' server) give uvicorn as its
`http` setting: this protocol when httptools is installed (the `server` extra), else
uvicorn's own choice.
"""

from __future__ import annotations

import asyncio
from typing import Any


class GatheringTransport:
    """`transport`, with the writes of one event-loop step sent as one."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def http_protocol() -> type[asyncio.Protocol] | str:
    """uvicorn's httptools protocol writing through a `GatheringTransport`, or "auto" without httptools."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol  # noqa: PLC0415
    except ImportError:
        return "auto"

    class GatheringHttpTools(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            gathering: Any = GatheringTransport(transport, self.loop)
            super().connection_made(gathering)

    return GatheringHttpTools
