"""A small token server for Distribution's `auth: token:` mode, on loopback.

It speaks the Docker registry token protocol: `GET /token?service=S&scope=...` with Basic
credentials, or `POST /token` with `grant_type=password|refresh_token` (identity tokens),
and answers `{"token", "access_token", "expires_in", "issued_at"}`. Tokens are JWTs signed
ES256 by a key whose certificate (issued by the tests' CA) goes in the `x5c` header; the
registry trusts them through `rootcertbundle` = that CA. Authenticated users get every
action they ask for; anonymous requests get a token with no access.

It records every token it issued (`issued`), so tests can see tokens being reused.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tests.support.certs import Issued
from tests.support.servers import BoundedServer, tls_context

SERVICE = "slsacheck-test-registry"
ISSUER = "slsacheck-test-token-issuer"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_jwt(claims: dict[str, Any], signer: Issued) -> str:
    header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(signer.der).decode()]}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    der = signer.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def _access(scopes: list[str]) -> list[dict[str, Any]]:
    out = []
    for scope in scopes:
        for one in scope.split(" "):
            kind, _, rest = one.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind and name:
                out.append({"type": kind, "name": name, "actions": [a for a in actions.split(",") if a]})
    return out


@dataclass
class TokenServer:
    signer: Issued
    tls: Issued
    users: dict[str, str]
    expires_in: int = 300
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    issued: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    refused: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    server: BoundedServer | None = None

    @property
    def realm(self) -> str:
        assert self.server is not None
        return f"https://127.0.0.1:{self.server.port}/token"

    def new_refresh_token(self, user: str) -> str:
        token = secrets.token_urlsafe(24)
        self.refresh_tokens[token] = user
        return token

    def answer(self, user: str | None, scopes: list[str]) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": ISSUER, "sub": user or "", "aud": SERVICE, "exp": now + self.expires_in, "nbf": now - 60,
            "iat": now, "jti": secrets.token_hex(8), "access": _access(scopes) if user else [],
        }
        with self._lock:
            self.issued.append((user or "", tuple(scopes)))
        token = sign_jwt(claims, self.signer)
        return {"token": token, "access_token": token, "expires_in": self.expires_in,
                "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))}

    def build(self) -> BoundedServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _basic_user(self) -> str | bool | None:
                header = self.headers.get("Authorization", "")
                if not header.startswith("Basic "):
                    return None
                try:
                    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                except ValueError:
                    return False
                return user if owner.users.get(user) == password else False

            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                user = self._basic_user()
                if user is False:
                    owner.refused += 1
                    self._reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
                    return
                self._reply(200, owner.answer(user if isinstance(user, str) else None, query.get("scope", [])))

            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length", "0")), 64 * 1024)
                form = parse_qs(self.rfile.read(length).decode())
                grant = form.get("grant_type", [""])[0]
                user: str | None = None
                if grant == "refresh_token":
                    user = owner.refresh_tokens.get(form.get("refresh_token", [""])[0])
                elif grant == "password":
                    name = form.get("username", [""])[0]
                    if owner.users.get(name) == form.get("password", [""])[0]:
                        user = name
                if user is None:
                    owner.refused += 1
                    self._reply(401, {"error": "invalid_grant"})
                    return
                scopes = form.get("scope", [""])[0].split(" ")
                self._reply(200, owner.answer(user, [s for s in scopes if s]))

        self.server = BoundedServer(Handler, tls=tls_context(str(self.tls.cert_path), str(self.tls.key_path)))
        return self.server
