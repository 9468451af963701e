"""A loopback server that plays "another host" and writes down every request it gets.

Tests point a registry's answers (a pagination `Link`, an upload `Location`, a token realm)
at it and then look at `seen`: which requests came, and whether any carried an
`Authorization` header (a credential that followed a link off the registry). It answers
every request with one canned response (`status`, `headers`, `body`), over plain HTTP or,
with `tls`, HTTPS.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.servers import BoundedServer, serve


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    authorization: str | None


@dataclass
class Recorder:
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    seen: list[Request] = field(default_factory=list)
    server: BoundedServer | None = None
    scheme: str = "http"
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str, *, host: str = "127.0.0.1") -> str:
        assert self.server is not None
        return f"{self.scheme}://{host}:{self.server.port}{path}"

    @property
    def credentials_seen(self) -> list[str]:
        with self._lock:
            return [r.authorization for r in self.seen if r.authorization]

    def build(self, tls: ssl.SSLContext | None) -> BoundedServer:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with recorder._lock:
                    recorder.seen.append(Request(self.command, self.path, self.headers.get("Authorization")))
                self.send_response(recorder.status)
                for key, value in recorder.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(recorder.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(recorder.body)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

        self.scheme = "https" if tls is not None else "http"
        self.server = BoundedServer(Handler, tls=tls)
        return self.server


@contextlib.contextmanager
def run_recorder(*, tls: ssl.SSLContext | None = None, status: int = 200, body: bytes = b"{}") -> Iterator[Recorder]:
    recorder = Recorder(status=status, body=body)
    with serve(recorder.build(tls)):
        yield recorder
