"""`awskms://` keys against an AWS KMS emulator (moto's server mode: an emulator, not AWS)
running as its own process on loopback over TLS: sign and attest with a KMS key named by
alias, key id and ARN, verify with the public key `public-key` exports, check the `.sig`
signature with the emulator's own Verify; and every way the key, the credentials or the
service can be wrong, one error each with a hint, exit 2 or 3 by fault, no secret shown.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from slsacheck.attach import cosign_tags as ct
from slsacheck.models import Digest
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from slsacheck.signing.resolve import load_signer
from tests.support.cli import Run, cli
from tests.support.kms_emulator import SECRET_KEY, KmsEmulator, kms_emulator
from tests.support.registry import free_port

__all__ = ["cli"]  # the fixture, imported for pytest

pytestmark = pytest.mark.integration

Cli = Callable[..., Run]


@pytest.fixture(scope="module")
def kms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KmsEmulator]:
    with kms_emulator(tmp_path_factory.mktemp("kms")) as running:
        yield running


@pytest.fixture
def aws_env(kms: KmsEmulator, monkeypatch: pytest.MonkeyPatch) -> KmsEmulator:
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in kms.env.items():
        monkeypatch.setenv(name, value)
    return kms


def _key(kms: KmsEmulator, alias: str | None = None, **spec: str) -> dict[str, Any]:
    client = kms.client()
    meta: dict[str, Any] = client.create_key(**({"KeyUsage": "SIGN_VERIFY", "KeySpec": "ECC_NIST_P256"} | spec))[
        "KeyMetadata"]
    if alias:
        client.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
    return meta


def _image(tmp_path: Path) -> tuple[str, LayoutStore, Digest]:
    store = LayoutStore(tmp_path / "layout", create=True)
    built = scratch.image({"hello": b"kms"})
    scratch.push(store, built, tag="v1")
    return f"oci:{tmp_path / 'layout'}:v1", store, built.digest


def test_sign_attest_verify_with_a_kms_key(cli: Cli, aws_env: KmsEmulator, tmp_path: Path) -> None:
    kms = aws_env
    meta = _key(kms, "alias/release-signing")
    by_alias = f"awskms://{kms.endpoint}/alias/release-signing"
    image, store, digest = _image(tmp_path)

    exported = cli("public-key", "--key", by_alias)
    assert exported.code == 0, exported.err
    der = bytes(kms.client().get_public_key(KeyId=meta["KeyId"])["PublicKey"])
    assert exported.out.encode() == serialization.load_der_public_key(der).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    pub = tmp_path / "kms.pub"
    pub.write_text(exported.out)

    assert cli("sign", "--key", by_alias, image).code == 0
    predicate = tmp_path / "pred.json"
    predicate.write_text(json.dumps({"buildDefinition": {"buildType": "https://tekton.dev/chains/v2/slsa"}}))
    by_arn = f"awskms://{kms.endpoint}/{meta['Arn']}"
    attested = cli("attest", "--key", by_arn, "--type", "slsaprovenance1", "--predicate", str(predicate), image)
    assert attested.code == 0, attested.err

    assert cli("verify", "--key", str(pub), image).code == 0
    assert cli("verify-attestation", "--key", str(pub), "--type", "slsaprovenance1", image).code == 0
    assert cli("verify", "--key", f"awskms://{kms.endpoint}/{meta['KeyId']}", image).code == 0

    # the .sig layer's signature, checked by the emulator's own Verify over the payload bytes
    layer = store.fetch_manifest(ct.signature_tag(digest)).layers[0]
    signature = base64.b64decode(layer.annotations["dev.cosignproject.cosign/signature"])
    answer = kms.client().verify(KeyId=meta["KeyId"], Message=store.fetch_blob(layer), MessageType="RAW",
                                 Signature=signature, SigningAlgorithm="ECDSA_SHA_256")
    assert answer["SignatureValid"] is True

    other = _key(kms, "alias/someone-else")
    assert other["KeyId"] != meta["KeyId"]
    assert cli("verify", "--key", f"awskms://{kms.endpoint}/alias/someone-else", image).code == 1


def test_rsa_key(aws_env: KmsEmulator) -> None:
    _key(aws_env, "alias/rsa-signing", KeySpec="RSA_2048")
    signer = load_signer(f"awskms://{aws_env.endpoint}/alias/rsa-signing")
    assert "RSA 2048" in signer.description
    assert signer.sign_message(b"payload").signature


def test_a_service_that_signs_something_else_is_caught(cli: Cli, aws_env: KmsEmulator, tmp_path: Path) -> None:
    # A payload over 4096 bytes goes to KMS as its digest. The emulator does not implement
    # MessageType=DIGEST and signs the digest's own hash instead: a signature that is valid
    # for the key but over other bytes. It must be refused before anything is written.
    _key(aws_env, "alias/large")
    image, store, _ = _image(tmp_path)
    predicate = tmp_path / "pred.json"
    predicate.write_text(json.dumps({"padding": "x" * 6000}))
    run = cli("attest", "--key", f"awskms://{aws_env.endpoint}/alias/large", "--type", "custom",
              "--predicate", str(predicate), image)
    assert run.code == 3
    assert "returned a signature its public key does not verify" in run.err
    assert not any(tag.endswith(".att") for tag in store.tags())


def test_faults_give_one_error_each_with_a_hint(cli: Cli, aws_env: KmsEmulator, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    kms = aws_env
    encrypt = _key(kms, "alias/encrypt-only", KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT")
    # (a disabled key or a denied call cannot be shown: the emulator signs with disabled keys
    # and enforces no IAM; they map to exit 2 from KMS's own error codes)
    _key(kms, "alias/enabled")
    closed = f"127.0.0.1:{free_port()}"
    image, _, _ = _image(tmp_path)
    caplog.set_level(logging.DEBUG)
    cases: list[tuple[str, str, int, str]] = [
        ("unknown alias", f"awskms://{kms.endpoint}/alias/nope", 2, "no AWS KMS key alias/nope"),
        ("encryption key", f"awskms://{kms.endpoint}/{encrypt['KeyId']}", 2, "is not a signing key"),
        ("unreachable", f"awskms://{closed}/alias/release", 3, "AWS KMS cannot be reached"),
    ]
    for name, key, code, message in cases:
        run = cli("-vv", "sign", "--key", key, image)
        assert run.code == code, (name, run.err)
        assert message in run.err.splitlines()[0], (name, run.err)
        assert "hint:" in run.err and "Traceback" not in run.err, (name, run.err)
    assert SECRET_KEY not in caplog.text

    monkeypatch.delenv("AWS_CA_BUNDLE")
    run = cli("sign", "--key", f"awskms://{kms.endpoint}/alias/enabled", image)
    assert run.code == 3 and "TLS to AWS KMS failed" in run.err and "AWS_CA_BUNDLE" in run.err

    monkeypatch.setenv("AWS_CA_BUNDLE", kms.env["AWS_CA_BUNDLE"])
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    run = cli("sign", "--key", f"awskms://{kms.endpoint}/alias/enabled", image)
    assert run.code == 2 and "no AWS credentials" in run.err, run.err

    monkeypatch.delenv("AWS_DEFAULT_REGION")
    run = cli("public-key", "--key", f"awskms://{kms.endpoint}/alias/enabled")
    assert run.code == 2 and "no AWS region" in run.err, run.err
