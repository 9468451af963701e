"""HTTP/1.1 on the standard library: kept-alive connections per origin, proxies, TLS.

`Transport` sends one request (no redirects, no retries: `RegistryClient` decides those)
and hands back a `Response` whose body is read on demand. It exists because a registry
command is often a whole process (a Tekton step), and importing `requests` and `urllib3`
cost more than the step's registry round trips; `http.client` and `ssl` are what those
libraries sit on anyway.

- Connections are kept alive per (scheme, host, port, proxy) and reused once a response
  has been read to its end; at most `pool` idle ones are kept per origin (more may be open
  while threads work; the extra ones close when done). A kept connection the server has
  closed meanwhile is noticed before reuse; one that fails before any answer came back is
  replaced once by a fresh connection.
- TLS is verified against the system store, or only `ca_bundle` when given; the host name
  is checked. There is no way to turn verification off.
- Proxies come from `HTTP_PROXY` / `HTTPS_PROXY` / `ALL_PROXY` (lower case first, as curl
  and Python read them) unless `NO_PROXY` names the host (a name, a domain suffix, an
  address, a CIDR block, optionally with a port, or `*`). HTTPS goes through a CONNECT
  tunnel; plain HTTP is sent to the proxy in absolute form. A failure reaching the proxy
  or opening the tunnel is a `ProxyFailure`, so messages can say so.
- A body not asked to stream is read at once, up to `_MAX_UNSTREAMED` bytes (answers to
  uploads and pings; a larger one is cut there and its connection dropped).
"""

from __future__ import annotations

import base64
import http.client
import io
import ipaddress
import os
import re
import select
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, BinaryIO, overload
from urllib.parse import unquote, urlencode, urlsplit

from slsacheck._numbers import decimal
from slsacheck.errors import InputError

_MAX_UNSTREAMED = 1024 * 1024
_DEFAULT_PORTS = {"https": 443, "http": 80}
_LINK_SPLIT = re.compile(r",\s*(?=<)")

Key = tuple[str, str, int, str | None]


class ProxyFailure(OSError):
    """The proxy named in the environment could not be reached, or refused the tunnel."""


class Headers:
    """Response headers by case-insensitive name; a repeated header reads as its values
    joined by ", " (one WWW-Authenticate list, whether sent as one line or several)."""

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        self._values: dict[str, tuple[str, str]] = {}
        for name, value in fields:
            held = self._values.get(name.lower())
            self._values[name.lower()] = (name, f"{held[1]}, {value}" if held else value)

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        held = self._values.get(name.lower())
        return held[1] if held is not None else default

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def items(self) -> list[tuple[str, str]]:
        return list(self._values.values())


def parse_links(value: str) -> dict[str, dict[str, str]]:
    """RFC 8288 `Link` header -> {rel (or the URL): {"url": ..., "rel": ..., ...}}."""
    links: dict[str, dict[str, str]] = {}
    for part in _LINK_SPLIT.split(value.strip()):
        target, _, params = part.partition(";")
        link = {"url": target.strip().strip("<> '\"")}
        for param in params.split(";"):
            name, eq, text = param.partition("=")
            if eq:
                link[name.strip(" '\"").lower()] = text.strip(" '\"")
        if link["url"]:
            links[link.get("rel") or link["url"]] = link
    return links


class Response:
    """A status, headers, and a body read on demand; `close()` gives the connection up."""

    def __init__(
        self,
        status_code: int,
        headers: Headers,
        body: BinaryIO | http.client.HTTPResponse,
        *,
        method: str = "GET",
        url: str = "",
        done: Callable[[bool], None] | None = None,
    ) -> None:
        self.status_code = status_code
        self.headers = headers
        self.method = method
        self.url = url
        self._body = body
        # Called once: True when the body was read to its end (the connection may be reused).
        self._done = done
        self._finished = False

    @classmethod
    def of(cls, status_code: int, body: bytes, headers: Mapping[str, str] | None = None, *,
           method: str = "GET", url: str = "") -> Response:
        """A response over bytes in memory (what a test or a cache hands to body readers)."""
        return cls(status_code, Headers((headers or {}).items()), io.BytesIO(body), method=method, url=url)

    @property
    def links(self) -> dict[str, dict[str, str]]:
        value = self.headers.get("Link")
        return parse_links(value) if value else {}

    def iter_content(self, size: int) -> Iterator[bytes]:
        """The body in chunks of at most `size` bytes; OSError or HTTPException when it breaks off."""
        while not self._finished:
            chunk = self._body.read(size)
            if not chunk:
                # http.client ends a body cut short of its Content-Length quietly; it is not whole.
                left = getattr(self._body, "length", None)
                if isinstance(left, int) and left > 0:
                    raise http.client.IncompleteRead(b"", left)
                self._finish(complete=True)
                return
            yield chunk

    def preload(self, cap: int) -> Response:
        """The same answer over its body read now (at most `cap` bytes; the connection is
        dropped when more was left)."""
        parts: list[bytes] = []
        total = 0
        for chunk in self.iter_content(64 * 1024):
            parts.append(chunk)
            total += len(chunk)
            if total >= cap:
                break
        self.close()
        return Response(self.status_code, self.headers, io.BytesIO(b"".join(parts)[:cap]), method=self.method,
                        url=self.url)

    def _finish(self, *, complete: bool) -> None:
        if self._finished:
            return
        self._finished = True
        if not complete:
            self._body.close()
        if self._done is not None:
            self._done(complete)

    def close(self) -> None:
        self._finish(complete=False)


def _no_proxy(host: str, port: int, rules: str) -> bool:
    """Whether NO_PROXY's comma-separated `rules` exempt `host:port` from the proxy."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for raw in rules.replace(" ", ",").split(","):
        rule = raw.strip().lower()
        if not rule:
            continue
        if rule == "*":
            return True
        rule_port: int | None = None
        match = re.fullmatch(r"(.+?):([0-9]+)", rule)
        if match and not rule.startswith("[") and rule.count(":") == 1:
            rule, rule_port = match[1], decimal(match[2])
        elif rule.startswith("[") and "]:" in rule:
            rule, _, port_text = rule[1:].partition("]:")
            rule_port = decimal(port_text)
        rule = rule.strip("[]")
        if rule_port is not None and rule_port != port:
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(rule, strict=False):
                    return True
            except ValueError:
                pass
            continue
        rule = rule.lstrip(".")
        if host == rule or host.endswith("." + rule):
            return True
    return False


def environ_proxy(scheme: str, host: str, port: int) -> str | None:
    """The proxy URL the environment names for a request, or None (direct)."""
    env = os.environ

    def var(name: str) -> str:
        return env.get(name.lower()) or env.get(name.upper()) or ""

    proxy = var(f"{scheme}_proxy") or var("all_proxy")
    if not proxy or _no_proxy(host.lower(), port, var("no_proxy")):
        return None
    return proxy if "://" in proxy else "http://" + proxy


class Transport:
    """Kept-alive connections for one client, by origin and proxy; thread-safe."""

    def __init__(self, *, ca_bundle: str | None, timeout: float, pool: int = 10, user_agent: str) -> None:
        self._ca_bundle = ca_bundle
        self._timeout = timeout
        self._pool = max(1, pool)
        self._user_agent = user_agent
        self._context: ssl.SSLContext | None = None
        self._idle: dict[Key, list[http.client.HTTPConnection]] = {}
        self._proxies: dict[tuple[str, str, int], str | None] = {}
        self._lock = threading.Lock()

    def _tls(self) -> ssl.SSLContext:
        with self._lock:
            if self._context is None:
                try:
                    self._context = ssl.create_default_context(cafile=self._ca_bundle)
                except (OSError, ValueError) as exc:  # ssl.SSLError too: a file that holds no certificate
                    raise InputError(
                        f"the CA bundle {self._ca_bundle} cannot be used: {exc}",
                        expected="a PEM file of CA certificates",
                        hint="give the registry's CA as a PEM file (--ca-bundle FILE / RegistryOptions.ca_bundle)",
                    ) from None
            return self._context

    def _proxy(self, scheme: str, host: str, port: int) -> str | None:
        # Read once per origin: the environment of a process does not change under it.
        key = (scheme, host, port)
        with self._lock:
            if key not in self._proxies:
                self._proxies[key] = environ_proxy(scheme, host, port)
            return self._proxies[key]

    def speaks_tls(self, url: str) -> bool | None:
        """Whether the server of an https URL completes a TLS handshake at all: nothing is
        verified and nothing is sent after it, so it decides only whether a server is worth
        loading the CA store for. None where a proxy stands in between (it cannot tell)."""
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or 443
        if self._proxy("https", host, port) is not None:
            return None
        probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        probe.check_hostname = False
        probe.verify_mode = ssl.CERT_NONE
        try:
            with socket.create_connection((host, port), timeout=self._timeout) as raw, probe.wrap_socket(
                    raw, server_hostname=host):
                return True
        except (OSError, ValueError):
            return False

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None = None,
        stream: bool = True,
    ) -> Response:
        """One request and its answer's head. OSError (ssl.SSLError, ProxyFailure, timeouts)
        or http.client.HTTPException when the exchange fails; ValueError for a URL or header
        that cannot be sent."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = parts.hostname or ""
        if scheme not in _DEFAULT_PORTS or not host:
            raise ValueError(f"not an http(s) URL: {url[:200]}")
        port = parts.port or _DEFAULT_PORTS[scheme]
        proxy = self._proxy(scheme, host, port)
        key: Key = (scheme, host, port, proxy)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        if proxy is not None and scheme == "http":
            target = f"http://{parts.netloc}{target}"
        sent = {"User-Agent": self._user_agent, "Accept": "*/*", **headers}
        if proxy is not None and scheme == "http":
            sent.update(_proxy_authorization(proxy))
        for fresh_only in (False, True):
            conn, reused = self._take(key, fresh_only=fresh_only)
            try:
                conn.request(method, target, body=body, headers=sent)
                raw = conn.getresponse()
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
                conn.close()
                if reused:
                    continue  # the server had closed the kept connection: once more, fresh
                raise
            except BaseException:
                conn.close()
                raise
            return self._response(raw, conn, key, method, url, stream=stream)
        raise AssertionError("unreachable")  # pragma: no cover

    def _response(
        self, raw: http.client.HTTPResponse, conn: http.client.HTTPConnection, key: Key, method: str, url: str,
        *, stream: bool,
    ) -> Response:
        def done(complete: bool) -> None:
            if complete and not raw.will_close:
                self._give_back(key, conn)
            else:
                conn.close()

        response = Response(raw.status, Headers(raw.headers.items()), raw, method=method, url=url, done=done)
        return response if stream else response.preload(_MAX_UNSTREAMED)

    def _take(self, key: Key, *, fresh_only: bool) -> tuple[http.client.HTTPConnection, bool]:
        if not fresh_only:
            while True:
                with self._lock:
                    idle = self._idle.get(key)
                    conn = idle.pop() if idle else None
                if conn is None:
                    break
                if _alive(conn):
                    return conn, True
                conn.close()
        return self._connect(key), False

    def _connect(self, key: Key) -> http.client.HTTPConnection:
        scheme, host, port, proxy = key
        conn: http.client.HTTPConnection
        if proxy is None:
            conn = (http.client.HTTPSConnection(host, port, timeout=self._timeout, context=self._tls())
                    if scheme == "https" else http.client.HTTPConnection(host, port, timeout=self._timeout))
        else:
            parts = urlsplit(proxy)
            if parts.scheme.lower() != "http" or not parts.hostname:
                raise ProxyFailure(f"the proxy {parts.scheme}://{parts.hostname} is not an http:// proxy URL")
            proxy_port = parts.port or 80
            if scheme == "https":
                conn = http.client.HTTPSConnection(parts.hostname, proxy_port, timeout=self._timeout,
                                                   context=self._tls())
                conn.set_tunnel(host, port, headers=_proxy_authorization(proxy))
            else:
                conn = http.client.HTTPConnection(parts.hostname, proxy_port, timeout=self._timeout)
        try:
            conn.connect()
        except ssl.SSLError:
            conn.close()
            raise
        except OSError as exc:
            conn.close()
            if proxy is not None:
                raise ProxyFailure(f"proxy {urlsplit(proxy).hostname}: {exc}") from exc
            raise
        return conn

    def _give_back(self, key: Key, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self._pool:
                idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            conns = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for conn in conns:
            conn.close()


def _alive(conn: http.client.HTTPConnection) -> bool:
    """A kept connection with nothing to read: a server that closed it (or sent unasked
    bytes) makes it readable."""
    sock: Any = conn.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _proxy_authorization(proxy: str) -> dict[str, str]:
    parts = urlsplit(proxy)
    if parts.username is None:
        return {}
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
    return {"Proxy-Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}


def encode_form(fields: Mapping[str, Any]) -> bytes:
    """`application/x-www-form-urlencoded`, a list value as repeated fields."""
    return urlencode(fields, doseq=True).encode("ascii")
