"""`pkcs11:` keys on a real SoftHSM2 token: sign and attest with an ECDSA P-256 key that never
leaves the token, verify with the public key `public-key` exports (and with the one OpenSC's
pkcs11-tool exports), in cosign's formats; and every way a reference, a PIN or a token can
be wrong, each one line with a hint, the PIN never shown.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from slsacheck.attach import cosign_tags as ct
from slsacheck.models import Digest
from slsacheck.models import mediatypes as mt
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from slsacheck.signing.resolve import load_signer, load_verifier
from tests.support.cli import Run, cli
from tests.support.softhsm import Token, token

__all__ = ["cli", "token"]  # the fixtures, imported for pytest

pytestmark = pytest.mark.integration

Cli = Callable[..., Run]


def _image(tmp_path: Path) -> tuple[str, LayoutStore, Digest]:
    store = LayoutStore(tmp_path / "layout", create=True)
    built = scratch.image({"hello": b"token"})
    scratch.push(store, built, tag="v1")
    return f"oci:{tmp_path / 'layout'}:v1", store, built.digest


def _pem(der: bytes) -> bytes:
    return serialization.load_der_public_key(der).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_sign_attest_verify_with_a_key_on_the_token(cli: Cli, token: Token, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    image, store, digest = _image(tmp_path)
    pin_file = tmp_path / "pin"
    pin_file.write_text(token.pin + "\n")
    key = token.uri("object=release", query=f"pin-source={pin_file}")

    exported = cli("public-key", "--key", token.uri("object=release"))
    assert exported.code == 0, exported.err
    assert exported.out.encode() == _pem(token.release_public_der)  # what pkcs11-tool reads off the token
    pub = tmp_path / "token.pub"
    pub.write_text(exported.out)

    signed = cli("-vv", "sign", "--key", key, image)
    assert signed.code == 0, signed.err
    assert token.pin not in signed.out + signed.err + caplog.text
    predicate = tmp_path / "pred.json"
    predicate.write_text(json.dumps({"buildDefinition": {"buildType": "https://tekton.dev/chains/v2/slsa",
                                                         "padding": "x" * 8000}}))
    monkeypatch.setenv("COSIGN_PKCS11_PIN", token.pin)  # the environment as the PIN source
    attested = cli("attest", "--key", token.uri("id=%01"), "--type", "slsaprovenance1", "--predicate",
                   str(predicate), image)
    assert attested.code == 0, attested.err
    assert token.pin not in attested.out + attested.err + caplog.text

    assert cli("verify", "--key", str(pub), image).code == 0
    assert cli("verify-attestation", "--key", str(pub), "--type", "slsaprovenance1", image).code == 0
    # the token reference itself serves as the verification key, as in cosign
    assert cli("verify", "--key", token.uri("object=release"), image).code == 0

    # cosign's format, checked without slsacheck: the .sig layer's annotation is a DER
    # ECDSA-SHA256 signature over the simple-signing payload, by the token's key
    sig = store.fetch_manifest(ct.signature_tag(digest))
    layer = sig.layers[0]
    assert layer.media_type == mt.SIMPLE_SIGNING
    payload = store.fetch_blob(layer)
    assert json.loads(payload)["critical"]["image"]["docker-manifest-digest"] == str(digest)
    public = serialization.load_der_public_key(token.release_public_der)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(base64.b64decode(layer.annotations[mt.ANN_SIGNATURE]), payload, ec.ECDSA(hashes.SHA256()))

    other = tmp_path / "other.pub"
    other.write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    assert cli("verify", "--key", str(other), image).code == 1


def test_rsa_key_on_the_token(token: Token) -> None:
    signer = load_signer(token.uri("object=rsa", query=f"pin-value={token.pin}"))
    assert "RSA 2048" in signer.description
    signed = signer.sign_message(b"payload")
    load_verifier(token.uri("object=rsa")).verify(signed.signature, b"payload")


def test_a_token_whose_public_object_is_another_key_cannot_sign(cli: Cli, token: Token, tmp_path: Path) -> None:
    # The private key id 03 and the public-key object id 03 are different keys: what the
    # token reports would make signatures no verifier accepts under that key, or, worse,
    # a verifier configured from the token would trust a key the token does not hold.
    image, store, _ = _image(tmp_path)
    run = cli("sign", "--key", token.uri("id=%03", query=f"pin-value={token.pin}"), image)
    assert run.code == 3
    assert "returned a signature its public key does not verify" in run.err
    assert "hint:" in run.err
    assert not any(t.endswith(".sig") for t in store.tags())


def _errors(token: Token, tmp_path: Path) -> list[tuple[str, list[str], int, str]]:
    not_a_module = tmp_path / "not-a-module.so"
    not_a_module.write_text("not ELF")
    pin = f"pin-value={token.pin}"
    return [
        ("module does not load", ["--key", f"pkcs11:token={token.label};object=release?module-path={not_a_module}"
                                  f"&{pin}"], 2, "does not load"),
        ("module absent", ["--key", f"pkcs11:token={token.label};object=release?module-path=/nonexistent/p11.so"
                           f"&{pin}"], 2, "does not exist"),
        ("module relative", ["--key", f"pkcs11:token={token.label};object=release?module-path=lib/p11.so&{pin}"],
         2, "not absolute"),
        ("wrong PIN", ["--key", token.uri("object=release", query="pin-value=00000000")], 2, "wrong PIN"),
        ("no PIN", ["--key", token.uri("object=release")], 2, "needs a PIN"),
        ("missing object", ["--key", token.uri("object=releases", query=pin)], 2, "no private key object=releases"),
        ("two objects", ["--key", token.uri("object=twin", query=pin)], 2, "2 private keys match object=twin"),
        ("missing token", ["--key", token.uri("object=release", query=pin).replace(token.label, "nosuch")], 2,
         "no PKCS#11 token matches token=nosuch"),
        ("unknown attribute", ["--key", token.uri("objet=release", query=pin)], 2, "unknown attribute objet"),
    ]


def test_bad_references_fail_with_one_line_and_a_hint(cli: Cli, token: Token, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("COSIGN_PKCS11_PIN", raising=False)
    image, _, _ = _image(tmp_path)
    caplog.set_level(logging.DEBUG)
    for name, args, code, message in _errors(token, tmp_path):
        run = cli("-vv", "sign", *args, image)
        assert run.code == code, (name, run.err)
        first = run.err.strip().splitlines()[0]
        assert message in first, (name, run.err)
        assert "hint:" in run.err, (name, run.err)
        assert "Traceback" not in run.err
        assert token.pin not in run.out + run.err + caplog.text, name


def test_missing_object_lists_what_is_there(cli: Cli, token: Token, tmp_path: Path) -> None:
    image, _, _ = _image(tmp_path)
    run = cli("sign", "--key", token.uri("object=releases", query=f"pin-value={token.pin}"), image)
    assert run.code == 2
    assert "object=release id=01" in run.err  # the key meant, to copy into the reference
    assert token.pin not in run.err


def test_public_key_needs_no_pin_and_never_shows_one(cli: Cli, token: Token, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    run = cli("-vv", "public-key", "--key", token.uri("object=release", query="pin-value=00000000"))
    assert run.code == 2 and "wrong PIN" in run.err  # a PIN given is used, and a wrong one says so
    assert "00000000" not in run.out + run.err + caplog.text
    assert "pin-value=***" in run.err
