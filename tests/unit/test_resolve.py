"""Signer and verifier references: paths, file://, env://, keyless, refused KMS schemes, optional extras."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from slsacheck.errors import InputError, InvalidKey
from slsacheck.signing import keys
from slsacheck.signing.keysigner import KeySigner
from slsacheck.signing.resolve import KEY_BACKENDS, SIGNER_SCHEMES, load_signer, load_verifier
from slsacheck.signing.signer import Signer
from tests.support.env import require_module


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def key_file(tmp_path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path = tmp_path / "cosign.key"
    path.write_bytes(keys.encrypt_private_key(key, b"pw", scrypt_n=2**15))
    return path


class Counter:
    def __init__(self, password: bytes) -> None:
        self.calls = 0
        self.password = password

    def __call__(self) -> bytes:
        self.calls += 1
        return self.password


def test_path_and_file_uri(key_file: Path, key: ec.EllipticCurvePrivateKey) -> None:
    for ref in (str(key_file), f"file://{key_file}"):
        password = Counter(b"pw")
        signer = load_signer(ref, password=password)
        assert isinstance(signer, KeySigner) and isinstance(signer, Signer)
        assert password.calls == 1
        assert signer.fingerprint == keys.fingerprint(key)
        assert keys.fingerprint(key) in signer.description


def test_env_uri(monkeypatch: pytest.MonkeyPatch, key: ec.EllipticCurvePrivateKey) -> None:
    plain = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    monkeypatch.setenv("SIGNING_SECRET", plain.decode())
    password = Counter(b"unused")
    signer = load_signer("env://SIGNING_SECRET", password=password)
    assert isinstance(signer, KeySigner)
    assert password.calls == 0  # a plain key asks for no password
    verifier = load_verifier("env://SIGNING_SECRET")
    verifier.verify(signer.sign(b"x"), b"x")


def test_env_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_VAR", raising=False)
    with pytest.raises(InvalidKey, match="environment variable NO_SUCH_VAR is not set") as info:
        load_signer("env://NO_SUCH_VAR")
    assert "secretKeyRef" in (info.value.hint or "")
    monkeypatch.setenv("EMPTY_VAR", " ")
    with pytest.raises(InvalidKey, match="EMPTY_VAR is empty"):
        load_signer("env://EMPTY_VAR")
    with pytest.raises(InvalidKey, match="needs a variable name"):
        load_signer("env://not a name")


def test_missing_and_wrong_files(tmp_path: Path, key_file: Path) -> None:
    with pytest.raises(InvalidKey, match="does not exist"):
        load_signer(str(tmp_path / "absent.key"))
    with pytest.raises(InvalidKey, match="is a directory"):
        load_signer(str(tmp_path))
    with pytest.raises(InvalidKey, match=f"wrong password for {key_file}"):
        load_signer(str(key_file), password=lambda: b"nope")
    with pytest.raises(InvalidKey, match="encrypted and no password"):
        load_signer(str(key_file))


@pytest.mark.parametrize(("scheme", "missing"), [("gcpkms", "Google Cloud KMS client"),
                                                 ("azurekms", "Azure Key Vault client"),
                                                 ("hashivault", "HashiCorp Vault transit client")])
def test_kms_schemes_without_a_backend_name_what_is_missing(scheme: str, missing: str) -> None:
    for load in (load_signer, load_verifier):
        with pytest.raises(InvalidKey, match=f"{scheme}:// keys are not supported by this build") as info:
            load(f"{scheme}://some/key")
        assert missing in info.value.message
        assert info.value.hint
        assert info.value.exit_code == 2


def test_unknown_scheme_names_the_known_ones() -> None:
    with pytest.raises(InvalidKey, match="unknown key reference scheme tpm2://") as info:
        load_signer("tpm2://token/key")
    for scheme in SIGNER_SCHEMES:
        assert scheme in (info.value.expected or "")
    assert "pkcs11:," in (info.value.expected or "")  # RFC 7512 spelling, no //
    with pytest.raises(InvalidKey, match="unknown key reference scheme"):
        load_verifier("keyless://x")


@pytest.mark.parametrize(("module", "uri", "extra"), [
    ("pkcs11", "pkcs11:token=t;object=k?module-path=/usr/lib/x.so&pin-value=1234", "pkcs11"),
    ("boto3", "awskms:///alias/release", "kms"),
])
def test_an_absent_optional_extra_says_which_to_install(monkeypatch: pytest.MonkeyPatch, module: str, uri: str,
                                                        extra: str) -> None:
    # None in sys.modules makes `import module` raise ImportError, as on an installation without it
    monkeypatch.setitem(sys.modules, module, None)
    for name in [n for n in sys.modules if n in ("slsacheck.signing.pkcs11_token", "slsacheck.signing.kms_aws")]:
        monkeypatch.delitem(sys.modules, name)
    for load in (load_signer, load_verifier):
        with pytest.raises(InvalidKey, match="not available in this installation") as info:
            load(uri)
        assert info.value.hint == f"install slsacheck[{extra}]"
        assert "1234" not in info.value.diagnostics()
    assert set(KEY_BACKENDS) == {"pkcs11", "awskms", "gcpkms", "azurekms", "hashivault"}


def test_keyless_needs_a_token_and_takes_no_argument() -> None:
    with pytest.raises(InvalidKey, match="needs an OIDC identity token"):
        load_signer("keyless")
    with pytest.raises(InvalidKey, match="keyless takes no argument"):
        load_signer("keyless://x")


def test_keyless_dispatches_to_the_keyless_backend() -> None:
    jwt = require_module("jwt", "PyJWT, installed with sigstore")
    now = int(time.time())
    claims = {"iss": "https://issuer.example", "sub": "ci@example", "aud": "sigstore",
              "iat": now, "nbf": now, "exp": now + 600, "email": "ci@example", "email_verified": True}
    token = jwt.encode(claims, "k" * 32, algorithm="HS256")
    signer = load_signer("keyless", identity_token=token)
    assert type(signer).__name__ == "KeylessSigner"
    assert isinstance(signer, Signer)
    with pytest.raises(InputError):
        load_signer("keyless", identity_token="not-a-jwt")


def test_verifier_from_public_or_private_key(tmp_path: Path, key_file: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pub = tmp_path / "cosign.pub"
    pub.write_bytes(keys.public_key_pem(key))
    signature = KeySigner(key).sign(b"data")
    load_verifier(str(pub)).verify(signature, b"data")
    load_verifier(f"file://{pub}").verify(signature, b"data")
    load_verifier(str(key_file), password=lambda: b"pw").verify(signature, b"data")
