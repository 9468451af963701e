"""Keyless signing: an OIDC identity token buys a short-lived Fulcio certificate, every
signature is logged in Rekor, and a TSA timestamps it when the deployment has one.

A Sigstore signing config (v0.2) chooses the services: Fulcio, a Rekor v1 or v2 log, and
TSAs. Rekor v2 (cosign 3's default) integrates synchronously and signs no entry timestamp:
its entry proves inclusion (inclusion proof up to a signed checkpoint) but carries no time,
so with it a signature without an RFC 3161 timestamp could never be verified, and signing
fails instead of writing it.

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
- every sigstore exception is wrapped here into a `slsacheck.errors.Error`;
- sigstore-python's private attributes are reached only through `_sigstore_adapter`;
- a signing config naming no Rekor API this client speaks, or Rekor v2 without a TSA,
  fails at construction with what it names and what would work.

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
from sigstore.models import Bundle, ClientTrustConfig, InvalidBundle
from sigstore.oidc import IdentityError, IdentityToken
from sigstore.sign import Signer as SigstoreSigner
from sigstore.sign import SigningContext

from slsacheck._json import parse
from slsacheck.errors import Error, InputError
from slsacheck.signing import _sigstore_adapter as adapter
from slsacheck.signing.signer import Material, SignedEnvelope, SignedMessage

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
SIGNING_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.signingconfig.v0.2+json"
TRUST_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
REKOR_API_VERSIONS = (1, 2)
_MAX_CONFIG_BYTES = 4 * 1024 * 1024


class InvalidIdentityToken(InputError):
    """An OIDC identity token that does not parse or is not valid for Sigstore now."""


class InvalidTrustConfig(InputError):
    """A Sigstore ClientTrustConfig, signing config or trusted root that cannot be used for signing."""


class SigstoreServiceError(Error):
    """Fulcio, Rekor, the TSA or the TUF repository failed or could not be reached."""


class KeylessSigner:
    """A `Signer` whose identity is an OIDC token, through Fulcio, Rekor and TSAs.

    `trust_config` is the path of a Sigstore ClientTrustConfig JSON (trusted root and
    signing config: a private deployment); or `signing_config` and `trusted_root`, the
    paths of the two documents apart (as cosign 3 takes them); without either, the
    public-good instance.
    """

    def __init__(
        self,
        identity_token: str,
        *,
        trust_config: str | None = None,
        signing_config: str | None = None,
        trusted_root: str | None = None,
    ) -> None:
        self._token = _parse_token(identity_token)
        self._config: ClientTrustConfig | None = None
        # Read now: a config that does not parse must fail before any signing starts.
        if signing_config is not None:
            if trust_config is not None or trusted_root is None:
                raise InvalidTrustConfig(
                    "a signing config needs the trusted root beside it, and no trust config",
                    hint="give --signing-config FILE with --trusted-root FILE (or a TUF-cached root), "
                    "or --trust-config FILE alone",
                )
            self._config = _compose_trust_config(signing_config, trusted_root)
        elif trust_config is not None:
            self._config = _load_trust_config(trust_config)
        self._signer: SigstoreSigner | None = None
        self._urls: dict[str, str] = {}
        self._rekor_version = 0

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

    @property
    def log_api_version(self) -> int:
        """The Rekor API the signing config chose: 2 proves inclusion but signs no time (no
        SET), so cosign's `.sig`/`.att` annotations cannot carry its entry; 1 otherwise."""
        if self._rekor_version == 0:
            config = self._config if self._config is not None else _production_trust_config()
            self._config = config
            self._rekor_version = adapter.rekor_major_version(_signing_context(config))
        return self._rekor_version

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
                if not adapter.is_expired_certificate(exc):
                    raise
                # Fulcio certificates live minutes; a long run (a large index signed
                # recursively) outlives one. A new key and certificate need only a token
                # that is still valid; if it is not, that error is the one to show.
                self._signer = None
                return action(self._sigstore_signer())
        except Error:
            raise
        except InvalidBundle as exc:
            if self._rekor_version != 2:
                raise _service_error(what, exc, service="Rekor", urls=self._urls) from exc
            # sigstore only logs a TSA failure, then cannot build a bundle from a Rekor v2
            # entry (which has no time) without a timestamp.
            raise SigstoreServiceError(
                f"keyless {what}: no timestamp authority stamped the signature ({self._urls.get('TSA', 'no TSA')})",
                expected="an RFC 3161 timestamp: a Rekor v2 entry carries no time of its own",
                found=_first_line(exc),
                hint="check that the signing config's tsaUrls are reachable from here, then sign again",
            ) from exc
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
        context = _signing_context(config)
        # For messages only: which URL each service was reached at.
        self._urls = adapter.service_urls(context)
        self._rekor_version = adapter.rekor_major_version(context)
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
        if self._rekor_version == 2 and _first_timestamp(material) is None:
            # sigstore-python only logs a TSA failure; with Rekor v2 that signature would
            # carry no time at all, and no verifier could ever accept it.
            raise SigstoreServiceError(
                f"no timestamp authority stamped the signature ({self._urls.get('TSA', 'no TSA')})",
                expected="an RFC 3161 timestamp: a Rekor v2 entry carries no time of its own",
                hint="check that the signing config's tsaUrls are reachable from here, then sign again",
            )
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


def _read_json(path: str, what: str, flag: str) -> Mapping[str, Any]:
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(_MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise InvalidTrustConfig(f"cannot read the {what} {path}", found=exc.strerror,
                                 hint=f"check the {flag} path") from exc
    if len(raw) > _MAX_CONFIG_BYTES:
        raise InvalidTrustConfig(f"the {what} {path} is too large", expected=f"at most {_MAX_CONFIG_BYTES} bytes",
                                 hint=f"{flag} takes a Sigstore JSON document of a few kilobytes")
    try:
        doc = parse(raw, strict=True)
    except ValueError as exc:
        raise InvalidTrustConfig(f"the {what} {path} is not JSON", found=_first_line(exc),
                                 hint=f"{flag} takes a Sigstore JSON document") from exc
    if not isinstance(doc, Mapping):
        raise InvalidTrustConfig(f"the {what} {path} is not a JSON object", found=type(doc).__name__)
    return doc


def check_signing_config(doc: Mapping[str, Any], where: str) -> None:
    """Refuse, with what it names, a signing config whose Rekor logs this client cannot write.

    sigstore-python drops services of API versions it does not speak and then reports
    only that no log is left; a user needs to know the config asked for Rekor v3.
    """
    media_type = doc.get("mediaType")
    if media_type != SIGNING_CONFIG_MEDIA_TYPE:
        raise InvalidTrustConfig(
            f"{where} is not a Sigstore signing config this client reads",
            expected=SIGNING_CONFIG_MEDIA_TYPE,
            found=str(media_type)[:120],
            hint="cosign 3 and `slsacheck trusted-root update` use the v0.2 signing config",
        )
    logs = doc.get("rekorTlogUrls")
    services = [s for s in logs if isinstance(s, Mapping)] if isinstance(logs, list) else []
    if not any(s.get("majorApiVersion") in REKOR_API_VERSIONS for s in services):
        named = ", ".join(f"v{s.get('majorApiVersion')} at {s.get('url')}" for s in services) or "no Rekor log"
        raise InvalidTrustConfig(
            f"{where} names no Rekor log this client can write to",
            expected="a rekorTlogUrls service with majorApiVersion 1 or 2",
            found=named[:300],
            hint="list a Rekor v1 or v2 log in rekorTlogUrls (cosign 3 writes to Rekor v2 with a TSA)",
        )


def _compose_trust_config(signing_config: str, trusted_root: str) -> ClientTrustConfig:
    signing = _read_json(signing_config, "signing config", "--signing-config")
    check_signing_config(signing, f"the signing config {signing_config}")
    root = _read_json(trusted_root, "trusted root", "--trusted-root")
    doc = {"mediaType": TRUST_CONFIG_MEDIA_TYPE, "trustedRoot": root, "signingConfig": signing}
    return _trust_config_of(
        doc,
        f"the signing config {signing_config} and trusted root {trusted_root} do not form a Sigstore trust config",
        hint="give the signing config and trusted_root.json of the same Sigstore deployment",
    )


def _trust_config_of(doc: Mapping[str, Any], problem: str, *, hint: str) -> ClientTrustConfig:
    """sigstore-python's ClientTrustConfig of `doc`, or `InvalidTrustConfig` saying `problem`."""
    try:
        return ClientTrustConfig.from_json(json.dumps(doc))
    except Exception as exc:  # sigstore raises pydantic/ValueError/its own errors here
        raise InvalidTrustConfig(problem, found=_first_line(exc), hint=hint) from exc


def _signing_context(config: ClientTrustConfig) -> SigningContext:
    try:
        context = adapter.signing_context(config)
    except Exception as exc:
        raise InvalidTrustConfig(
            "the signing config names no usable Fulcio or Rekor service",
            found=_first_line(exc),
            hint="its caUrls and rekorTlogUrls need a service valid now",
        ) from exc
    if adapter.rekor_major_version(context) == 2 and not adapter.timestamp_authorities(context):
        raise InvalidTrustConfig(
            "the signing config writes to a Rekor v2 log but names no timestamp authority",
            expected="a tsaUrls service valid now (Rekor v2 entries carry no time; the TSA gives it)",
            found="no TSA",
            hint="add the deployment's TSA to tsaUrls, or choose a Rekor v1 log",
        )
    return context


def _load_trust_config(path: str) -> ClientTrustConfig:
    doc = _read_json(path, "trust config", "--trust-config")
    signing = doc.get("signingConfig")
    if isinstance(signing, Mapping):
        check_signing_config(signing, f"the signingConfig of the trust config {path}")
    return _trust_config_of(
        doc,
        f"the trust config {path} is not a Sigstore ClientTrustConfig",
        hint="give a JSON with mediaType application/vnd.dev.sigstore.clienttrustconfig.v0.1+json, "
        "trustedRoot and signingConfig (as `sigstore trust-instance` writes)",
    )


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
    if isinstance(exc, IdentityError) or adapter.refuses_identity(exc):
        return InvalidIdentityToken(
            f"keyless {what} refused the identity", found=detail, hint="get a fresh identity token and retry"
        )
    service = adapter.failed_service(exc) or service
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
