"""A SoftHSM2 token the tests make themselves: its own token directory, its own keys.

The `token` fixture (test modules import it by name) is the session's one token: a
SoftHSM2 configuration whose token directory is in a temporary directory, a token made
with `softhsm2-util` and keys made with OpenSC's `pkcs11-tool` (the tools an operator
uses, not the library slsacheck signs through), and `SOFTHSM2_CONF` pointing at it for
the rest of the process (see `_setup` for why there is only one).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.env import missing

MODULE_CANDIDATES = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                     "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so", "/usr/lib64/pkcs11/libsofthsm2.so")
SO_PIN = "56781234"


def module_path() -> str:
    for candidate in MODULE_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    missing("the SoftHSM2 PKCS#11 module (Debian softhsm2)")
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class SoftHsm:
    module: str
    conf: Path

    def _run(self, *argv: str) -> str:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False,
                              env={**os.environ, "SOFTHSM2_CONF": str(self.conf)})
        assert done.returncode == 0, f"{argv[0]} failed: {done.stderr or done.stdout}"
        return done.stdout

    def init_token(self, label: str, pin: str) -> None:
        self._run("softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", SO_PIN)

    def tool(self, token: str, pin: str, *args: str) -> str:
        return self._run("pkcs11-tool", "--module", self.module, "--token-label", token, "--login", "--pin", pin,
                         *args)

    def keypair(self, token: str, pin: str, *, label: str, key_id: str, key_type: str = "EC:prime256v1") -> None:
        self.tool(token, pin, "--keypairgen", "--key-type", key_type, "--label", label, "--id", key_id)

    def read_public_der(self, token: str, pin: str, *, key_id: str) -> bytes:
        """The public key as pkcs11-tool exports it (DER SubjectPublicKeyInfo)."""
        out = self.conf.parent / f"pub-{token}-{key_id}.der"
        self.tool(token, pin, "--read-object", "--type", "pubkey", "--id", key_id, "--output-file", str(out))
        return out.read_bytes()


@dataclass(frozen=True)
class Token:
    """The one token of the test session and what is on it.

    release (id 01): ECDSA P-256; rsa (id 02): RSA 2048; mismatch (id 03): a private key
    whose public-key object was replaced by another key's (a token that lies about its
    key); twin (ids 04 and 05): two keys under one label.
    """

    hsm: SoftHsm
    label: str
    pin: str
    release_public_der: bytes

    def uri(self, key: str = "object=release", *, query: str | None = None) -> str:
        return f"pkcs11:token={self.label};{key}?module-path={self.hsm.module}" + (f"&{query}" if query else "")


TOKEN_LABEL = "slsacheck-test"
TOKEN_PIN = "72946183"
_SESSION: dict[str, Token] = {}


def _setup(workdir: Path) -> Token:
    for tool in ("softhsm2-util", "pkcs11-tool"):
        if shutil.which(tool) is None:
            missing(f"{tool} (Debian softhsm2 / opensc)")
    module = module_path()
    tokens = workdir / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    conf = workdir / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    hsm = SoftHsm(module, conf)
    hsm.init_token(TOKEN_LABEL, TOKEN_PIN)
    hsm.keypair(TOKEN_LABEL, TOKEN_PIN, label="release", key_id="01")
    hsm.keypair(TOKEN_LABEL, TOKEN_PIN, label="rsa", key_id="02", key_type="rsa:2048")
    hsm.keypair(TOKEN_LABEL, TOKEN_PIN, label="mismatch", key_id="03")
    hsm.tool(TOKEN_LABEL, TOKEN_PIN, "--delete-object", "--type", "pubkey", "--id", "03")
    other = workdir / "other-public.der"
    other.write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
    hsm.tool(TOKEN_LABEL, TOKEN_PIN, "--write-object", str(other), "--type", "pubkey", "--id", "03",
             "--label", "mismatch")
    hsm.keypair(TOKEN_LABEL, TOKEN_PIN, label="twin", key_id="04")
    hsm.keypair(TOKEN_LABEL, TOKEN_PIN, label="twin", key_id="05")
    release = hsm.read_public_der(TOKEN_LABEL, TOKEN_PIN, key_id="01")
    # The module reads SOFTHSM2_CONF once per process, when first loaded, and sees only the
    # tokens that exist then: so the whole session shares this one, made before any use.
    os.environ["SOFTHSM2_CONF"] = str(conf)
    return Token(hsm, TOKEN_LABEL, TOKEN_PIN, release)


def softhsm_token(tmp_path_factory: pytest.TempPathFactory) -> Token:
    """The session's token, made on first use."""
    if "token" not in _SESSION:
        _SESSION["token"] = _setup(tmp_path_factory.mktemp("softhsm"))
    return _SESSION["token"]


@pytest.fixture
def token(tmp_path_factory: pytest.TempPathFactory) -> Token:
    return softhsm_token(tmp_path_factory)
