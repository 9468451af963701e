"""Signers and verification keys by reference: one string names where the key lives.

    PATH | file://PATH    a key file (cosign encrypted, or plain PEM)
    env://VAR             PEM in an environment variable (how a Tekton step gets a Secret)
    keyless               Fulcio certificate + Rekor entry for an OIDC identity token
    pkcs11:token=T;object=K?module-path=M   a key on a PKCS#11 token (RFC 7512; `pkcs11_uri`)
    awskms://[HOST:PORT]/KEY                an AWS KMS key: id, alias/NAME or ARN (`kms_aws_uri`)
    gcpkms:// azurekms:// hashivault://     named as cosign names them, refused with what is missing

Dispatch goes through `SIGNER_SCHEMES`, one factory per scheme; backends with heavy
dependencies are imported inside their factory, so naming a key file never loads
sigstore, boto3 or a PKCS#11 binding, and an installation without one of those
optional extras fails with "install slsacheck[EXTRA]". Keys that never leave a device
or service are `KeyBackend`s (`KEY_BACKENDS`) behind one `DelegatedSigner`; they serve
`load_verifier` too (their public half), which is what `slsacheck public-key` prints.
Secrets come only through the `password` callback (called only for an encrypted key),
the identity token argument, or a PKCS#11 reference's own PIN sources: this module
never prompts and never logs them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from slsacheck.errors import InvalidKey
from slsacheck.signing import keys
from slsacheck.signing.keys import PasswordCallback
from slsacheck.signing.verify_sig import PublicKeyVerifier

if TYPE_CHECKING:
    from slsacheck.signing.delegated import KeyBackend
    from slsacheck.signing.signer import Signer

KMS_SCHEMES = ("awskms", "gcpkms", "azurekms", "hashivault")
# What a refused scheme lacks, and the ways to sign that work instead.
_MISSING = {
    "gcpkms": ("Google Cloud KMS client", "Cloud KMS keys also sign through Google's PKCS#11 library: "
               "pkcs11:...?module-path=/path/to/libkmsp11.so"),
    "azurekms": ("Azure Key Vault client", "use a pkcs11: token, awskms://, a key file, or keyless"),
    "hashivault": ("HashiCorp Vault transit client", "use a pkcs11: token, awskms://, a key file, or keyless"),
}
_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*)://(.*)", re.DOTALL)
# `pkcs11_uri.SCHEME`: recognising the scheme does not load the RFC 7512 parser (a module and
# a dataclass every key file and keyless run would pay); a PKCS#11 key or an error loads it.
_PKCS11 = "pkcs11:"


def _redact(uri: str) -> str:
    from slsacheck.signing.pkcs11_uri import redact  # noqa: PLC0415 - see _PKCS11

    return redact(uri)


@dataclass(frozen=True)
class SignerRequest:
    """Everything a backend may need; each backend uses its part."""

    uri: str
    rest: str
    password: PasswordCallback | None = None
    identity_token: str | None = None
    trust_config: str | None = None
    signing_config: str | None = None  # keyless: a Sigstore signing config, with trusted_root
    trusted_root: str | None = None


# The signers themselves load in their factories: `verify --key` resolves a public key
# through this module and never pays for the signing code (keysigner, delegated, signer).
SignerFactory = Callable[[SignerRequest], "Signer"]
BackendFactory = Callable[[str, bool], "KeyBackend"]  # (reference, for signing?) -> backend


def _read_file(path_text: str, what: str) -> tuple[bytes, str]:
    if not path_text:
        raise InvalidKey(f"empty {what} path", expected="a file path", found="''")
    path = Path(path_text).expanduser()
    try:
        return path.read_bytes(), str(path)
    except FileNotFoundError:
        raise InvalidKey(f"{what} {path} does not exist", hint="check the path, or use env://VAR for a key "
                         "in an environment variable") from None
    except IsADirectoryError:
        raise InvalidKey(f"{what} {path} is a directory", expected="a PEM file") from None
    except OSError as exc:
        raise InvalidKey(f"{what} {path} cannot be read: {exc.strerror}") from None


def _read_env(var: str, what: str) -> tuple[bytes, str]:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
        raise InvalidKey(f"env:// needs a variable name for the {what}", expected="env://NAME", found=f"env://{var}")
    value = os.environ.get(var)
    if value is None:
        raise InvalidKey(f"environment variable {var} is not set", expected=f"a PEM {what} in ${var}",
                         hint="in Tekton, map the Secret key to this variable with env.valueFrom.secretKeyRef")
    if not value.strip():
        raise InvalidKey(f"environment variable {var} is empty", expected=f"a PEM {what} in ${var}")
    return value.encode("utf-8"), f"env://{var}"


def _key_file(request: SignerRequest) -> Signer:
    from slsacheck.signing.keysigner import KeySigner  # noqa: PLC0415 - see SignerFactory

    data, where = _read_file(request.rest, "key file")
    return KeySigner.from_pem(data, password=request.password, where=where)


def _key_env(request: SignerRequest) -> Signer:
    from slsacheck.signing.keysigner import KeySigner  # noqa: PLC0415 - see SignerFactory

    data, where = _read_env(request.rest, "private key")
    return KeySigner.from_pem(data, password=request.password, where=where)


def _keyless(request: SignerRequest) -> Signer:
    if request.rest:
        raise InvalidKey("keyless takes no argument", expected="keyless", found=request.uri)
    if not request.identity_token:
        raise InvalidKey("keyless signing needs an OIDC identity token", hint="pass --identity-token FILE "
                         "(in Tekton, a projected service-account token) or - to read it from stdin")
    try:
        from slsacheck.signing.keyless import KeylessSigner  # noqa: PLC0415 - sigstore loads only for keyless
    except ImportError as exc:
        raise InvalidKey("keyless signing is not available in this installation", found=str(exc),
                         hint="install slsacheck with its sigstore dependency") from exc
    signer: Signer = KeylessSigner(
        request.identity_token,
        trust_config=request.trust_config,
        signing_config=request.signing_config,
        trusted_root=request.trusted_root,
    )
    return signer


def _extra_missing(what: str, extra: str, exc: ImportError) -> InvalidKey:
    return InvalidKey(f"{what} keys are not available in this installation", found=f"missing module {exc.name}",
                      hint=f"install slsacheck[{extra}]")


def _pkcs11_backend(uri: str, signing: bool) -> KeyBackend:
    from slsacheck.signing.pkcs11_uri import parse  # noqa: PLC0415 - see _PKCS11

    ref = parse(uri)
    try:
        from slsacheck.signing.pkcs11_token import Pkcs11Key  # noqa: PLC0415 - optional extra
    except ImportError as exc:
        raise _extra_missing("pkcs11:", "pkcs11", exc) from None
    return Pkcs11Key(ref, signing=signing)


def _awskms_backend(uri: str, signing: bool) -> KeyBackend:
    # Its parser (a dataclass and two regexes) loads with it: a key file's start-up never pays for it.
    from slsacheck.signing.kms_aws_uri import parse_awskms  # noqa: PLC0415

    ref = parse_awskms(uri)
    try:
        from slsacheck.signing.kms_aws import AwsKmsKey  # noqa: PLC0415 - optional extra
    except ImportError as exc:
        raise _extra_missing("awskms://", "kms", exc) from None
    return AwsKmsKey(ref)


def _unsupported(scheme: str) -> BackendFactory:
    missing, instead = _MISSING[scheme]

    def backend(uri: str, signing: bool) -> KeyBackend:
        raise InvalidKey(f"{scheme}:// keys are not supported by this build of slsacheck: it has no {missing}",
                         expected="a key file, env://VAR, pkcs11:, awskms:// or keyless", found=_redact(uri),
                         hint=instead)

    return backend


KEY_BACKENDS: dict[str, BackendFactory] = {
    "pkcs11": _pkcs11_backend,
    "awskms": _awskms_backend,
    **{scheme: _unsupported(scheme) for scheme in _MISSING},
}


def _delegated(request: SignerRequest) -> Signer:
    from slsacheck.signing.delegated import DelegatedSigner  # noqa: PLC0415 - see SignerFactory

    scheme, _ = _split(request.uri)
    return DelegatedSigner(KEY_BACKENDS[scheme](request.uri, True))


SIGNER_SCHEMES: dict[str, SignerFactory] = {
    "file": _key_file,
    "env": _key_env,
    "keyless": _keyless,
    **{scheme: _delegated for scheme in KEY_BACKENDS},
}


def _split(uri: str) -> tuple[str, str]:
    """(scheme, rest); a plain path is scheme "file", the bare word `keyless` scheme "keyless",
    an RFC 7512 reference (`pkcs11:...`, no `//`) scheme "pkcs11"."""
    if uri == "keyless":
        return "keyless", ""
    if uri.startswith(_PKCS11):
        return "pkcs11", uri
    match = _SCHEME.fullmatch(uri)
    if match is None:
        return "file", uri
    return match.group(1), match.group(2)


def _spelled(scheme: str) -> str:
    return {"keyless": "keyless", "pkcs11": "pkcs11:"}.get(scheme, f"{scheme}://")


def _unknown(uri: str, scheme: str, known: list[str]) -> InvalidKey:
    return InvalidKey(
        f"unknown key reference scheme {scheme}://",
        expected="a path, or one of " + ", ".join(_spelled(s) for s in known),
        found=_redact(uri),
    )


def load_signer(
    uri: str,
    *,
    password: PasswordCallback | None = None,
    identity_token: str | None = None,
    trust_config: str | None = None,
    signing_config: str | None = None,
    trusted_root: str | None = None,
) -> Signer:
    """The signer `uri` names (see the module docstring for the forms)."""
    scheme, rest = _split(uri)
    factory = SIGNER_SCHEMES.get(scheme)
    if factory is None:
        raise _unknown(uri, scheme, list(SIGNER_SCHEMES))
    return factory(SignerRequest(uri, rest, password, identity_token, trust_config, signing_config, trusted_root))


def load_verifier(uri: str, *, password: PasswordCallback | None = None) -> PublicKeyVerifier:
    """A verifier for the public key at `uri` (path, file://, env://, pkcs11:, awskms://).

    The reference may also name a private key, as cosign allows: its public half is used.
    """
    scheme, rest = _split(uri)
    backend = KEY_BACKENDS.get(scheme)
    if backend is not None:
        return PublicKeyVerifier(backend(uri, False).public_key())
    if scheme == "file":
        data, where = _read_file(rest, "public key file")
    elif scheme == "env":
        data, where = _read_env(rest, "public key")
    else:
        raise _unknown(uri, scheme, ["file", "env", *KEY_BACKENDS])
    if b"PRIVATE KEY-----" in data:
        if password is None and keys.is_encrypted(data):
            # Verifying never needs a secret: asking for the password of a private key given in
            # place of the public one would send the user after the wrong fix.
            raise InvalidKey(
                f"{where} is a private key; verifying takes the public key",
                expected="a PUBLIC KEY PEM (the .pub file of the pair)",
                found="an encrypted private key",
                hint=f"use the .pub written next to it, or print it: slsacheck public-key --key {uri}",
            )
        return PublicKeyVerifier(keys.public_key_of(keys.load_private_key(data, password=password, where=where)))
    return PublicKeyVerifier(keys.load_public_key(data, where=where))
