"""Keys in AWS KMS: the `KeyBackend` for `awskms://` references, as cosign writes them.

    awskms:///1234abcd-12ab-34cd-56ef-1234567890ab       a key id (region from the AWS config)
    awskms:///alias/release                              an alias
    awskms:///arn:aws:kms:eu-west-1:111122223333:key/ID  a key or alias ARN (region from the ARN)
    awskms://kms.internal:4443/alias/release             the same through another endpoint

An endpoint is always reached over HTTPS (its CA through `AWS_CA_BUNDLE`, as for every
AWS client); credentials and region come from the standard AWS chain (environment,
profile, web identity as EKS gives a Tekton step). The key's own `GetPublicKey`
answer fixes the algorithm: ECDSA over SHA-256/384/512 by curve, RSA PKCS#1 v1.5 over
SHA-256; a payload over 4096 bytes is sent to `Sign` as its digest (`MessageType=DIGEST`).

Faults by who can fix them: a malformed reference, missing credentials or region, an
unknown, disabled or non-signing key, or access denied are `InvalidKey` (exit 2); an
endpoint that cannot be reached, a TLS failure, throttling or a KMS-side error are
`KeyServiceError` (exit 3).
"""

from __future__ import annotations

from typing import Any

import boto3
import botocore.config
import botocore.exceptions as aws
from cryptography.hazmat.primitives import serialization

from slsacheck.errors import InvalidKey, KeyServiceError
from slsacheck.signing.keys import VerifyingKey, check_key
from slsacheck.signing.kms_aws_uri import AwsKmsRef

_ALGORITHMS = {
    "ECC_NIST_P256": "ECDSA_SHA_256",
    "ECC_NIST_P384": "ECDSA_SHA_384",
    "ECC_NIST_P521": "ECDSA_SHA_512",
    "RSA_2048": "RSASSA_PKCS1_V1_5_SHA_256",
    "RSA_3072": "RSASSA_PKCS1_V1_5_SHA_256",
    "RSA_4096": "RSASSA_PKCS1_V1_5_SHA_256",
}
_RAW_MAX = 4096  # the largest Message KMS hashes itself
_CONFIG = botocore.config.Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 2, "mode": "standard"})
_AUTH_CODES = {"AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
               "IncompleteSignature", "ExpiredTokenException", "InvalidClientTokenId"}
_KEY_STATE_CODES = {"DisabledException", "KMSInvalidStateException", "InvalidKeyUsageException",
                    "UnsupportedOperationException", "KeyUnavailableException"}


class AwsKmsKey:
    """An asymmetric SIGN_VERIFY key in AWS KMS."""

    def __init__(self, ref: AwsKmsRef, *, client: Any | None = None) -> None:
        self._ref = ref
        self._client = client if client is not None else self._make_client()
        self._public: VerifyingKey | None = None
        self._algorithm = ""

    @property
    def where(self) -> str:
        return self._ref.uri

    def _make_client(self) -> Any:
        endpoint = f"https://{self._ref.endpoint}" if self._ref.endpoint else None
        try:
            return boto3.session.Session().client("kms", region_name=self._ref.region, endpoint_url=endpoint,
                                                  config=_CONFIG)
        except aws.NoRegionError:
            raise InvalidKey(f"no AWS region for {self._ref.uri}", hint="set AWS_REGION (or a profile's region), "
                             "or name the key by its ARN, which carries the region") from None
        except aws.BotoCoreError as exc:
            raise InvalidKey(f"cannot set up an AWS KMS client for {self._ref.uri}", found=type(exc).__name__,
                             hint="check the AWS configuration (AWS_PROFILE, AWS_CONFIG_FILE)") from None

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = getattr(self._client, operation)(**kwargs)
            return answer
        except aws.ClientError as exc:
            raise self._client_error(operation, exc) from None
        except (aws.NoCredentialsError, aws.PartialCredentialsError):
            raise InvalidKey(f"no AWS credentials to use {self._ref.uri}",
                             hint="set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or give the step "
                             "a web identity (EKS IRSA / pod identity)") from None
        except aws.SSLError as exc:
            raise KeyServiceError(f"TLS to AWS KMS failed for {self._ref.uri}", found=_first_line(exc),
                                  hint="a private endpoint's CA goes in AWS_CA_BUNDLE") from None
        except (aws.EndpointConnectionError, aws.ConnectTimeoutError, aws.ReadTimeoutError,
                aws.ConnectionClosedError) as exc:
            raise KeyServiceError(f"AWS KMS cannot be reached for {self._ref.uri}", found=_first_line(exc),
                                  hint="check the endpoint and the network path to it, then retry") from None
        except aws.BotoCoreError as exc:
            raise KeyServiceError(f"AWS KMS {operation} failed for {self._ref.uri}", found=_first_line(exc),
                                  hint="retry; if it persists, check the AWS configuration") from None

    def _client_error(self, operation: str, exc: aws.ClientError) -> InvalidKey | KeyServiceError:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "?"))
        message = str(error.get("Message", ""))[:200]
        found = f"{code}: {message}" if message else code
        if code == "NotFoundException":
            return InvalidKey(f"no AWS KMS key {self._ref.key}", found=found,
                              hint="check the key id, alias or ARN and the region it lives in")
        if code in _AUTH_CODES:
            return InvalidKey(f"AWS KMS refused {operation} on {self._ref.key}", found=found,
                              hint="the credentials need kms:GetPublicKey and kms:Sign on this key")
        if code in _KEY_STATE_CODES:
            return InvalidKey(f"AWS KMS key {self._ref.key} cannot sign", found=found,
                              hint="use an enabled asymmetric key with KeyUsage SIGN_VERIFY")
        return KeyServiceError(f"AWS KMS {operation} failed for {self._ref.key}", found=found,
                               hint="retry; throttling and service errors pass")

    def public_key(self) -> VerifyingKey:
        if self._public is None:
            answer = self._call("get_public_key", KeyId=self._ref.key)
            usage = answer.get("KeyUsage")
            spec = str(answer.get("KeySpec") or answer.get("CustomerMasterKeySpec") or "")
            if usage != "SIGN_VERIFY":
                raise InvalidKey(f"AWS KMS key {self._ref.key} is not a signing key", expected="KeyUsage SIGN_VERIFY",
                                 found=f"KeyUsage {usage}", hint="create the key with --key-usage SIGN_VERIFY")
            if spec not in _ALGORITHMS:
                raise InvalidKey(f"AWS KMS key {self._ref.key} has a key spec cosign's formats cannot use",
                                 expected=", ".join(_ALGORITHMS), found=spec or "none",
                                 hint="create the key with --key-spec ECC_NIST_P256, as cosign does")
            try:
                key = serialization.load_der_public_key(bytes(answer["PublicKey"]))
            except (KeyError, ValueError, TypeError):
                raise KeyServiceError(f"AWS KMS returned no usable public key for {self._ref.key}") from None
            self._public = check_key(key, where=f"the public key of {self._ref.key}")  # type: ignore[assignment]
            self._algorithm = _ALGORITHMS[spec]
        assert self._public is not None
        return self._public

    def sign(self, message: bytes, digest: bytes, hash_name: str) -> bytes:
        self.public_key()
        if not self._algorithm.endswith(hash_name.upper().replace("SHA", "SHA_")):
            raise InvalidKey(f"AWS KMS key {self._ref.key} signs with {self._algorithm}, not over {hash_name}")
        # KMS takes a message of up to 4096 bytes and hashes it itself; larger ones (most
        # DSSE attestations) go as their digest. The signature is the same either way; RAW
        # is also the only form every KMS emulator implements, so small payloads can be
        # tested end to end. Whatever comes back is checked against the public key.
        if len(message) <= _RAW_MAX:
            kind, body = "RAW", message
        else:
            kind, body = "DIGEST", digest
        answer = self._call("sign", KeyId=self._ref.key, Message=body, MessageType=kind,
                            SigningAlgorithm=self._algorithm)
        return bytes(answer.get("Signature", b""))


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()
    return text[0][:200] if text else type(exc).__name__
