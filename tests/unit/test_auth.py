"""Credentials are found where Docker and cosign find them, say where they came from, and
never show their secret; auth challenges parse as RFC 7235 says."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from slsacheck.errors import AuthError, InputError
from slsacheck.oci._http import http_allowed, is_loopback
from slsacheck.oci.auth import (
    HUB_SERVER_URL,
    Challenge,
    find_credential,
    normalize_host,
    parse_challenges,
    server_url,
)
from slsacheck.oci.options import RegistryOptions

SECRET = "s3cret-never-printed"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _config(path: Path, body: dict[str, object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body))
    return path


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No credentials from the developer's own machine: HOME is an empty directory."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(name, raising=False)
    return home


def test_auths_base64_from_home_docker_config(clean_env: Path) -> None:
    path = _config(clean_env / ".docker" / "config.json",
                   {"auths": {"reg.example.com": {"auth": _b64(f"alice:{SECRET}")}}})
    lookup = find_credential("reg.example.com")
    assert lookup.credential is not None
    assert (lookup.credential.username, lookup.credential.password) == ("alice", SECRET)
    assert str(path) in lookup.credential.source and "reg.example.com" in lookup.credential.source
    assert SECRET not in repr(lookup.credential)
    assert SECRET not in lookup.explain()
    assert "alice" in lookup.explain()


def test_docker_config_env_wins_over_home(clean_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _config(clean_env / ".docker" / "config.json", {"auths": {"r.io": {"auth": _b64("home:pw")}}})
    _config(tmp_path / "dc" / "config.json", {"auths": {"r.io": {"username": "env", "password": "pw2"}}})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "dc"))
    cred = find_credential("r.io").credential
    assert cred is not None and (cred.username, cred.password) == ("env", "pw2")


def test_explicit_config_wins_over_environment(clean_env: Path, monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    _config(tmp_path / "dc" / "config.json", {"auths": {"r.io": {"auth": _b64("env:pw")}}})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "dc"))
    explicit = _config(tmp_path / "explicit.json", {"auths": {"r.io": {"auth": _b64("explicit:pw")}}})
    cred = find_credential("r.io", str(explicit)).credential
    assert cred is not None and cred.username == "explicit"
    # A directory holding config.json works too.
    cred = find_credential("r.io", str(tmp_path / "dc")).credential
    assert cred is not None and cred.username == "env"


def test_registry_auth_file_when_no_docker_config(clean_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    path = _config(tmp_path / "auth.json", {"auths": {"quay.example:8443": {"auth": _b64("podman:pw")}}})
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(path))
    lookup = find_credential("quay.example:8443")
    assert lookup.credential is not None and lookup.credential.username == "podman"
    assert str(path) in lookup.credential.source


@pytest.mark.parametrize("key", ["https://index.docker.io/v1/", "index.docker.io", "docker.io",
                                 "https://registry-1.docker.io"])
def test_docker_hub_keys_are_one_registry(clean_env: Path, key: str) -> None:
    _config(clean_env / ".docker" / "config.json", {"auths": {key: {"auth": _b64("hubuser:pw")}}})
    cred = find_credential("index.docker.io").credential
    assert cred is not None and cred.username == "hubuser"


def test_keys_match_by_host_not_spelling(clean_env: Path) -> None:
    _config(clean_env / ".docker" / "config.json",
            {"auths": {"https://Reg.Example.com:5000/v2/": {"auth": _b64("u:p")}, "other.io": {"auth": _b64("x:y")}}})
    cred = find_credential("reg.example.com:5000").credential
    assert cred is not None and cred.username == "u"
    assert find_credential("reg.example.com").credential is None  # another port is another registry


def test_identity_token(clean_env: Path) -> None:
    _config(clean_env / ".docker" / "config.json",
            {"auths": {"r.io": {"auth": _b64("<token>:"), "identitytoken": SECRET}}})
    cred = find_credential("r.io").credential
    assert cred is not None and cred.identity_token == SECRET and not cred.password
    assert SECRET not in repr(cred) and "identity token" in cred.describe()


def test_malformed_auth_names_file_not_value(clean_env: Path) -> None:
    path = _config(clean_env / ".docker" / "config.json", {"auths": {"r.io": {"auth": "%%%not-base64" + SECRET}}})
    with pytest.raises(InputError) as err:
        find_credential("r.io")
    assert str(path) in err.value.message and SECRET not in err.value.diagnostics()


@pytest.mark.parametrize("field", ["auth", "username", "password", "identitytoken"])
@pytest.mark.parametrize("value", [5, -1, True, [], {"a": 1}, 1.5])
def test_an_entry_field_that_is_no_text_is_named_not_a_traceback(clean_env: Path, field: str, value: object) -> None:
    entry: dict[str, object] = {"auth": _b64(f"alice:{SECRET}"), field: value}
    path = _config(clean_env / ".docker" / "config.json", {"auths": {"r.io": entry}})
    with pytest.raises(InputError) as err:
        find_credential("r.io")
    assert str(path) in err.value.message and repr(field) in err.value.message
    assert SECRET not in err.value.diagnostics()
    entry[field] = None  # null is absent, as Docker writes it
    _config(path, {"auths": {"r.io": entry}})
    assert find_credential("r.io").credential is not None or field == "auth"


@pytest.mark.parametrize("name", ["../../bin/sh", "a b", "x" * 65, "", "-flag", "name\nwith", "\u0661"])
def test_a_helper_name_that_is_no_name_runs_nothing(helpers: Path, clean_env: Path, name: str) -> None:
    name = name.encode().decode("unicode_escape")
    _config(clean_env / ".docker" / "config.json", {"credHelpers": {"r.io": name}})
    if not name:  # an empty helper is no helper: the entry is skipped
        assert find_credential("r.io").credential is None
        return
    with pytest.raises(AuthError, match="is not a helper's name") as err:
        find_credential("r.io")
    assert len(err.value.diagnostics()) < 400  # the name is cut short in the message
    _config(clean_env / ".docker" / "config.json", {"credsStore": name})
    assert "is not a helper's name" in find_credential("r.io").explain()  # a store: noted, not fatal


def test_not_json(clean_env: Path) -> None:
    (clean_env / ".docker").mkdir()
    (clean_env / ".docker" / "config.json").write_text("{nope")
    with pytest.raises(InputError, match="not valid JSON"):
        find_credential("r.io")


def test_nothing_found_says_where_it_looked(clean_env: Path) -> None:
    lookup = find_credential("r.io")
    assert lookup.credential is None
    assert str(clean_env / ".docker" / "config.json") in lookup.explain()


# -- credential helpers -----------------------------------------------------------------


def _helper(bin_dir: Path, name: str, script: str) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / f"docker-credential-{name}"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def helpers(clean_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    # `get` reads the server URL on stdin; answer for two servers, refuse the rest.
    _helper(bin_dir, "test", f"""
read server
echo "$server" >> "{tmp_path}/asked"
case "$server" in
  reg.example.com) echo '{{"ServerURL":"reg.example.com","Username":"helped","Secret":"{SECRET}"}}' ;;
  {HUB_SERVER_URL}) echo '{{"ServerURL":"hub","Username":"<token>","Secret":"{SECRET}"}}' ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
""")
    _helper(bin_dir, "broken", "echo 'something exploded' >&2; exit 3\n")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return tmp_path


def test_cred_helpers_entry(helpers: Path, clean_env: Path) -> None:
    _config(clean_env / ".docker" / "config.json",
            {"credHelpers": {"reg.example.com": "test"}, "auths": {"reg.example.com": {"auth": _b64("file:pw")}}})
    cred = find_credential("reg.example.com").credential
    assert cred is not None and (cred.username, cred.password) == ("helped", SECRET)
    assert "docker-credential-test" in cred.source and "credHelpers" in cred.source
    assert (helpers / "asked").read_text().split() == ["reg.example.com"]


def test_creds_store_for_docker_hub_gets_v1_url_and_identity_token(helpers: Path, clean_env: Path) -> None:
    _config(clean_env / ".docker" / "config.json", {"credsStore": "test"})
    cred = find_credential("index.docker.io").credential
    assert cred is not None and cred.identity_token == SECRET and not cred.password
    assert (helpers / "asked").read_text().split() == [HUB_SERVER_URL]


def test_helper_without_credential_falls_back_to_auths(helpers: Path, clean_env: Path) -> None:
    _config(clean_env / ".docker" / "config.json",
            {"credsStore": "test", "auths": {"other.io": {"auth": _b64("file:pw")}}})
    cred = find_credential("other.io").credential
    assert cred is not None and cred.username == "file"


def test_failing_helper_is_an_auth_error(helpers: Path, clean_env: Path) -> None:
    _config(clean_env / ".docker" / "config.json", {"credHelpers": {"r.io": "broken"}})
    with pytest.raises(AuthError, match="docker-credential-broken") as err:
        find_credential("r.io")
    assert "something exploded" in str(err.value.found)


def test_missing_cred_helper_is_an_auth_error(helpers: Path, clean_env: Path) -> None:
    _config(clean_env / ".docker" / "config.json", {"credHelpers": {"r.io": "absent"}})
    with pytest.raises(AuthError, match=r"docker-credential-absent .* not installed"):
        find_credential("r.io")


def test_missing_creds_store_is_noted_not_fatal(helpers: Path, clean_env: Path) -> None:
    _config(clean_env / ".docker" / "config.json", {"credsStore": "desktop"})
    lookup = find_credential("r.io")
    assert lookup.credential is None
    assert "docker-credential-desktop" in lookup.explain()


# -- names, challenges, plain HTTP ----------------------------------------------------------


def test_normalize_and_server_url() -> None:
    assert normalize_host("https://index.docker.io/v1/") == "index.docker.io"
    assert normalize_host("docker.io") == "index.docker.io"
    assert normalize_host("http://Host:5000/") == "host:5000"
    assert server_url("index.docker.io") == HUB_SERVER_URL
    assert server_url("ghcr.io") == "ghcr.io"


def test_parse_bearer_and_basic_challenges() -> None:
    header = ('Bearer realm="https://auth.example.com/token",service="registry.example.com",'
              'scope="repository:a/b:pull,push", Basic realm=plain')
    bearer, basic = parse_challenges(header)
    assert bearer == Challenge("bearer", {"realm": "https://auth.example.com/token",
                                          "service": "registry.example.com", "scope": "repository:a/b:pull,push"})
    assert basic == Challenge("basic", {"realm": "plain"})
    (quoted,) = parse_challenges(r'Bearer realm="x\"y",error="insufficient_scope"')
    assert quoted.realm == 'x"y' and quoted.params["error"] == "insufficient_scope"
    assert parse_challenges("") == []


@pytest.mark.parametrize(("registry", "loopback"), [
    ("127.0.0.1:5000", True), ("127.8.9.10", True), ("localhost:5000", True), ("[::1]:5000", True),
    ("LOCALHOST", True), ("10.0.0.1:5000", False), ("registry.local:5000", False), ("localhost.example.com", False),
    ("[fe80::1]:5000", False),
])
def test_loopback_decision(registry: str, loopback: bool) -> None:
    assert is_loopback(registry) is loopback
    assert http_allowed(registry, RegistryOptions()) is loopback


def test_allow_http_names_hosts() -> None:
    options = RegistryOptions(allow_http=frozenset({"registry.local:5000", "lab"}))
    assert http_allowed("registry.local:5000", options)
    assert not http_allowed("registry.local:6000", options)
    assert http_allowed("lab:1234", options) and http_allowed("lab", options)
