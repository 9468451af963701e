"""The standard-library HTTP transport under the registry client: kept-alive connections
(reused, and replaced when the server closed them), bodies cut short, NO_PROXY rules,
Link headers and repeated headers. Real loopback servers, no mocks."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from slsacheck.oci._transport import Headers, Response, Transport, environ_proxy, parse_links
from tests.support.certs import issue, make_ca
from tests.support.registry import free_port
from tests.support.servers import BoundedServer, serve, tls_context


class _Server:
    def __init__(self) -> None:
        self.connections: list[tuple[str, int]] = []
        self.close_after_answer = False
        self.cut_short = False


@pytest.fixture
def server() -> Iterator[tuple[_Server, str]]:
    state = _Server()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: object) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            state.connections.append(self.client_address)

        def do_GET(self) -> None:
            body = b"x" * 100
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("WWW-Authenticate", 'Bearer realm="a"')
            self.send_header("WWW-Authenticate", 'Basic realm="b"')
            self.end_headers()
            self.wfile.write(body[:10] if state.cut_short else body)
            # Closing without saying `Connection: close`, as an idle timeout does.
            self.close_connection = state.close_after_answer or state.cut_short

    with serve(BoundedServer(Handler)) as running:
        yield state, f"http://127.0.0.1:{running.port}"


def _get(transport: Transport, url: str) -> Response:
    return transport.send("GET", url, headers={})


def test_a_read_answer_gives_its_connection_back(server: tuple[_Server, str]) -> None:
    state, url = server
    transport = Transport(ca_bundle=None, timeout=5, user_agent="t")
    for _ in range(3):
        response = _get(transport, url + "/v2/")
        assert b"".join(response.iter_content(7)) == b"x" * 100
    assert len(state.connections) == 1


def test_an_answer_closed_before_its_end_does_not_leave_its_connection_for_reuse(
    server: tuple[_Server, str],
) -> None:
    state, url = server
    transport = Transport(ca_bundle=None, timeout=5, user_agent="t")
    response = _get(transport, url)
    next(response.iter_content(5))
    response.close()  # the rest of the body is unread: the next request must not read it as its answer
    assert b"".join(_get(transport, url).iter_content(64)) == b"x" * 100
    assert len(state.connections) == 2


def test_a_kept_connection_the_server_closed_is_replaced(server: tuple[_Server, str]) -> None:
    state, url = server
    state.close_after_answer = True
    transport = Transport(ca_bundle=None, timeout=5, user_agent="t")
    for _ in range(3):
        assert b"".join(_get(transport, url).iter_content(64)) == b"x" * 100
    assert len(state.connections) == 3


def test_a_body_cut_short_of_its_length_is_an_error_not_a_short_read(server: tuple[_Server, str]) -> None:
    state, url = server
    state.cut_short = True
    response = _get(Transport(ca_bundle=None, timeout=5, user_agent="t"), url)
    with pytest.raises(http.client.IncompleteRead):
        b"".join(response.iter_content(64))


def test_repeated_headers_read_as_one_list(server: tuple[_Server, str]) -> None:
    _, url = server
    response = _get(Transport(ca_bundle=None, timeout=5, user_agent="t"), url)
    response.close()
    assert response.headers.get("www-authenticate") == 'Bearer realm="a", Basic realm="b"'
    assert Headers([("A", "1")]).get("missing", "d") == "d"


@pytest.mark.parametrize(
    ("no_proxy", "host", "port", "proxied"),
    [
        ("", "registry.example", 443, True),
        ("*", "registry.example", 443, False),
        ("example", "registry.example", 443, False),
        (".example", "registry.example", 443, False),
        ("ample", "registry.example", 443, True),  # a suffix of a label is not a domain
        ("registry.example:5000", "registry.example", 443, True),
        ("registry.example:443", "registry.example", 443, False),
        ("10.0.0.0/8", "10.1.2.3", 443, False),
        ("10.0.0.0/8", "11.1.2.3", 443, True),
        ("10.0.0.0/8", "ten.example", 443, True),
        ("::1", "::1", 443, False),
        ("[::1]:443", "::1", 443, False),
        ("registry.example:\u0664\u0664\u0663", "registry.example", 443, True),  # a port is ASCII digits
        ("[::1]:\u00b2", "::1", 443, False),  # a port that is no number: the rule is the host alone
        ("other.example, registry.example", "registry.example", 443, False),
    ],
)
def test_no_proxy_rules(monkeypatch: pytest.MonkeyPatch, no_proxy: str, host: str, port: int, proxied: bool) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("https_proxy", "proxy.example:3128")
    monkeypatch.setenv("no_proxy", no_proxy)
    assert environ_proxy("https", host, port) == ("http://proxy.example:3128" if proxied else None)
    assert environ_proxy("http", host, port) is None  # no proxy named for plain HTTP


def test_link_header() -> None:
    value = '</v2/r/tags/list?n=2&last=b>; rel="next", <https://x.example/y>; rel=prev; title="p"'
    links = parse_links(value)
    assert links["next"]["url"] == "/v2/r/tags/list?n=2&last=b"
    assert links["prev"] == {"url": "https://x.example/y", "rel": "prev", "title": "p"}
    assert parse_links("") == {}


def test_whether_a_server_speaks_tls_at_all(server: tuple[_Server, str], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    _, plain = server
    transport = Transport(ca_bundle=None, timeout=5, user_agent="t")
    assert transport.speaks_tls(plain.replace("http:", "https:")) is False
    assert transport.speaks_tls(f"https://127.0.0.1:{free_port()}") is False
    # A TLS server whose certificate nothing trusts still speaks TLS: that is what makes the
    # client go to HTTPS and refuse it, never fall back to plain HTTP.
    leaf = issue(make_ca(tmp_path), tmp_path, "leaf")
    tls = tls_context(str(leaf.cert_path), str(leaf.key_path))
    with serve(BoundedServer(BaseHTTPRequestHandler, tls=tls)) as running:
        assert transport.speaks_tls(f"https://127.0.0.1:{running.port}") is True
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    proxied = Transport(ca_bundle=None, timeout=5, user_agent="t")  # the environment is read once per transport
    assert proxied.speaks_tls(plain.replace("http:", "https:")) is None  # a proxy decides, not a probe
