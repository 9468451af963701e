"""Raw signature verification: every algorithm, both ECDSA encodings, and every way to fail."""

from __future__ import annotations

import base64
import json
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from slsacheck.errors import InvalidKey, VerificationError
from slsacheck.models import Digest
from slsacheck.signing import keys
from slsacheck.signing.keysigner import KeySigner
from slsacheck.signing.verify_sig import PublicKeyVerifier, SignatureVerifier
from tests.support.env import shared_file
from tests.support.keys import all_keys

__all__ = ["all_keys"]  # the fixture, imported for pytest

VERIFY = "anchors/verify"
CONFORMA_SIG = "conforma__cli__acceptance__image__testimage__blobs__sha256__" \
    "4912946aa9657bed0670396e6b0862038a1294225fac21be92a3938e0c62abe4"
CONFORMA_PAYLOAD = "conforma__cli__acceptance__image__testimage__blobs__sha256__" \
    "34fd1134ae4557da320663d6f6fe314ed224ae94c066b67b547b68c5a6bf854f"
DATA = b"the exact bytes that were signed"


NAMES = ["p256", "p384", "p521", "ed25519", "rsa2048"]


def _verifier(key: keys.SigningKey, **kw: str) -> PublicKeyVerifier:
    return PublicKeyVerifier(keys.public_key_of(key), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", NAMES)
def test_sign_then_verify(all_keys: dict[str, keys.SigningKey], name: str) -> None:
    signer = KeySigner(all_keys[name])
    verifier = _verifier(all_keys[name])
    assert isinstance(verifier, SignatureVerifier)
    verifier.verify(signer.sign(DATA), DATA)


@pytest.mark.parametrize("name", NAMES)
def test_changed_data_tampered_signature_and_wrong_key_fail(all_keys: dict[str, keys.SigningKey], name: str) -> None:
    signer = KeySigner(all_keys[name])
    sig = signer.sign(DATA)
    verifier = _verifier(all_keys[name])
    with pytest.raises(VerificationError, match="does not verify"):
        verifier.verify(sig, DATA + b"!")
    tampered = bytearray(sig)
    tampered[len(sig) // 2] ^= 0x01
    with pytest.raises(VerificationError):
        verifier.verify(bytes(tampered), DATA)
    other = KeySigner(all_keys["p256" if name != "p256" else "p384"]).sign(DATA)
    with pytest.raises(VerificationError):
        verifier.verify(other, DATA)
    fresh = {"p256": lambda: ec.generate_private_key(ec.SECP256R1()),
             "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
             "p521": lambda: ec.generate_private_key(ec.SECP521R1()),
             "ed25519": ed25519.Ed25519PrivateKey.generate,
             "rsa2048": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)}[name]()
    with pytest.raises(VerificationError) as info:
        _verifier(fresh).verify(sig, DATA)  # type: ignore[arg-type]
    assert keys.fingerprint(fresh) in info.value.message  # type: ignore[arg-type]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("length", [0, 1, 8, 31, 63, 64, 65, 70, 96, 132, 255, 256, 257])
def test_garbage_and_truncated_signatures_are_verification_errors(
    all_keys: dict[str, keys.SigningKey], name: str, length: int
) -> None:
    verifier = _verifier(all_keys[name])
    with pytest.raises(VerificationError):
        verifier.verify(os.urandom(length), DATA)
    sig = KeySigner(all_keys[name]).sign(DATA)
    if length < len(sig):
        with pytest.raises(VerificationError):
            verifier.verify(sig[:length], DATA)


@pytest.mark.parametrize(("name", "size"), [("p256", 32), ("p384", 48), ("p521", 66)])
def test_ecdsa_der_and_p1363_both_accepted(all_keys: dict[str, keys.SigningKey], name: str, size: int) -> None:
    der = KeySigner(all_keys[name]).sign(DATA)
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    verifier = _verifier(all_keys[name])
    verifier.verify(der, DATA)
    verifier.verify(raw, DATA)
    with pytest.raises(VerificationError, match="does not verify"):
        verifier.verify(raw, DATA + b"x")
    with pytest.raises(VerificationError, match="malformed"):
        verifier.verify(raw[:-1], DATA)
    with pytest.raises(VerificationError):
        verifier.verify(der + b"\x00", DATA)  # trailing bytes after the DER are not DER


def test_ecdsa_hash_follows_curve(all_keys: dict[str, keys.SigningKey]) -> None:
    key = all_keys["p384"]
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    sig = KeySigner(key).sign(DATA)
    key.public_key().verify(sig, DATA, ec.ECDSA(hashes.SHA384()))
    with pytest.raises(VerificationError):
        _verifier(key, hash_algorithm="sha256").verify(sig, DATA)
    foreign = key.sign(DATA, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(VerificationError):
        _verifier(key).verify(foreign, DATA)


def test_ed25519ph_matches_rfc8032_vector() -> None:
    # RFC 8032 section 7.3, the Ed25519ph test vector (message "abc").
    seed = bytes.fromhex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42")
    expected = bytes.fromhex(
        "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41"
        "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406"
    )
    key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    assert key.public_key().public_bytes_raw().hex() == \
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf"
    assert KeySigner(key).sign(b"abc") == expected
    _verifier(key, ed25519_mode="ph").verify(expected, b"abc")


def test_ed25519_pure_and_prehashed_are_kept_apart(all_keys: dict[str, keys.SigningKey]) -> None:
    key = all_keys["ed25519"]
    ph = KeySigner(key).sign(DATA)
    pure = KeySigner(key, ed25519ph=False).sign(DATA)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    assert pure == key.sign(DATA)
    _verifier(key).verify(ph, DATA)
    _verifier(key).verify(pure, DATA)
    _verifier(key, ed25519_mode="pure").verify(pure, DATA)
    with pytest.raises(VerificationError):
        _verifier(key, ed25519_mode="pure").verify(ph, DATA)
    with pytest.raises(VerificationError):
        _verifier(key, ed25519_mode="ph").verify(pure, DATA)


def test_rsa_pkcs1v15_and_pss(all_keys: dict[str, keys.SigningKey]) -> None:
    key = all_keys["rsa2048"]
    assert isinstance(key, rsa.RSAPrivateKey)
    verifier = _verifier(key)
    for salt in (padding.PSS.DIGEST_LENGTH, padding.PSS.MAX_LENGTH):
        pss = key.sign(DATA, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=salt), hashes.SHA256())
        verifier.verify(pss, DATA)
        with pytest.raises(VerificationError, match="RSA signature does not verify") as info:
            verifier.verify(pss, DATA[:-1])
        assert "neither PKCS#1 v1.5 nor PSS" in (info.value.found or "")
    verifier.verify(key.sign(DATA, padding.PKCS1v15(), hashes.SHA256()), DATA)
    with pytest.raises(VerificationError):
        verifier.verify(key.sign(DATA, padding.PKCS1v15(), hashes.SHA512()), DATA)


def test_bad_verifier_settings() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(InvalidKey, match="unsupported hash"):
        PublicKeyVerifier(key, hash_algorithm="md5")
    with pytest.raises(InvalidKey, match="Ed25519 mode"):
        PublicKeyVerifier(key, ed25519_mode="both")
    with pytest.raises(InvalidKey, match="needs a public key"):
        PublicKeyVerifier(ec.generate_private_key(ec.SECP256R1()))  # type: ignore[arg-type]


# -- upstream: Conforma's keyless .sig layer (only the signature; chains are checked elsewhere) --


def test_conforma_simple_signing_signature_verifies_with_its_certificate() -> None:
    manifest = json.loads(shared_file(VERIFY, CONFORMA_SIG).read_bytes())
    payload = shared_file(VERIFY, CONFORMA_PAYLOAD).read_bytes()
    (layer,) = manifest["layers"]
    Digest.parse(layer["digest"]).check(payload, "the signature payload")
    annotations = layer["annotations"]
    cert = x509.load_pem_x509_certificate(annotations["dev.sigstore.cosign/certificate"].encode())
    verifier = PublicKeyVerifier(cert.public_key())  # type: ignore[arg-type]
    signature = base64.b64decode(annotations["dev.cosignproject.cosign/signature"])
    verifier.verify(signature, payload)

    changed = payload.replace(b"bb2863eb", b"bb2863ec")
    with pytest.raises(VerificationError):
        verifier.verify(signature, changed)
    with pytest.raises(VerificationError):
        verifier.verify(signature[:-3], payload)
    chain = x509.load_pem_x509_certificate(annotations["dev.sigstore.cosign/chain"].encode())
    with pytest.raises(VerificationError):
        PublicKeyVerifier(chain.public_key()).verify(signature, payload)  # type: ignore[arg-type]
