"""A forward proxy on loopback that opens CONNECT tunnels, as HTTPS_PROXY names one.

It records every CONNECT target, can demand Basic proxy credentials (407 without them),
and then only copies bytes both ways: TLS runs end to end between the client and the
registry, so the registry's certificate is what the client checks. Threads are bounded
(`tests.support.servers.BoundedServer`).
"""

from __future__ import annotations

import base64
import contextlib
import select
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from tests.support.servers import BoundedServer, serve


@dataclass
class ConnectProxy:
    host: str
    credentials: str | None = None  # "user:password" the proxy demands
    tunnels: list[str] = field(default_factory=list)

    def url(self, userinfo: str | None = None) -> str:
        return f"http://{userinfo + '@' if userinfo else ''}{self.host}"


def _pipe(a: socket.socket, b: socket.socket) -> None:
    sockets = [a, b]
    while True:
        readable, _, _ = select.select(sockets, [], [], 30)
        if not readable:
            return
        for sock in readable:
            data = sock.recv(65536)
            if not data:
                return
            (b if sock is a else a).sendall(data)


@contextlib.contextmanager
def connect_proxy(credentials: str | None = None) -> Iterator[ConnectProxy]:
    state = ConnectProxy("", credentials)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

        def do_CONNECT(self) -> None:
            if state.credentials is not None:
                expected = "Basic " + base64.b64encode(state.credentials.encode()).decode()
                if self.headers.get("Proxy-Authorization") != expected:
                    self.send_response(407)
                    self.send_header("Proxy-Authenticate", 'Basic realm="test"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            state.tunnels.append(self.path)
            host, _, port = self.path.rpartition(":")
            try:
                upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
            except OSError:
                self.send_error(502)
                return
            self.send_response(200, "Connection established")
            self.end_headers()
            self.wfile.flush()
            with upstream, contextlib.suppress(OSError):  # either side hanging up ends the tunnel
                _pipe(self.connection, upstream)
            self.close_connection = True

    with serve(BoundedServer(Handler)) as server:
        state.host = f"127.0.0.1:{server.port}"
        yield state
