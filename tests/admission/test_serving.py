"""`GatheringTransport`: the writes of one event-loop step leave as one, nothing lost or reordered.

Over a real loopback TCP connection; the transport underneath is wrapped only to count the
writes it is asked for.
"""

from __future__ import annotations

import asyncio
from typing import Any

from slsacheck.admission.serving import GatheringTransport, http_protocol


class _Counting:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer  # kept: a StreamWriter closes its transport when collected
        self.transport = writer.transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


async def _pair() -> tuple[_Counting, asyncio.StreamReader, asyncio.Server]:
    accepted: asyncio.Future[asyncio.StreamReader] = asyncio.get_running_loop().create_future()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set_result(reader)

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    return _Counting(writer), await accepted, server


def test_writes_of_one_step_are_sent_as_one_in_order_and_close_sends_them_first() -> None:
    async def scenario() -> None:
        under, reader, server = await _pair()
        gathering = GatheringTransport(under, asyncio.get_running_loop())  # type: ignore[arg-type]
        gathering.write(b"HTTP/1.1 200 OK\r\n\r\n")
        gathering.write(memoryview(b"{\"allowed\":true}"))
        assert under.writes == []  # nothing sent within the step
        await asyncio.sleep(0)
        assert under.writes == [b"HTTP/1.1 200 OK\r\n\r\n{\"allowed\":true}"]
        gathering.write(b"second")
        await asyncio.sleep(0)
        gathering.write(b"third")
        gathering.close()  # what is gathered goes out before the connection closes
        assert under.writes[1:] == [b"second", b"third"]
        assert await reader.read() == b"HTTP/1.1 200 OK\r\n\r\n{\"allowed\":true}secondthird"
        gathering.write(b"after close")
        await asyncio.sleep(0)
        assert len(under.writes) == 3 and gathering.is_closing()
        server.close()
        await server.wait_closed()

    asyncio.run(scenario())


def test_abort_drops_what_was_gathered() -> None:
    async def scenario() -> None:
        under, reader, server = await _pair()
        gathering = GatheringTransport(under, asyncio.get_running_loop())  # type: ignore[arg-type]
        gathering.write(b"never sent")
        gathering.abort()
        await asyncio.sleep(0)
        assert under.writes == [] and await reader.read() == b""
        server.close()
        await server.wait_closed()

    asyncio.run(scenario())


def test_the_server_uses_the_gathering_protocol_when_httptools_is_there() -> None:
    protocol = http_protocol()
    assert not isinstance(protocol, str) and protocol.__name__ == "GatheringHttpTools"
