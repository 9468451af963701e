"""`sign --keyless` / `attest --keyless` without `--identity-token`: the token is found where
the CI puts it, in the documented order ($SIGSTORE_ID_TOKEN, the projected token file,
GitHub Actions' token service), and never shown.

GitHub's protocol is spoken by a loopback server that checks what GitHub checks (the
request bearer token, the audience asked for) and answers `{"value": <JWT>}`. The keyless
signs run against the loopback mock Sigstore, and what they attach is verified for the
identity in the token that was found, so a test passes only when that token was used.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib import parse

import pytest

from slsacheck.errors import EXIT_INCOMPLETE, EXIT_USAGE, Error
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from slsacheck.signing import ambient
from slsacheck.signing.ambient import (
    NoIdentityToken,
    TokenProviderError,
    find_identity_token,
)
from tests.support.cli import Cli, cli
from tests.support.servers import BoundedServer, black_hole, serve
from tests.support.sigstore_mock import MockSigstore, make_token, mock_sigstore

__all__ = ["cli", "mock_sigstore"]

pytestmark = pytest.mark.integration

REQUEST_TOKEN = "ghs_" + secrets.token_hex(16)  # what the runner gives the job to ask with
SUBJECT = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
ISSUER = "https://token.actions.githubusercontent.com"


@dataclass
class GitHubTokenService:
    url: str
    token: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    answer: tuple[int, bytes] | None = None  # override: (status, body)


@pytest.fixture
def github() -> Iterator[GitHubTokenService]:
    token = make_token(SUBJECT, ISSUER)
    service = GitHubTokenService("", token)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse.parse_qs(parse.urlsplit(self.path).query)
            service.requests.append({"query": query, "authorization": self.headers.get("Authorization")})
            status, body = service.answer or (200, json.dumps({"count": 1, "value": service.token}).encode())
            if self.headers.get("Authorization") != f"bearer {REQUEST_TOKEN}":
                status, body = 401, b'{"message": "bad credentials"}'
            elif query.get("audience") != ["sigstore"]:
                status, body = 400, b'{"message": "audience sigstore expected"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with serve(BoundedServer(Handler, max_threads=4)) as server:
        service.url = f"http://127.0.0.1:{server.port}/_apis/distributedtask/token?api-version=2.0"
        yield service


def _github_env(service: GitHubTokenService) -> dict[str, str]:
    return {"ACTIONS_ID_TOKEN_REQUEST_URL": service.url, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN}


@pytest.fixture(autouse=True)
def absent_default_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default token file points where nothing is, whatever this machine mounts at the
    real path: the order is tested on what each test gives, never on the host."""
    path = tmp_path / "no-default-token"
    monkeypatch.setattr(ambient, "DEFAULT_TOKEN_FILE", str(path))
    return path


# -- the order ---------------------------------------------------------------------------


def test_sigstore_id_token_comes_first(tmp_path: Path, github: GitHubTokenService) -> None:
    file = tmp_path / "token"
    file.write_text("from-the-file")
    found = find_identity_token(token_file=str(file), env={"SIGSTORE_ID_TOKEN": " env-token\n", **_github_env(github)})
    assert (found.token, found.source) == ("env-token", "$SIGSTORE_ID_TOKEN")
    assert github.requests == []


def test_the_token_file_comes_before_github(tmp_path: Path, github: GitHubTokenService) -> None:
    file = tmp_path / "token"
    file.write_text("from-the-file\n")
    found = find_identity_token(token_file=str(file), env={"SIGSTORE_ID_TOKEN": "", **_github_env(github)})
    assert found.token == "from-the-file" and str(file) in found.source
    assert github.requests == []


def test_the_default_token_file_is_read_when_mounted(absent_default_file: Path, github: GitHubTokenService) -> None:
    absent_default_file.write_text("projected-token\n")
    found = find_identity_token(env=_github_env(github))
    assert found.token == "projected-token" and str(absent_default_file) in found.source
    assert github.requests == []


def test_github_actions_is_asked_for_audience_sigstore(github: GitHubTokenService) -> None:
    found = find_identity_token(env=_github_env(github))
    assert found.token == github.token and "GitHub Actions" in found.source
    [request] = github.requests
    assert request["query"]["audience"] == ["sigstore"] and request["query"]["api-version"] == ["2.0"]
    assert request["authorization"] == f"bearer {REQUEST_TOKEN}"
    assert github.token not in repr(found)


def test_nothing_found_lists_what_was_tried() -> None:
    with pytest.raises(NoIdentityToken) as caught:
        find_identity_token(env={})
    text = caught.value.diagnostics()
    assert caught.value.exit_code == EXIT_USAGE
    for tried in ("$SIGSTORE_ID_TOKEN", ambient.DEFAULT_TOKEN_FILE, "GitHub Actions", "--identity-token FILE"):
        assert tried in text


def test_an_explicit_token_file_that_is_missing_or_empty_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(NoIdentityToken, match="does not exist"):
        find_identity_token(token_file=str(tmp_path / "absent"), env={})
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(NoIdentityToken, match="is empty"):
        find_identity_token(token_file=str(tmp_path / "empty"), env={})


@pytest.mark.parametrize("fault", ["refused", "not-json", "no-value", "deep", "down", "slow"])
def test_a_github_token_service_that_fails_is_exit_3_without_secrets(github: GitHubTokenService, fault: str) -> None:
    env = _github_env(github)
    if fault == "refused":
        env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = "ghs_wrong"
    github.answer = {"not-json": (200, b"<html>"), "no-value": (200, b'{"count": 0}'),
                     "deep": (200, b"[" * 5000 + b"]" * 5000)}.get(fault)
    with black_hole() as hole:
        if fault == "down":
            env["ACTIONS_ID_TOKEN_REQUEST_URL"] = "http://127.0.0.1:9/token?x=1"
        if fault == "slow":
            env["ACTIONS_ID_TOKEN_REQUEST_URL"] = f"http://{hole.host}/token"
        with pytest.raises(TokenProviderError) as caught:
            find_identity_token(env=env, timeout=1.0)
    error: Error = caught.value
    assert error.exit_code == EXIT_INCOMPLETE and "id-token: write" in (error.hint or "")
    for secret in (REQUEST_TOKEN, github.token, "ghs_wrong"):
        assert secret not in error.diagnostics()


# -- keyless signing with the token found -------------------------------------------------


@pytest.fixture
def layout(tmp_path: Path) -> str:
    store = LayoutStore(tmp_path / "layout", create=True)
    scratch.push(store, scratch.image({"hello": b"ambient"}), tag="v1")
    return f"oci:{tmp_path / 'layout'}:v1"


def _signed_by(cli: Cli, image: str, mock: MockSigstore, subject: str) -> bool:
    run = cli("verify", "--certificate-identity", subject, "--certificate-oidc-issuer-regexp", ".*",
              "--trusted-root", str(mock.trusted_root), image)
    return run.code == 0


@pytest.mark.parametrize("source", ["env", "file", "github"])
def test_keyless_sign_and_attest_with_an_ambient_token(
    cli: Cli, mock_sigstore: MockSigstore, layout: str, tmp_path: Path, *, github: GitHubTokenService,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, source: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    subject = f"https://kubernetes.io/namespaces/ci/serviceaccounts/{source}-signer"
    token = mock_sigstore.token(subject)
    flags = ["--keyless", "--trust-config", str(mock_sigstore.trust_config)]
    monkeypatch.delenv("SIGSTORE_ID_TOKEN", raising=False)
    if source == "env":
        monkeypatch.setenv("SIGSTORE_ID_TOKEN", token)
    elif source == "file":
        (tmp_path / "projected").write_text(token)
        flags += ["--identity-token-file", str(tmp_path / "projected")]
    else:
        github.token = token
        for name, value in _github_env(github).items():
            monkeypatch.setenv(name, value)
    signed = cli("sign", "--format", "legacy", *flags, layout)
    assert signed.code == 0, signed.err
    assert "keyless: identity token from" in signed.err
    predicate = tmp_path / "predicate.json"
    predicate.write_text("{}")
    attested = cli("attest", *flags, "--predicate", str(predicate), "--type", "custom", layout)
    assert attested.code == 0, attested.err
    for run in (signed, attested):
        assert token not in run.out + run.err and REQUEST_TOKEN not in run.out + run.err
    assert token not in caplog.text and REQUEST_TOKEN not in caplog.text
    assert _signed_by(cli, layout, mock_sigstore, subject)
    assert not _signed_by(cli, layout, mock_sigstore, subject + "-someone-else")


def test_keyless_sign_without_any_token_says_what_was_tried(
    cli: Cli, layout: str, monkeypatch: pytest.MonkeyPatch, mock_sigstore: MockSigstore
) -> None:
    for name in ("SIGSTORE_ID_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    run = cli("sign", "--keyless", "--trust-config", str(mock_sigstore.trust_config), layout)
    assert run.code == EXIT_USAGE
    assert "found no identity token" in run.err and "SIGSTORE_ID_TOKEN" in run.err and "Traceback" not in run.err
