"""A loopback reverse proxy in front of a plain-HTTP registry that misbehaves on request.

Tests put it between slsacheck and a real registry to see what slsacheck does when the
network or the registry lies: bytes changed in a body (`tamper`), a body cut short
(`truncate`), connections dropped (`drop`), error statuses (`fail`, e.g. 503 with
`Retry-After`), a whole answer made up (`respond`, e.g. a referrers API the registry
does not have), or headers added to a real answer (`add_headers`). Every rule matches a
method and a path substring and fires `times` times (None: always). `requests` records
what went through, for tests that count requests.

The `Host` header is passed through unchanged, so the registry's upload `Location`s point
back at the proxy. Threads are bounded (`tests.support.servers.BoundedServer`). With
`tls` (a server context) the proxy speaks HTTPS, and with `upstream_ca` it reaches an HTTPS
registry (the `auth` one): a TLS registry whose answers a test rewrites.
"""

from __future__ import annotations

import contextlib
import http.client
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal

from tests.support.servers import BoundedServer, serve

Action = Literal["tamper", "truncate", "drop", "fail", "respond", "headers"]
_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-authorization",
                  "proxy-authenticate", "trailer"})


@dataclass
class Rule:
    action: Action
    method: str | None
    path: str
    times: int | None
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    keep: int = 0  # truncate: bytes of the body sent before the connection is cut
    after: int = 0  # let this many matching requests through untouched first
    chunked: bool = False  # respond: send the body chunked, without Content-Length


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    status: int | None


class Proxy:
    def __init__(self, upstream: str, *, upstream_ca: str | None = None, tls: ssl.SSLContext | None = None) -> None:
        """`upstream`: `host:port` of a registry (plain HTTP, or HTTPS trusting `upstream_ca`)."""
        self.upstream = upstream
        self.upstream_ca = upstream_ca
        self.tls = tls
        self.rules: list[Rule] = []
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self.server: BoundedServer | None = None

    @property
    def host(self) -> str:
        assert self.server is not None
        return f"127.0.0.1:{self.server.port}"

    # -- rules ---------------------------------------------------------------------------

    def _add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def tamper(self, path: str, *, method: str | None = "GET", times: int | None = None) -> Rule:
        """Flip the last byte of matching response bodies (same length, other bytes)."""
        return self._add(Rule("tamper", method, path, times))

    def truncate(self, path: str, keep: int, *, method: str | None = "GET", times: int | None = None,
                 after: int = 0) -> Rule:
        """Announce the full Content-Length, send `keep` bytes, then cut the connection."""
        return self._add(Rule("truncate", method, path, times, keep=keep, after=after))

    def drop(self, path: str = "", *, method: str | None = None, times: int | None = 1, after: int = 0) -> Rule:
        """Close the connection without answering (after letting `after` matching requests through)."""
        return self._add(Rule("drop", method, path, times, after=after))

    def fail(self, path: str, status: int, *, method: str | None = None, times: int | None = 1,
             headers: dict[str, str] | None = None) -> Rule:
        """Answer `status` (with `headers`) instead of forwarding."""
        return self._add(Rule("fail", method, path, times, status=status, headers=dict(headers or {})))

    def respond(self, path: str, status: int, body: bytes, *, method: str | None = "GET",
                headers: dict[str, str] | None = None, times: int | None = None, chunked: bool = False) -> Rule:
        """Answer with a made-up response instead of forwarding."""
        return self._add(Rule("respond", method, path, times, status=status, body=body,
                              headers=dict(headers or {}), chunked=chunked))

    def add_headers(self, path: str, headers: dict[str, str], *, method: str | None = None,
                    times: int | None = None) -> Rule:
        """Forward, and add `headers` to the registry's answer."""
        return self._add(Rule("headers", method, path, times, headers=dict(headers)))

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.requests.clear()

    def _match(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.times == 0 or rule.path not in path or rule.method not in (None, method):
                    continue
                if rule.after > 0:
                    rule.after -= 1
                    continue
                if rule.times is not None:
                    rule.times -= 1
                return rule
        return None

    def _record(self, method: str, path: str, status: int | None) -> None:
        with self._lock:
            self.requests.append(Seen(method, path, status))

    def count(self, method: str, path: str = "") -> int:
        with self._lock:
            return sum(1 for s in self.requests if s.method == method and path in s.path)

    # -- serving -------------------------------------------------------------------------

    def _connect(self) -> http.client.HTTPConnection:
        if self.upstream_ca is None:
            return http.client.HTTPConnection(self.upstream, timeout=30)
        return http.client.HTTPSConnection(self.upstream, timeout=30,
                                           context=ssl.create_default_context(cafile=self.upstream_ca))

    def build(self) -> BoundedServer:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    parts = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return b"".join(parts)
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _handle(self) -> None:
                method = self.command
                body = self._body()
                rule = proxy._match(method, self.path)
                if rule is not None and rule.action == "drop":
                    proxy._record(method, self.path, None)
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(2)
                    return
                if rule is not None and rule.action in ("fail", "respond"):
                    proxy._record(method, self.path, rule.status)
                    self._send(rule.status, rule.headers, rule.body, chunked=rule.chunked)
                    return
                upstream = proxy._connect()
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                    upstream.request(method, self.path, body=body if body or method in ("PUT", "POST", "PATCH")
                                     else None, headers=headers)
                    response = upstream.getresponse()
                    data = response.read()
                    out = {k: v for k, v in response.getheaders() if k.lower() not in _HOP}
                finally:
                    upstream.close()
                proxy._record(method, self.path, response.status)
                if rule is not None and rule.action == "headers":
                    replaced = {key.lower() for key in rule.headers}
                    out = {k: v for k, v in out.items() if k.lower() not in replaced}
                    out.update(rule.headers)
                if rule is not None and rule.action == "tamper" and data:
                    data = data[:-1] + bytes([data[-1] ^ 0x01])
                if rule is not None and rule.action == "truncate":
                    out["Content-Length"] = str(len(data))
                    self.send_response(response.status)
                    for key, value in out.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data[: rule.keep])
                    self.wfile.flush()
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(2)
                    return
                self._send(response.status, out, data, head=method == "HEAD")

            def _send(self, status: int, headers: dict[str, str], data: bytes, *, head: bool = False,
                      chunked: bool = False) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() != "content-length" or head:
                        self.send_header(key, value)
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                elif not head:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if head:
                    return
                if chunked:
                    for i in range(0, len(data), 65536):
                        piece = data[i : i + 65536]
                        self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.wfile.write(data)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

        self.server = BoundedServer(Handler, tls=self.tls)
        return self.server


@contextlib.contextmanager
def run_proxy(upstream: str, *, upstream_ca: str | None = None, tls: ssl.SSLContext | None = None
              ) -> Iterator[Proxy]:
    proxy = Proxy(upstream, upstream_ca=upstream_ca, tls=tls)
    with serve(proxy.build()):
        yield proxy
