"""Keyless signing: an OIDC identity token buys a short-lived Fulcio certificate, every
signature is logged in Rekor, and a TSA timestamps it when the deployment has one.

sigstore-python does the protocol; this module turns its Sigstore bundle into the
`Material` cosign's formats need: the leaf certificate and the Fulcio chain as PEM, the
Rekor Signed Entry Timestamp in the `dev.sigstore.cosign/bundle` annotation shape, the
RFC 3161 timestamp, and the bundle itself.

Invariants:
- one ephemeral key and one certificate per `KeylessSigner`, fetched on first use and
  reused until the certificate expires (a recursive sign of an index is one identity);
- nothing touches the network before the first signature; a token that does not parse
  fails at construction, before any service is contacted;
- the public-good Sigstore is used only when no trust config is given, and fetching its
  trust root (TUF) failing is an error that says to pass a trust config;
- every sigstore exception is wrapped here into a `slsacheck.errors.Error`.

This module imports sigstore at its top: the CLI imports it only inside the commands
that sign keyless, so `slsacheck --help` never pays for it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sigstore.dsse import Statement
from sigstore.errors import Error as SigstoreError
from sigstore.models import Bundle, ClientTrustConfig
from sigstore.oidc import IdentityError, IdentityToken
from sigstore.sign import Signer as SigstoreSigner
from sigstore.sign import SigningContext

from slsacheck.errors import Error, InputError
from slsacheck.signing.signer import Material, SignedEnvelope, SignedMessage

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


class InvalidIdentityToken(InputError):
    """An OIDC identity token that does not parse or is not valid for Sigstore now."""


class InvalidTrustConfig(InputError):
    """A Sigstore ClientTrustConfig that cannot be read."""


class SigstoreServiceError(Error):
    """Fulcio, Rekor, the TSA or the TUF repository failed or could not be reached."""


class KeylessSigner:
    """A `Signer` whose identity is an OIDC token, through Fulcio and Rekor.

    `trust_config` is the path of a Sigstore ClientTrustConfig JSON (trusted root and
    signing config: a private deployment); without it, the public-good instance.
    """

    def __init__(self, identity_token: str, *, trust_config: str | None = None) -> None:
        self._token = _parse_token(identity_token)
        self._trust_config_path = trust_config
        self._config: ClientTrustConfig | None = None
        if trust_config is not None:
            # Read now: a config that does not parse must fail before any signing starts.
            self._config = _load_trust_config(trust_config)
        self._signer: SigstoreSigner | None = None
        self._urls: dict[str, str] = {}

    @property
    def description(self) -> str:
        return f"keyless {self._token.identity} (issuer {self._token.federated_issuer})"

    @property
    def identity(self) -> str:
        """The token's identity (what Fulcio puts in the certificate's SAN)."""
        return str(self._token.identity)

    @property
    def issuer(self) -> str:
        """The OIDC issuer Fulcio puts in the certificate."""
        return str(self._token.federated_issuer)

    def sign_message(self, payload: bytes) -> SignedMessage:
        bundle = self._call("sign", lambda s: s.sign_artifact(payload))
        doc = _bundle_json(bundle)
        signature = base64.b64decode(doc["messageSignature"]["signature"])
        return SignedMessage(payload=payload, signature=signature, material=self._material(bundle, doc))

    def sign_dsse(self, payload_type: str, payload: bytes) -> SignedEnvelope:
        if payload_type != IN_TOTO_PAYLOAD_TYPE:
            raise InputError(
                "keyless DSSE signing takes in-toto statements only",
                expected=IN_TOTO_PAYLOAD_TYPE,
                found=payload_type,
                hint="sign other payloads with a key, or wrap them in an in-toto Statement",
            )
        try:
            statement = Statement(payload)
        except SigstoreError as exc:
            raise InputError(
                "the payload is not an in-toto Statement",
                found=_first_line(exc),
                hint="a Statement needs _type, subject (name + digest) and predicateType",
            ) from exc
        bundle = self._call("attest", lambda s: s.sign_dsse(statement))
        doc = _bundle_json(bundle)
        envelope = dict(doc["dsseEnvelope"])
        return SignedEnvelope(envelope=envelope, material=self._material(bundle, doc))

    # -- plumbing ------------------------------------------------------------------

    def _call(self, what: str, action: Callable[[SigstoreSigner], Bundle]) -> Bundle:
        signer = self._sigstore_signer()
        try:
            try:
                return action(signer)
            except Exception as exc:
                if type(exc).__name__ != "ExpiredCertificate":
                    raise
                # Fulcio certificates live minutes; a long run (a large index signed
                # recursively) outlives one. A new key and certificate need only a token
                # that is still valid; if it is not, that error is the one to show.
                self._signer = None
                return action(self._sigstore_signer())
        except Error:
            raise
        except Exception as exc:
            # The certificate is already in hand and sigstore only logs TSA failures, so
            # what fails here is Rekor; sigstore lets requests' connection errors through
            # unwrapped, and none of it is a verdict on our input.
            raise _service_error(what, exc, service="Rekor", urls=self._urls) from exc

    def _sigstore_signer(self) -> SigstoreSigner:
        if self._signer is not None:
            return self._signer
        config = self._config if self._config is not None else _production_trust_config()
        self._config = config
        try:
            context = SigningContext.from_trust_config(config)
        except Exception as exc:
            raise InvalidTrustConfig(
                "the trust config names no usable Fulcio or Rekor service",
                found=_first_line(exc),
                hint="its signingConfig needs caUrls and rekorTlogUrls valid now",
            ) from exc
        # For messages only: which URL each service was reached at.
        self._urls = {
            name: str(getattr(client, "url", "?"))
            for name, client in (("Fulcio", context._fulcio), ("Rekor", context._rekor))
        }
        try:
            self._signer = SigstoreSigner(self._token, context, cache=True)
        except Error:
            raise
        except Exception as exc:
            raise _service_error("certificate request", exc, service="Fulcio", urls=self._urls) from exc
        return self._signer

    def _material(self, bundle: Bundle, doc: Mapping[str, Any]) -> Material:
        assert self._config is not None
        leaf = bundle.signing_certificate
        chain = _issuer_chain(leaf, self._config.trusted_root.get_fulcio_certs())
        material = doc.get("verificationMaterial", {})
        entries = material.get("tlogEntries") or []
        return Material(
            certificate=leaf.public_bytes(Encoding.PEM),
            chain=b"".join(c.public_bytes(Encoding.PEM) for c in chain),
            rekor_bundle=rekor_bundle(entries[0]) if entries else None,
            sigstore_bundle=doc,
            rfc3161_timestamp=_first_timestamp(material),
        )


def rekor_bundle(entry: Mapping[str, Any]) -> dict[str, Any] | None:
    """cosign's `dev.sigstore.cosign/bundle` value from a bundle's transparency log entry.

    The SET signs the canonical JSON of exactly these four payload fields; `logID` is
    hex there but base64 in the bundle. An entry without an inclusion promise (Rekor v2
    logs integrate synchronously and sign none) has no cosign bundle: None.
    """
    promise = entry.get("inclusionPromise") or {}
    set_b64 = promise.get("signedEntryTimestamp")
    if not set_b64 or "integratedTime" not in entry:
        return None
    return {
        "SignedEntryTimestamp": set_b64,
        "Payload": {
            "body": entry["canonicalizedBody"],
            "integratedTime": int(entry["integratedTime"]),
            # protobuf JSON omits a zero index; the log's first entry is index 0.
            "logIndex": int(entry.get("logIndex", 0)),
            "logID": base64.b64decode(entry["logId"]["keyId"]).hex(),
        },
    }


def _parse_token(raw: str) -> IdentityToken:
    token = raw.strip()
    if not token:
        raise InvalidIdentityToken(
            "the identity token is empty",
            hint="pass the OIDC token file Tekton projects (e.g. --identity-token /var/run/sigstore/oidc/token)",
        )
    try:
        return IdentityToken(token)
    except IdentityError as exc:
        raise InvalidIdentityToken(
            "the identity token is not a usable OIDC token for Sigstore",
            found=_first_line(exc),
            hint="the token must be a JWT with iss, sub, aud=sigstore, iat and an unexpired exp; "
            "request it with audience 'sigstore'",
        ) from exc


def _load_trust_config(path: str) -> ClientTrustConfig:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidTrustConfig(
            f"cannot read the trust config {path}", found=exc.strerror, hint="check the --trust-config path"
        ) from exc
    try:
        return ClientTrustConfig.from_json(text)
    except Exception as exc:  # sigstore raises pydantic/ValueError/its own errors here
        raise InvalidTrustConfig(
            f"the trust config {path} is not a Sigstore ClientTrustConfig",
            found=_first_line(exc),
            hint="give a JSON with mediaType application/vnd.dev.sigstore.clienttrustconfig.v0.1+json, "
            "trustedRoot and signingConfig (as `sigstore trust-instance` writes)",
        ) from exc


def _production_trust_config() -> ClientTrustConfig:
    try:
        return ClientTrustConfig.production()
    except Exception as exc:
        raise SigstoreServiceError(
            "cannot fetch the public-good Sigstore trust root (TUF)",
            found=_first_line(exc),
            hint="without network access, pass --trust-config with your Sigstore deployment's ClientTrustConfig",
        ) from exc


def _first_line(exc: BaseException) -> str:
    """A foreign exception in a few words: sigstore's (and pydantic's) messages run to
    pages, and one with no message still names its class."""
    return (str(exc) or type(exc).__name__).splitlines()[0][:300]


def _service_error(what: str, exc: BaseException, *, service: str, urls: Mapping[str, str]) -> Error:
    detail = _first_line(exc)
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause):
        detail += f" ({_first_line(cause)})"
    if isinstance(exc, IdentityError) or type(exc).__name__ in {"ExpiredIdentity", "ExpiredCertificate"}:
        return InvalidIdentityToken(
            f"keyless {what} refused the identity", found=detail, hint="get a fresh identity token and retry"
        )
    known = {"FulcioClientError": "Fulcio", "RekorClientError": "Rekor"}
    service = known.get(type(exc).__name__) or service
    return SigstoreServiceError(
        f"keyless {what} failed at {service} ({urls.get(service, 'unknown URL')})",
        found=detail,
        hint="check that the Fulcio/Rekor URLs of the trust config are reachable from here and accept this token",
    )


def _bundle_json(bundle: Bundle) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(bundle.to_json())
    return doc


def _issuer_chain(leaf: x509.Certificate, pool: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """Intermediates then root above `leaf`, taken from the trusted root's Fulcio CAs."""
    chain: list[x509.Certificate] = []
    current = leaf
    for _ in range(len(pool)):
        if current is not leaf and current.issuer == current.subject:
            break
        parent = next((c for c in pool if c.subject == current.issuer and _issued_by(current, c)), None)
        if parent is None or parent in chain:
            break
        chain.append(parent)
        current = parent
    if not chain:
        raise SigstoreServiceError(
            "Fulcio issued a certificate that no CA of the trust config signed",
            expected="a Fulcio CA of the trusted root",
            found=leaf.issuer.rfc4514_string(),
            hint="the trust config's certificateAuthorities do not match its caUrls",
        )
    return chain


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except Exception:
        return False
    return True


def _first_timestamp(material: Mapping[str, Any]) -> bytes | None:
    stamps = (material.get("timestampVerificationData") or {}).get("rfc3161Timestamps") or []
    if not stamps:
        return None
    return base64.b64decode(stamps[0]["signedTimestamp"])
