"""`pkcs11:` (RFC 7512) and `awskms://` references, parsed without a token or a KMS: what each
form names, where the PIN comes from, and every malformed form refused with the PIN hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from slsacheck.errors import InvalidKey
from slsacheck.signing import resolve
from slsacheck.signing.kms_aws_uri import parse_awskms
from slsacheck.signing.pkcs11_uri import SCHEME, parse, redact

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "83150927"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COSIGN_PKCS11_PIN", raising=False)
    monkeypatch.delenv("COSIGN_PKCS11_MODULE_PATH", raising=False)


def test_cosign_forms() -> None:
    ref = parse(f"pkcs11:token=My%20Token;slot-id=7;object=release;id=%01%ab?module-path={MODULE}&pin-value={PIN}")
    assert (ref.token, ref.slot_id, ref.label, ref.key_id, ref.module_path) == ("My Token", 7, "release",
                                                                                 b"\x01\xab", MODULE)
    assert ref.pin == PIN
    assert PIN not in repr(ref) and PIN not in ref.redacted
    assert ref.key_name == "object=release;id=01ab"
    assert parse(f"pkcs11:slot-id=0;id=%02?module-path={MODULE}").pin is None


def test_pin_sources_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text(PIN + "\n")
    base = f"pkcs11:token=t;object=k?module-path={MODULE}"
    assert parse(f"{base}&pin-source={pin_file}").pin == PIN
    assert parse(f"{base}&pin-source=file:{pin_file}").pin == PIN
    monkeypatch.setenv("COSIGN_PKCS11_PIN", "from-env")
    assert parse(base).pin == "from-env"
    assert parse(f"{base}&pin-value=given").pin == "given"  # the reference's own PIN wins
    monkeypatch.setenv("COSIGN_PKCS11_MODULE_PATH", "/opt/vendor/p11.so")
    assert parse("pkcs11:token=t;object=k").module_path == "/opt/vendor/p11.so"


@pytest.mark.parametrize(("uri", "message"), [
    (f"pkcs11:object=k?module-path={MODULE}&pin-value={PIN}", "no token"),
    (f"pkcs11:token=t?module-path={MODULE}&pin-value={PIN}", "no key named"),
    (f"pkcs11:token=t;object=k?pin-value={PIN}", "no PKCS#11 module"),
    (f"pkcs11:token=t;objet=k?module-path={MODULE}&pin-value={PIN}", "unknown attribute objet"),
    (f"pkcs11:token=t;object=k;object=j?module-path={MODULE}&pin-value={PIN}", "attribute object given twice"),
    (f"pkcs11:token=t;slot-id=x1;object=k?module-path={MODULE}&pin-value={PIN}", "slot-id 'x1' is not a number"),
    # digits `str.isdigit` takes and `int` refuses (superscript two), or reads in another script
    (f"pkcs11:token=t;slot-id=%C2%B2;object=k?module-path={MODULE}&pin-value={PIN}", "is not a number"),
    (f"pkcs11:token=t;slot-id=%D9%A1;object=k?module-path={MODULE}&pin-value={PIN}", "is not a number"),
    (f"pkcs11:token=t;object=k;type=secret-key?module-path={MODULE}&pin-value={PIN}", "is not a key"),
    (f"pkcs11:token=t;object=k?module-path={MODULE}&pin-value={PIN}&pin-source=/run/pin", "both given"),
    (f"pkcs11:token=t;object=k?module-path={MODULE}&pin-source=relative/pin&pin-value={PIN}", "both given"),
    (f"pkcs11:token=t;object=k?module-path={MODULE}&pin-value{PIN}", "not NAME=VALUE"),
    (f"pkcs11://token/key?pin-value={PIN}", "not a host and path"),
    (f"pkcs11:token=t;object=k?module-path={MODULE}&pin-sorce={PIN}", "unknown attribute pin-sorce"),
])
def test_malformed_references_are_refused_without_the_pin(uri: str, message: str) -> None:
    with pytest.raises(InvalidKey, match=message) as info:
        parse(uri)
    assert PIN not in info.value.diagnostics() + str(info.value)
    assert info.value.exit_code == 2


def test_pin_source_must_be_a_readable_absolute_file(tmp_path: Path) -> None:
    base = f"pkcs11:token=t;object=k?module-path={MODULE}"
    with pytest.raises(InvalidKey, match="absolute path"):
        parse(f"{base}&pin-source=pin.txt")
    with pytest.raises(InvalidKey, match="cannot be read"):
        parse(f"{base}&pin-source={tmp_path / 'absent'}")
    big = tmp_path / "big"
    big.write_bytes(b"1" * 5000)
    with pytest.raises(InvalidKey, match="too large to be a PIN"):
        parse(f"{base}&pin-source={big}")


def test_redact_hides_every_value_that_may_be_a_pin() -> None:
    text = redact(f"pkcs11:token=t;object=k?pin-value={PIN}&module-path={MODULE}&PIN-VALUE={PIN};x&pin-valeu={PIN}"
                  f"&{PIN}")
    assert PIN not in text and MODULE in text
    assert text.startswith("pkcs11:token=t;object=k?pin-value=***&")
    assert PIN not in redact(f"pkcs11:token=t;pin-value={PIN};{PIN}")  # a PIN put among the path attributes


@pytest.mark.parametrize(("uri", "key", "endpoint", "region"), [
    ("awskms:///1234abcd-12ab-34cd-56ef-1234567890ab", "1234abcd-12ab-34cd-56ef-1234567890ab", None, None),
    ("awskms:///alias/team/release", "alias/team/release", None, None),
    ("awskms:///arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab", "arn:aws:kms:eu-west-1:111122223333:key/"
     "1234abcd-12ab", None, "eu-west-1"),
    ("awskms:///arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/rel", "arn:aws-us-gov:kms:us-gov-west-1:"
     "111122223333:alias/rel", None, "us-gov-west-1"),
    ("awskms://localhost:4566/alias/release", "alias/release", "localhost:4566", None),
])
def test_awskms_forms(uri: str, key: str, endpoint: str | None, region: str | None) -> None:
    ref = parse_awskms(uri)
    assert (ref.key, ref.endpoint, ref.region) == (key, endpoint, region)


@pytest.mark.parametrize(("uri", "message"), [
    ("awskms://", "names no key"),
    ("awskms://host:1", "names no key"),
    ("awskms:///alias/with space", "not a key id, alias or ARN"),
    ("awskms:///arn:aws:s3:::bucket", "not a key id, alias or ARN"),
    ("awskms://user@host/alias/x", r"is not HOST\[:PORT\]"),
    ("awskms://alias/release", "reads 'alias' as an endpoint"),
])
def test_awskms_malformed(uri: str, message: str) -> None:
    with pytest.raises(InvalidKey, match=message) as info:
        parse_awskms(uri)
    assert info.value.exit_code == 2


def test_resolve_names_the_pkcs11_scheme_and_redacts_without_loading_the_parser_first() -> None:
    assert resolve._PKCS11 == SCHEME
    uri = "pkcs11:token=t;object=k?pin-value=1234"
    assert resolve._split(uri) == ("pkcs11", uri)
    with pytest.raises(InvalidKey) as caught:
        resolve.load_verifier("pkcs11:token=t;object=k?pin-value=1234;pin-value=5678")
    assert "1234" not in str(caught.value) and "5678" not in str(caught.value)
