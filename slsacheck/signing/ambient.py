"""The OIDC identity token for keyless signing, found where the CI puts it.

When no token is given explicitly (`--identity-token FILE`), these are tried in order, the
first that has one wins:

1. `SIGSTORE_ID_TOKEN`: a token in the environment (what Sigstore clients read);
2. a projected service-account token file: `--identity-token-file PATH`, by default
   `/var/run/sigstore/oidc-token`, where slsacheck's Tekton Tasks mount a projected volume
   with audience `sigstore`; a path given explicitly must exist;
3. GitHub Actions: `ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN` (a job
   with `permissions: id-token: write`), asked for audience `sigstore`.

Nothing found is one error listing what was tried. Invariants: a token is never printed,
logged or put in an error message (`AmbientToken` hides it from `repr`; errors name the
source only); the GitHub request is bounded by a timeout and its answer size is capped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import requests

from slsacheck._json import Refused, parse
from slsacheck.errors import EXIT_INCOMPLETE, Error, InputError

SIGSTORE_ENV = "SIGSTORE_ID_TOKEN"
DEFAULT_TOKEN_FILE = "/var/run/sigstore/oidc-token"  # noqa: S105 - a path, not a secret
GITHUB_URL_ENV = "ACTIONS_ID_TOKEN_REQUEST_URL"
GITHUB_TOKEN_ENV = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"  # noqa: S105 - the name of a variable, not a secret
AUDIENCE = "sigstore"
MAX_TOKEN_BYTES = 64 * 1024


class NoIdentityToken(InputError):
    """No identity token anywhere keyless signing looks for one."""


class TokenProviderError(Error):
    """The CI's token service did not give a token: the signing could not start."""

    exit_code = EXIT_INCOMPLETE


@dataclass(frozen=True)
class AmbientToken:
    token: str = field(repr=False)
    source: str  # where it came from, safe to show


def find_identity_token(
    *,
    token_file: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> AmbientToken:
    """The first identity token of the documented order (module docstring)."""
    env = os.environ if env is None else env
    tried: list[str] = []
    value = env.get(SIGSTORE_ENV, "").strip()
    if value:
        return AmbientToken(value, f"${SIGSTORE_ENV}")
    tried.append(f"${SIGSTORE_ENV} ({'empty' if SIGSTORE_ENV in env else 'not set'})")
    found = _from_file(token_file, tried)
    if found is not None:
        return found
    url, bearer = env.get(GITHUB_URL_ENV, ""), env.get(GITHUB_TOKEN_ENV, "")
    if url and bearer:
        return _from_github(url, bearer, timeout)
    tried.append(f"GitHub Actions (${GITHUB_URL_ENV} / ${GITHUB_TOKEN_ENV} not set)")
    raise NoIdentityToken(
        "keyless signing found no identity token",
        expected="an OIDC token with audience 'sigstore'",
        found="tried " + "; ".join(tried),
        hint="pass --identity-token FILE, set SIGSTORE_ID_TOKEN, mount a projected service-account token "
        f"(audience sigstore) at {DEFAULT_TOKEN_FILE} or give --identity-token-file, or in GitHub Actions grant "
        "`permissions: id-token: write`",
    )


def _from_file(token_file: str | None, tried: list[str]) -> AmbientToken | None:
    path = Path(token_file or DEFAULT_TOKEN_FILE)
    try:
        with path.open("rb") as handle:
            text = handle.read(MAX_TOKEN_BYTES + 1).decode("utf-8", "replace").strip()
    except FileNotFoundError:
        if token_file is not None:
            raise NoIdentityToken(f"--identity-token-file {path} does not exist",
                                  hint="mount the projected service-account token (audience sigstore) there, "
                                  "or leave the flag out to try the other sources") from None
        tried.append(f"token file {path} (absent)")
        return None
    except OSError as exc:
        raise NoIdentityToken(f"identity token file {path} cannot be read: {exc.strerror}",
                              hint="check the projected volume's mount and permissions") from None
    if not text:
        raise NoIdentityToken(f"identity token file {path} is empty",
                              hint="the projected service-account token has not been written; check the volume")
    return AmbientToken(text, f"token file {path}")


def _from_github(url: str, bearer: str, timeout: float) -> AmbientToken:
    where = url.split("?", 1)[0]
    hint = "check that the job has `permissions: id-token: write` and retry"
    try:
        response = requests.get(url, params={"audience": AUDIENCE}, timeout=timeout, stream=True,
                                headers={"Authorization": f"bearer {bearer}", "Accept": "application/json"})
        body = response.raw.read(MAX_TOKEN_BYTES + 1, decode_content=True)
        response.close()
    except requests.RequestException as exc:
        raise TokenProviderError(f"cannot reach the GitHub Actions token service {where}: {type(exc).__name__}",
                                 hint=hint) from None
    if response.status_code != 200:
        raise TokenProviderError(f"the GitHub Actions token service {where} answered HTTP {response.status_code}",
                                 hint=hint)
    try:
        value = parse(body, max_bytes=MAX_TOKEN_BYTES)["value"]
    except (Refused, KeyError, TypeError):
        value = None
    if len(body) > MAX_TOKEN_BYTES or not isinstance(value, str) or not value.strip():
        raise TokenProviderError(f"the GitHub Actions token service {where} did not answer with a token",
                                 expected='JSON {"value": "<token>"}', hint=hint)
    return AmbientToken(value.strip(), "GitHub Actions (audience sigstore)")
