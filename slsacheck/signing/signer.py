"""The one signing interface, and what a signature carries out of it.

Backends (a key file, `env://VAR`, keyless Fulcio + Rekor, and keys on a PKCS#11
token or in a KMS through `delegated.DelegatedSigner`) implement `Signer`. The attach
layer turns what they return into cosign's `.sig`/`.att` layers and Sigstore bundles;
it never needs to know which backend signed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Material:
    """What proves who signed, beyond the signature bytes.

    `certificate` and `chain` are PEM (keyless). `rekor_bundle` is cosign's
    `dev.sigstore.cosign/bundle` annotation value as a JSON object:
    `{"SignedEntryTimestamp": b64, "Payload": {"body", "integratedTime", "logIndex", "logID"}}`.
    `sigstore_bundle` is the whole Sigstore bundle v0.3 JSON for the same signature.
    `rfc3161_timestamp` is the DER timestamp response, if a TSA was used.
    """

    public_key_pem: bytes | None = None
    certificate: bytes | None = None
    chain: bytes | None = None
    rekor_bundle: Mapping[str, Any] | None = None
    sigstore_bundle: Mapping[str, Any] | None = None
    rfc3161_timestamp: bytes | None = None


@dataclass(frozen=True)
class SignedMessage:
    """A signature over exact payload bytes (cosign simple signing, message-signature bundles)."""

    payload: bytes
    signature: bytes
    material: Material = field(default_factory=Material)


@dataclass(frozen=True)
class SignedEnvelope:
    """A DSSE envelope (JSON object, as serialised into `.att` layers and bundles)."""

    envelope: Mapping[str, Any]
    material: Material = field(default_factory=Material)


@runtime_checkable
class Signer(Protocol):
    """Signs messages and DSSE payloads. Secrets come in through the constructor or a
    callback, never through a prompt inside the library."""

    @property
    def description(self) -> str:
        """Who signs, for messages: a key fingerprint, or the keyless identity."""
        ...

    def sign_message(self, payload: bytes) -> SignedMessage: ...

    def sign_dsse(self, payload_type: str, payload: bytes) -> SignedEnvelope: ...
