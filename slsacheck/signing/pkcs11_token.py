"""Keys on a PKCS#11 token (an HSM, a smart card, SoftHSM): the `KeyBackend` for `pkcs11:`.

The binding is python-pkcs11 rather than PyKCS11: both are maintained and wrap the
same C API, but python-pkcs11 ships typed, object-level sessions and keys (mypy
--strict sees them) and raises one exception class per CKR_ code, which is what
turning a token's answer into an error with advice needs; PyKCS11 is a thin SWIG layer
with one exception class carrying a number.

Each operation opens its own session, logs in, and closes it (logging out): nothing
stays logged in between signatures, and a module-wide lock keeps two operations in one
process from colliding on the token's single login state.

Faults are sorted by who can fix them: a module that does not load, an absent token or
key, a wrong or locked PIN are `InvalidKey` (exit 2, the reference or the secret is
wrong); a device that fails or disappears mid-way is `KeyServiceError` (exit 3). No
message carries the PIN: references are shown through `Pkcs11Uri.redacted`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pkcs11
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.util.ec import encode_ec_public_key

from slsacheck.errors import InvalidKey, KeyServiceError
from slsacheck.signing.delegated import der_from_raw
from slsacheck.signing.keys import VerifyingKey, check_key
from slsacheck.signing.pkcs11_uri import MODULE_ENV, PIN_ENV, Pkcs11Uri

_LOCK = threading.Lock()
# DER DigestInfo prefixes (RFC 8017 section 9.2, note 1): CKM_RSA_PKCS signs what it is given.
_DIGEST_INFO = {
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
_PIN_WAYS = f"pin-source=/path/to/file in the reference, or ${PIN_ENV}"
_WRONG_PIN = (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange)
_DEVICE = (p11.DeviceError, p11.DeviceRemoved, p11.DeviceMemory, p11.TokenNotPresent, p11.TokenNotRecognised,
           p11.GeneralError, p11.FunctionFailed, p11.SessionCount, p11.HostMemory)


def _load_module(ref: Pkcs11Uri) -> Any:
    path = Path(ref.module_path)
    hint = (f"module-path (or ${MODULE_ENV}) must name the token vendor's PKCS#11 library by absolute path, "
            "e.g. /usr/lib/softhsm/libsofthsm2.so")
    if not path.is_absolute():
        raise InvalidKey("the PKCS#11 module path is not absolute", expected="an absolute path",
                         found=ref.module_path, hint=hint)
    if not path.is_file():
        raise InvalidKey(f"PKCS#11 module {path} does not exist or is not a file", found=ref.redacted, hint=hint)
    try:
        return pkcs11.lib(str(path))
    except p11.PKCS11Error as exc:
        raise InvalidKey(f"PKCS#11 module {path} does not load", expected="a PKCS#11 shared library",
                         found=str(exc).splitlines()[0][:200], hint=hint) from None


def _token_label(slot: Any) -> str:
    try:
        return str(slot.get_token().label) or "(uninitialized)"
    except p11.PKCS11Error:
        return "(unreadable)"


def _find_token(lib: Any, ref: Pkcs11Uri) -> Any:
    try:
        slots = list(lib.get_slots(token_present=True))
    except _DEVICE as exc:
        raise KeyServiceError(f"the PKCS#11 module {ref.module_path} cannot list its slots",
                              found=type(exc).__name__) from None
    tokens = []
    for slot in slots:
        try:
            token = slot.get_token()
        except p11.PKCS11Error:
            continue
        if ref.slot_id is not None and slot.slot_id != ref.slot_id:
            continue
        if ref.token is not None and token.label != ref.token:
            continue
        if ref.serial is not None and token.serial.decode("ascii", "replace").strip() != ref.serial:
            continue
        if ref.manufacturer is not None and token.manufacturer_id != ref.manufacturer:
            continue
        if ref.model is not None and token.model != ref.model:
            continue
        tokens.append(token)
    if len(tokens) == 1:
        return tokens[0]
    present = ", ".join(f"slot-id={s.slot_id} token={_token_label(s)}" for s in slots) or "no token at all"
    if not tokens:
        raise InvalidKey(f"no PKCS#11 token matches {ref.token_name}", expected=ref.token_name,
                         found=present, hint="name one of the tokens found (check the module-path and, for "
                         "SoftHSM, SOFTHSM2_CONF)")
    raise InvalidKey(f"{len(tokens)} PKCS#11 tokens match {ref.token_name}", expected="exactly one token",
                     found=present, hint="add slot-id= or serial= to the reference")


@contextmanager
def _session(token: Any, ref: Pkcs11Uri, *, login: bool) -> Iterator[Any]:
    pin = ref.pin if login else None
    if login and pin is None and token.flags & pkcs11.TokenFlag.LOGIN_REQUIRED:
        raise InvalidKey(f"PKCS#11 token {token.label} needs a PIN to sign", found=ref.redacted,
                         hint=f"give it with {_PIN_WAYS} (pin-value= works too, but shows in process lists)")
    with _LOCK:
        try:
            session = token.open(user_pin=pin)
        except _WRONG_PIN:
            raise InvalidKey(f"wrong PIN for PKCS#11 token {token.label}", found=ref.redacted,
                             hint=f"check the PIN given by {_PIN_WAYS}; tokens lock after a few wrong tries") from None
        except p11.PinLocked:
            raise InvalidKey(f"the PIN of PKCS#11 token {token.label} is locked", found=ref.redacted,
                             hint="unlock it with the security officer PIN (softhsm2-util / pkcs11-tool "
                             "--init-pin)") from None
        except p11.PinExpired:
            raise InvalidKey(f"the PIN of PKCS#11 token {token.label} has expired",
                             hint="set a new PIN with the token's tool") from None
        except _DEVICE as exc:
            raise KeyServiceError(f"PKCS#11 token {token.label} cannot open a session", found=type(exc).__name__,
                                  hint="check the device is present, then retry") from None
        try:
            yield session
        finally:
            session.close()


def _template(ref: Pkcs11Uri, object_class: ObjectClass) -> dict[Attribute, Any]:
    template: dict[Attribute, Any] = {Attribute.CLASS: object_class}
    if ref.label is not None:
        template[Attribute.LABEL] = ref.label
    if ref.key_id is not None:
        template[Attribute.ID] = ref.key_id
    return template


def _objects(session: Any, ref: Pkcs11Uri, object_class: ObjectClass) -> list[Any]:
    return list(session.get_objects(_template(ref, object_class)))


def _inventory(session: Any) -> str:
    names = []
    for obj in session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}):
        names.append(f"object={obj.label} id={(obj.id or b'').hex()}")
    return ", ".join(names[:20]) or "no private key visible"


def _one(objects: list[Any], session: Any, ref: Pkcs11Uri, token: Any, what: str) -> Any:
    if len(objects) == 1:
        return objects[0]
    where = f"PKCS#11 token {token.label}"
    if not objects:
        raise InvalidKey(f"no {what} {ref.key_name} on {where}", expected=ref.key_name,
                         found=_inventory(session), hint="name one of the keys found with object= or id=")
    raise InvalidKey(f"{len(objects)} {what}s match {ref.key_name} on {where}", expected="exactly one key",
                     found=_inventory(session), hint="add id= (or object=) to the reference to pick one")


def _public_from_object(obj: Any) -> VerifyingKey:
    if obj.key_type == KeyType.EC:
        der = encode_ec_public_key(obj)
        return check_key(serialization.load_der_public_key(der), where="the token's public key")  # type: ignore[return-value]
    if obj.key_type == KeyType.RSA:
        numbers = rsa.RSAPublicNumbers(int.from_bytes(obj[Attribute.PUBLIC_EXPONENT], "big"),
                                       int.from_bytes(obj[Attribute.MODULUS], "big"))
        return check_key(numbers.public_key(), where="the token's public key")  # type: ignore[return-value]
    raise InvalidKey("the token's key is neither ECDSA nor RSA", expected="an ECDSA or RSA key",
                     found=str(obj.key_type))


def _public_from_certificate(obj: Any) -> VerifyingKey:
    cert = x509.load_der_x509_certificate(obj[Attribute.VALUE])
    return check_key(cert.public_key(), where="the token's certificate")  # type: ignore[return-value]


class Pkcs11Key:
    """A private key on a PKCS#11 token, named by a `pkcs11:` reference."""

    def __init__(self, ref: Pkcs11Uri, *, signing: bool) -> None:
        self._ref = ref
        self._lib = _load_module(ref)
        try:
            self._token = _find_token(self._lib, ref)
        except p11.PKCS11Error as exc:
            raise KeyServiceError(f"the PKCS#11 module {ref.module_path} failed listing its tokens: "
                                  f"{type(exc).__name__}", found=ref.redacted,
                                  hint="check the module's own configuration, then retry") from None
        self._public: VerifyingKey | None = None
        if signing:
            # A signer checks its private key now: a missing key or PIN fails before any
            # evidence is written, with the private key named, not its public half.
            with self._guard(), _session(self._token, ref, login=True) as session:
                self._private(session)
                self._public = self._read_public(session)

    def _private(self, session: Any) -> Any:
        return _one(_objects(session, self._ref, ObjectClass.PRIVATE_KEY), session, self._ref, self._token,
                    "private key")

    @property
    def where(self) -> str:
        return f"pkcs11:{self._ref.token_name};{self._ref.key_name}"

    def public_key(self) -> VerifyingKey:
        """The public key object with the same label/id (or the certificate's key), read
        without logging in unless a PIN was given (some tokens hide public objects)."""
        if self._public is None:
            with self._guard(), _session(self._token, self._ref, login=self._ref.pin is not None) as session:
                self._public = self._read_public(session)
        return self._public

    def _read_public(self, session: Any) -> VerifyingKey:
        found = _objects(session, self._ref, ObjectClass.PUBLIC_KEY)
        if found:
            return _public_from_object(_one(found, session, self._ref, self._token, "public key"))
        certs = _objects(session, self._ref, ObjectClass.CERTIFICATE)
        if certs:
            return _public_from_certificate(_one(certs, session, self._ref, self._token, "certificate"))
        raise InvalidKey(f"no public key or certificate {self._ref.key_name} on PKCS#11 token {self._token.label}",
                         expected=self._ref.key_name, found=_inventory(session),
                         hint="name one of the keys found, or store the public key on the token beside it"
                         + ("" if self._ref.pin else f"; a token that shows objects only after login needs the "
                            f"PIN ({_PIN_WAYS})"))

    def sign(self, message: bytes, digest: bytes, hash_name: str) -> bytes:
        key = self.public_key()
        with self._guard(), _session(self._token, self._ref, login=True) as session:
            private = self._private(session)
            if isinstance(key, ec.EllipticCurvePublicKey):
                return der_from_raw(private.sign(digest, mechanism=Mechanism.ECDSA), key)
            return bytes(private.sign(_DIGEST_INFO[hash_name] + digest, mechanism=Mechanism.RSA_PKCS))

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Device faults raised mid-operation become `KeyServiceError` (exit 3)."""
        try:
            yield
        except _DEVICE as exc:
            raise KeyServiceError(f"PKCS#11 token {self._token.label} failed: {type(exc).__name__}",
                                  found=self.where, hint="check the device is present, then retry") from None
        except p11.UserNotLoggedIn:
            raise InvalidKey(f"PKCS#11 token {self._token.label} needs a PIN for this key", found=self.where,
                             hint=f"give it with {_PIN_WAYS}") from None
        except p11.PKCS11Error as exc:
            raise KeyServiceError(f"PKCS#11 token {self._token.label} refused the operation: "
                                  f"{type(exc).__name__}", found=self.where,
                                  hint="check the key may sign (CKA_SIGN) with ECDSA or RSA PKCS#1") from None
