"""Registry credentials found as Docker and cosign find them, and auth challenges parsed.

Where a credential comes from, in order (the first config file that exists wins, as in
Docker's CLI and go-containerregistry's default keychain):

1. `RegistryOptions.docker_config` (a `config.json`, or a directory holding one);
2. `$DOCKER_CONFIG/config.json`, then `~/.docker/config.json`;
3. `$REGISTRY_AUTH_FILE`, then `$XDG_RUNTIME_DIR/containers/auth.json` (podman, skopeo).

Inside that file: `credHelpers[host]`, then `credsStore` (each runs
`docker-credential-<name> get`), then `auths[host]` (`auth` = base64 `user:password`, or
`username`/`password`, and `identitytoken`). Keys are matched by host, so
`https://host/v1/` and `host` are the same entry, and Docker Hub's spellings
(`index.docker.io`, `https://index.docker.io/v1/`, `docker.io`, `registry-1.docker.io`)
are one registry.

Invariant: a `Credential` records where it came from (`source`), and its secrets never
appear in its `repr`, in log lines or in error messages; errors name the source and the
user name only.

oras-py has a loader for these files, but it merges every file it finds, keeps no record
of where a credential came from, ignores `identitytoken` and `REGISTRY_AUTH_FILE`, and
parses `WWW-Authenticate` with a regex that drops unquoted values; so this module is its
own, small, implementation.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slsacheck._json import load_object
from slsacheck.errors import AuthError, InputError
from slsacheck.models.reference import DOCKER_HUB

log = logging.getLogger(__name__)

HUB_SERVER_URL = "https://index.docker.io/v1/"
_HUB_NAMES = frozenset({"index.docker.io", "docker.io", "registry-1.docker.io", "registry.hub.docker.com"})
_HELPER_TIMEOUT = 30.0
_MAX_CONFIG_SIZE = 4 * 1024 * 1024
# What credential helpers print when they have nothing for a server.
_HELPER_NOT_FOUND = "credentials not found"
_HELPER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class Credential:
    """A user name and secret for one registry, and where they were found."""

    source: str
    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)

    def describe(self) -> str:
        """Which credential this is, for messages: never its secret."""
        who = f"user {self.username!r}" if self.username and self.username != "<token>" else "an identity token"
        return f"{who} from {self.source}"


@dataclass(frozen=True)
class CredentialLookup:
    """What a search for a registry's credential found, and where it looked."""

    credential: Credential | None
    searched: tuple[str, ...]
    notes: tuple[str, ...] = ()
    used: str | None = None  # the config file read, if one existed

    def explain(self) -> str:
        if self.credential is not None:
            text = f"tried {self.credential.describe()}"
        elif self.used is not None:
            text = f"no credential for this registry in {self.used}"
        else:
            text = "no credential found (no file at " + ", ".join(self.searched) + ")"
        if self.notes:
            text += "; " + "; ".join(self.notes)
        return text


def normalize_host(key: str) -> str:
    """`https://Host:5000/v1/` -> `host:5000`; Docker Hub's spellings -> `index.docker.io`."""
    text = key.strip()
    for scheme in ("https://", "http://"):
        if text.lower().startswith(scheme):
            text = text[len(scheme) :]
            break
    host = text.split("/", 1)[0].lower()
    return DOCKER_HUB if host in _HUB_NAMES else host


def server_url(registry: str) -> str:
    """What Docker passes to credential helpers and keys `auths` by for this registry."""
    return HUB_SERVER_URL if normalize_host(registry) == DOCKER_HUB else registry


def config_candidates(docker_config: str | None = None) -> list[Path]:
    """The config files to try, most specific first."""
    if docker_config:
        path = Path(docker_config).expanduser()
        return [path / "config.json" if path.is_dir() else path]
    out: list[Path] = []
    env = os.environ.get("DOCKER_CONFIG")
    if env:
        out.append(Path(env).expanduser() / "config.json")
    out.append(Path.home() / ".docker" / "config.json")
    auth_file = os.environ.get("REGISTRY_AUTH_FILE")
    if auth_file:
        out.append(Path(auth_file).expanduser())
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        out.append(Path(runtime) / "containers" / "auth.json")
    return out


def _read_config(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            raw = fh.read(_MAX_CONFIG_SIZE + 1)
    except OSError as exc:
        raise InputError(
            f"cannot read registry credentials file {path}: {exc.strerror}",
            hint="fix its permissions, or point DOCKER_CONFIG at another directory",
        ) from None
    if len(raw) > _MAX_CONFIG_SIZE:
        raise InputError(f"registry credentials file {path} is larger than 4 MiB", hint="is it really a config.json?")
    return load_object(
        raw,
        not_json=lambda exc: InputError(
            f"registry credentials file {path} is not valid JSON: {exc}",
            hint="fix the file, or run `docker login` again to rewrite it",
        ),
        not_object=lambda _: InputError(f"registry credentials file {path} must hold a JSON object"),
    )


def _shape_problem(config: dict[str, Any]) -> str | None:
    """The first entry of a config.json that Docker would not understand, or None."""
    for name in ("auths", "credHelpers"):
        table = config.get(name)
        if table is not None and not isinstance(table, dict):
            return f'"{name}" must be an object of registry entries, found {type(table).__name__}'
    for host, entry in (config.get("auths") or {}).items():
        if not isinstance(entry, dict):
            return f'"auths" entry {host!r} must be an object ({{"auth": "..."}}), found {type(entry).__name__}'
    for host, helper in (config.get("credHelpers") or {}).items():
        if not isinstance(helper, str):
            return f'"credHelpers" entry {host!r} must name a helper (a string), found {type(helper).__name__}'
    store = config.get("credsStore")
    if store is not None and not isinstance(store, str):
        return f'"credsStore" must name a helper (a string), found {type(store).__name__}'
    return None


def check_config(docker_config: str) -> None:
    """Refuse a credentials file the user named that is unreadable, not JSON or not
    shaped like a config.json, before any registry is asked: read lazily, a broken file
    would be ignored wherever a registry lets anonymous pulls through."""
    path = config_candidates(docker_config)[0]
    if not path.is_file():
        return  # a directory without config.json holds no credentials, as for Docker: anonymous
    problem = _shape_problem(_read_config(path))
    if problem is not None:
        raise InputError(f"registry credentials file {path}: {problem}",
                         hint="fix the file, or run `docker login` again to rewrite it")


def _find_key(table: Any, host: str) -> str | None:
    """The key of `table` that names `host`, preferring an exact spelling."""
    if not isinstance(table, dict):
        return None
    if host in table:
        return host
    matches = [key for key in table if isinstance(key, str) and normalize_host(key) == host]
    return sorted(matches)[0] if matches else None


def _text(entry: dict[str, Any], name: str, where: str) -> str:
    """A field of an `auths` entry: text, or absent (null reads as absent, as Docker writes it)."""
    value = entry.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"credentials entry {where}: {name!r} must be a string", found=type(value).__name__,
                         hint="run `docker login` again to rewrite it")
    return value


def _from_auths(path: Path, key: str, entry: Any) -> Credential | None:
    where = f"{path} (auths[{key[:100]!r}])"
    if not isinstance(entry, dict):
        raise InputError(f"credentials entry {where} must be a JSON object")
    username = _text(entry, "username", where)
    password = _text(entry, "password", where)
    encoded = _text(entry, "auth", where)
    token = _text(entry, "identitytoken", where)
    if encoded:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise InputError(
                f"credentials entry {where}: 'auth' is not base64 of 'user:password'",
                hint="run `docker login` again to rewrite it",
            ) from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise InputError(f"credentials entry {where}: 'auth' decodes to no 'user:password' pair")
    if not (password or token):
        return None
    return Credential(where, username, password, token)


def run_helper(name: str, server: str, source: str) -> Credential | None:
    """Ask `docker-credential-<name>` for `server`'s credential; None when it has none."""
    if not _HELPER_NAME.fullmatch(name):
        # A helper is a program found on PATH by its name: no path, no space, and short.
        raise AuthError(f"credential helper name {name[:60]!r} (from {source}) is not a helper's name",
                        registry=server, expected="letters, digits, '.', '_' or '-', at most 64",
                        hint="fix the name in the docker config, or remove it")
    binary = f"docker-credential-{name}"
    # Only a config that names a helper starts a process: every other registry command's
    # start-up skips subprocess's import.
    import subprocess  # noqa: PLC0415

    try:
        # The helper's name comes from the user's own config file, as in Docker.
        proc = subprocess.run(
            [binary, "get"], input=server.encode(), capture_output=True, timeout=_HELPER_TIMEOUT, check=False
        )
    except FileNotFoundError:
        raise AuthError(
            f"credential helper {binary} (from {source}) is not installed",
            registry=server,
            hint=f"install {binary}, or remove it from the docker config",
        ) from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AuthError(f"credential helper {binary} (from {source}) failed to run: {exc}", registry=server) from None
    if proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip() + proc.stdout.decode(errors="replace").strip()
        if _HELPER_NOT_FOUND in message.lower():
            return None
        raise AuthError(
            f"credential helper {binary} (from {source}) failed with exit status {proc.returncode}",
            registry=server,
            found=message[:300] or None,
            hint=f"run `echo {server} | {binary} get` to see what it says",
        )
    try:
        payload = json.loads(proc.stdout)
        username, secret = payload["Username"], payload["Secret"]
        if not isinstance(username, str) or not isinstance(secret, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise AuthError(
            f"credential helper {binary} (from {source}) printed no JSON with string Username and Secret",
            registry=server,
        ) from None
    where = f"credential helper {binary} ({source})"
    if not secret:
        return None
    # Docker's convention: user "<token>" means the secret is an OAuth2 refresh token.
    if username == "<token>":
        return Credential(where, username, "", secret)
    return Credential(where, username, secret, "")


def find_credential(registry: str, docker_config: str | None = None) -> CredentialLookup:
    """Find the credential for `registry` (`host[:port]`) as Docker would."""
    host = normalize_host(registry)
    searched: list[str] = []
    for path in config_candidates(docker_config):
        searched.append(str(path))
        if not path.is_file():
            continue
        config = _read_config(path)
        notes: list[str] = []
        helpers = config.get("credHelpers") or {}
        key = _find_key(helpers, host)
        if key is not None and isinstance(helpers[key], str) and helpers[key]:  # "" names none, as for Docker
            cred = run_helper(helpers[key], server_url(registry), f"credHelpers[{key!r}] in {path}")
            if cred is not None:
                return CredentialLookup(cred, tuple(searched))
            notes.append(f"credential helper {helpers[key]} had nothing for {host}")
        store = config.get("credsStore")
        if isinstance(store, str) and store:
            try:
                cred = run_helper(store, server_url(registry), f"credsStore in {path}")
            except AuthError as exc:
                # A config copied from a desktop often names a store that is absent here;
                # fall through to `auths` and say so if the registry then refuses us.
                log.warning("%s", exc.message)
                notes.append(exc.message)
                cred = None
            if cred is not None:
                return CredentialLookup(cred, tuple(searched), tuple(notes))
        auths = config.get("auths") or {}
        key = _find_key(auths, host)
        if key is not None:
            cred = _from_auths(path, key, auths[key])
            if cred is not None:
                return CredentialLookup(cred, tuple(searched), tuple(notes))
        return CredentialLookup(None, tuple(searched), tuple(notes), str(path))
    return CredentialLookup(None, tuple(searched))


# -- WWW-Authenticate -------------------------------------------------------------------


@dataclass(frozen=True)
class Challenge:
    """One `WWW-Authenticate` challenge: a scheme (lower case) and its parameters."""

    scheme: str
    params: Mapping[str, str]

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scope(self) -> str | None:
        return self.params.get("scope")


def parse_challenges(header: str) -> list[Challenge]:
    """Parse `WWW-Authenticate` (RFC 7235): `Bearer realm="...",service="...", Basic realm=...`.

    Quoted strings may hold commas and escaped quotes; values may also be bare tokens.
    """
    challenges: list[Challenge] = []
    scheme: str | None = None
    params: dict[str, str] = {}
    i, n = 0, len(header)

    def skip(chars: str) -> None:
        nonlocal i
        while i < n and header[i] in chars:
            i += 1

    while i < n:
        skip(" \t,")
        start = i
        while i < n and header[i] not in " \t,=":
            i += 1
        word = header[start:i]
        if not word:
            break
        skip(" \t")
        if i < n and header[i] == "=" and scheme is not None:
            i += 1
            skip(" \t")
            if i < n and header[i] == '"':
                i += 1
                chars: list[str] = []
                while i < n and header[i] != '"':
                    if header[i] == "\\" and i + 1 < n:
                        i += 1
                    chars.append(header[i])
                    i += 1
                i += 1
                value = "".join(chars)
            else:
                start = i
                while i < n and header[i] not in ", \t":
                    i += 1
                value = header[start:i]
            params[word.lower()] = value
        else:
            if scheme is not None:
                challenges.append(Challenge(scheme, params))
            scheme, params = word.lower(), {}
    if scheme is not None:
        challenges.append(Challenge(scheme, params))
    return challenges

