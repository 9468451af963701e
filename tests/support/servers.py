"""A threaded loopback HTTP server with a bound on its threads, for test doubles; a black hole.

Each connection gets a thread, but at most `max_threads` at once: a test that goes wrong
cannot make the machine spawn threads without end. `serve()` runs it in the background
and shuts it down (and closes its socket) when the context ends.

`black_hole()` is a TCP server on loopback that accepts every connection and never sends
a byte (a registry that hangs): one thread accepts, the connections are only held open.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class BoundedServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, handler: type[BaseHTTPRequestHandler], *, max_threads: int = 16,
                 tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self._slots = threading.BoundedSemaphore(max_threads)
        self._tls = tls

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        if self._tls is not None:
            # Handshake in the worker thread, so one slow client cannot block accept().
            conn = self._tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        return conn, addr

    def process_request(self, request: Any, client_address: Any) -> None:
        self._slots.acquire()
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            if isinstance(request, ssl.SSLSocket):
                try:
                    request.do_handshake()
                except (OSError, ssl.SSLError):
                    self.shutdown_request(request)
                    return
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    @property
    def port(self) -> int:
        return int(self.server_address[1])


@contextlib.contextmanager
def serve(server: BoundedServer) -> Iterator[BoundedServer]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def tls_context(cert_path: str, key_path: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


@dataclasses.dataclass
class BlackHole:
    host: str  # 127.0.0.1:PORT
    accepted: int = 0  # connections taken so far (a test can wait until callers are stuck on it)


@contextlib.contextmanager
def black_hole() -> Iterator[BlackHole]:
    listener = socket.create_server(("127.0.0.1", 0), backlog=128)
    listener.settimeout(0.1)
    hole = BlackHole(f"127.0.0.1:{listener.getsockname()[1]}")
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            held.append(conn)
            hole.accepted += 1

    thread = threading.Thread(target=accept, name=f"black-hole-{hole.host}", daemon=True)
    thread.start()
    try:
        yield hole
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()
