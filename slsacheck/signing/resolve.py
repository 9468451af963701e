"""Signers and verification keys by reference: one string names where the key lives.

    PATH | file://PATH    a key file (cosign encrypted, or plain PEM)
    env://VAR             PEM in an environment variable (how a Tekton step gets a Secret)
    keyless               Fulcio certificate + Rekor entry for an OIDC identity token
    awskms:// gcpkms:// azurekms:// hashivault://   reserved for KMS backends (not shipped)

Dispatch goes through `SIGNER_SCHEMES`, one factory per scheme; backends with heavy
dependencies are imported inside their factory, so naming a key file never loads
sigstore. Secrets come only through the `password` callback (called only for an
encrypted key) or the identity token argument: this module never prompts and never
logs them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from slsacheck.errors import InvalidKey
from slsacheck.signing import keys
from slsacheck.signing.keys import PasswordCallback
from slsacheck.signing.keysigner import KeySigner
from slsacheck.signing.signer import Signer
from slsacheck.signing.verify_sig import PublicKeyVerifier

KMS_SCHEMES = ("awskms", "gcpkms", "azurekms", "hashivault")
_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*)://(.*)", re.DOTALL)


@dataclass(frozen=True)
class SignerRequest:
    """Everything a backend may need; each backend uses its part."""

    uri: str
    rest: str
    password: PasswordCallback | None = None
    identity_token: str | None = None
    trust_config: str | None = None


SignerFactory = Callable[[SignerRequest], Signer]


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
    data, where = _read_file(request.rest, "key file")
    return KeySigner.from_pem(data, password=request.password, where=where)


def _key_env(request: SignerRequest) -> Signer:
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
    signer: Signer = KeylessSigner(request.identity_token, trust_config=request.trust_config)
    return signer


def _not_shipped(scheme: str) -> SignerFactory:
    def factory(request: SignerRequest) -> Signer:
        raise InvalidKey(
            f"the {scheme}:// signing backend is not shipped yet",
            expected="a key file, env://VAR or keyless",
            found=request.uri,
            hint="export the key to a cosign key file, or sign keyless",
        )

    return factory


SIGNER_SCHEMES: dict[str, SignerFactory] = {
    "file": _key_file,
    "env": _key_env,
    "keyless": _keyless,
    **{scheme: _not_shipped(scheme) for scheme in KMS_SCHEMES},
}


def _split(uri: str) -> tuple[str, str]:
    """(scheme, rest); a plain path is scheme "file", the bare word `keyless` scheme "keyless"."""
    if uri == "keyless":
        return "keyless", ""
    match = _SCHEME.fullmatch(uri)
    if match is None:
        return "file", uri
    return match.group(1), match.group(2)


def _unknown(uri: str, scheme: str, known: list[str]) -> InvalidKey:
    return InvalidKey(
        f"unknown key reference scheme {scheme}://",
        expected="a path, or one of " + ", ".join(f"{s}://" if s != "keyless" else s for s in known),
        found=uri,
    )


def load_signer(
    uri: str,
    *,
    password: PasswordCallback | None = None,
    identity_token: str | None = None,
    trust_config: str | None = None,
) -> Signer:
    """The signer `uri` names (see the module docstring for the forms)."""
    scheme, rest = _split(uri)
    factory = SIGNER_SCHEMES.get(scheme)
    if factory is None:
        raise _unknown(uri, scheme, list(SIGNER_SCHEMES))
    return factory(SignerRequest(uri, rest, password, identity_token, trust_config))


def load_verifier(uri: str, *, password: PasswordCallback | None = None) -> PublicKeyVerifier:
    """A verifier for the public key at `uri` (path, file://, env://).

    The reference may also name a private key, as cosign allows: its public half is used.
    """
    scheme, rest = _split(uri)
    if scheme in KMS_SCHEMES:
        _not_shipped(scheme)(SignerRequest(uri, rest))
    if scheme == "file":
        data, where = _read_file(rest, "public key file")
    elif scheme == "env":
        data, where = _read_env(rest, "public key")
    else:
        raise _unknown(uri, scheme, ["file", "env", *KMS_SCHEMES])
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
