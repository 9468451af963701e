"""`awskms://` references, as cosign writes them (see `kms_aws` for what they reach).

    awskms:///KEY-ID | awskms:///alias/NAME | awskms:///arn:aws:kms:REGION:ACCOUNT:key/ID
    awskms://HOST:PORT/KEY      the same through another endpoint (always HTTPS)

Parsing needs no AWS library, so a malformed reference is refused the same way whether
or not the `kms` extra is installed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from slsacheck.errors import InvalidKey

SCHEME = "awskms://"
_KEY = re.compile(
    r"(?P<id>[A-Za-z0-9-]{1,128})"
    r"|(?P<alias>alias/[A-Za-z0-9/_-]{1,250})"
    r"|(?P<arn>arn:aws(?:-[a-z]+)*:kms:(?P<region>[a-z0-9-]+):\d{12}:(?:key/[A-Za-z0-9-]+|alias/[A-Za-z0-9/_-]+))"
)
_ENDPOINT = re.compile(r"[A-Za-z0-9.-]+(?::\d{1,5})?|\[[0-9A-Fa-f:]+\](?::\d{1,5})?")
_FORMS = "awskms:///KEY-ID, awskms:///alias/NAME, awskms:///arn:aws:kms:REGION:ACCOUNT:key/ID, or awskms://HOST:PORT/KEY"


@dataclass(frozen=True)
class AwsKmsRef:
    """A parsed `awskms://` reference."""

    uri: str
    key: str
    endpoint: str | None = None
    region: str | None = None


def parse_awskms(uri: str) -> AwsKmsRef:
    """The key and endpoint `uri` names; the region too when the key is an ARN."""
    if not uri.startswith(SCHEME):
        raise InvalidKey("not an awskms:// reference", expected=_FORMS, found=uri)
    endpoint, slash, key = uri[len(SCHEME):].partition("/")
    if not slash or not key:
        raise InvalidKey("awskms:// reference names no key", expected=_FORMS, found=uri,
                         hint="note the third slash when there is no endpoint: awskms:///alias/NAME")
    if endpoint in ("alias", "key") or endpoint.startswith("arn:"):
        raise InvalidKey(f"awskms:// reference reads {endpoint!r} as an endpoint", expected=_FORMS, found=uri,
                         hint=f"with no endpoint, write three slashes: awskms:///{endpoint}/{key}")
    if endpoint and _ENDPOINT.fullmatch(endpoint) is None:
        raise InvalidKey(f"awskms:// endpoint {endpoint!r} is not HOST[:PORT]", expected=_FORMS, found=uri)
    match = _KEY.fullmatch(key)
    if match is None:
        raise InvalidKey("awskms:// key is not a key id, alias or ARN", expected=_FORMS, found=uri)
    return AwsKmsRef(uri=uri, key=key, endpoint=endpoint or None, region=match.group("region"))
