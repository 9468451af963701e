"""Errors at the HTTP boundary: what a registry's answer or a TLS failure means for the user.

Every error names the registry and repository, the HTTP status and the registry's own
error codes (the JSON `errors[].code` of the distribution spec), and carries a hint that
says what to do. A 401 or 403 explains which credential was tried and where it came
from (`CredentialLookup.explain`), never its secret.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from slsacheck._json import Refused, parse
from slsacheck.errors import AuthError, NotFound, RegistryError, TLSError
from slsacheck.oci._transport import ProxyFailure, Response

_MAX_ERROR_BODY = 64 * 1024


class UntrustedCertificate(TLSError):
    """The server speaks TLS but its certificate does not verify: never a reason to fall back."""


class ProxyUnusable(RegistryError):
    """The proxy the environment names failed: says nothing of the registry, so never a
    reason to try it over plain HTTP either."""


def through_proxy(exc: BaseException) -> bool:
    return any(isinstance(e, ProxyFailure) for e in _chain(exc))


def short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "..."


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and every exception it was raised from or wraps (some libraries keep the cause in `reason`)."""
    seen: list[BaseException] = []
    todo: list[object] = [exc]
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or any(item is s for s in seen):
            continue
        seen.append(item)
        todo.extend((item.__cause__, item.__context__, getattr(item, "reason", None)))
        todo.extend(a for a in item.args if isinstance(a, BaseException))
    return seen


def connection_failure(exc: BaseException) -> str:
    """What went wrong reaching a registry, in the user's words (never the library's repr).

    The kinds a user can act on differ: nothing listens (refused), the name does not
    resolve, a proxy is in between, or the server did not answer in time.
    """
    chain = _chain(exc)
    if any(isinstance(e, ProxyFailure) for e in chain):
        return "the proxy in between failed (check HTTPS_PROXY, HTTP_PROXY and NO_PROXY)"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "connection refused (is the registry running? TLS? proxy?)"
    if any(isinstance(e, socket.gaierror) for e in chain) or any(
        "Name or service not known" in str(e) or "nodename nor servname" in str(e) for e in chain
    ):
        return "the host name does not resolve (check the spelling and DNS)"
    if any(isinstance(e, TimeoutError | socket.timeout) for e in chain):
        return "no answer in time (Timeout; is the registry overloaded, or a firewall dropping packets?)"
    if any(isinstance(e, ConnectionResetError | BrokenPipeError) for e in chain):
        return "the server closed the connection (TLS to a plain-HTTP port, or a proxy?)"
    return f"the connection failed ({type(exc).__name__}; is the registry running? TLS? proxy?)"


def is_cert_failure(exc: BaseException) -> bool:
    """Whether an SSL error (anywhere in its chain) is a certificate that did not verify."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        text = str(item)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text or "hostname" in text.lower():
            return True
        todo.extend([item.__cause__, item.__context__])
        todo.extend(arg for arg in item.args if isinstance(arg, BaseException))
    return False


def tls_error(registry: str, ca_bundle: str | None, plain_allowed: bool, url: str, exc: BaseException) -> TLSError:
    if is_cert_failure(exc):
        trust = f"the CA bundle {ca_bundle}" if ca_bundle else "the system CA store"
        return UntrustedCertificate(
            f"the TLS certificate of {registry} does not verify against {trust}: {short(exc)}",
            registry=registry,
            hint="give slsacheck the registry's CA (--ca-bundle FILE / RegistryOptions.ca_bundle); "
            "certificate checks are never turned off",
        )
    hint = "the server did not speak TLS"
    if not plain_allowed:
        hint += (
            "; if it is a plain-HTTP registry on a network you trust, name it with --allow-http-registry "
            f"{registry} (plain HTTP is otherwise used only for loopback hosts)"
        )
    return TLSError(
        f"TLS handshake with {registry} failed ({urlsplit(url).scheme}): {short(exc)}", registry=registry, hint=hint
    )


def registry_codes(body: bytes) -> tuple[tuple[str, ...], str]:
    """The `errors[].code` list and the first message from a distribution error body."""
    try:
        obj = parse(body)
    except Refused:
        return (), body[:200].decode("utf-8", "replace").strip()
    errors = obj.get("errors") if isinstance(obj, dict) else None
    if not isinstance(errors, list):
        return (), ""
    codes = tuple(str(e.get("code")) for e in errors if isinstance(e, dict) and e.get("code"))
    messages = [str(e.get("message")) for e in errors if isinstance(e, dict) and e.get("message")]
    return codes, messages[0] if messages else ""


def _not_found_hint(codes: tuple[str, ...], where: str) -> str:
    if "NAME_UNKNOWN" in codes:
        return f"the repository {where} does not exist; check the name"
    if "BLOB_UNKNOWN" in codes:
        return "the blob is not in this repository; the image may be incomplete"
    # Not `slsacheck inspect`: it shows one image, and the user just asked it for this one.
    return f"check the tag or digest; the repository's tags: skopeo list-tags docker://{where}"


def response_error(
    response: Response,
    registry: str,
    *,
    repository: str,
    what: str,
    actions: str,
    credentials: Callable[[], str],
) -> RegistryError:
    """The error for an answer the caller did not expect; reads at most 64 KiB, closes it."""
    status = response.status_code
    body = b""
    if response.method != "HEAD":
        try:
            for chunk in response.iter_content(8192):
                body += chunk
                if len(body) >= _MAX_ERROR_BODY:
                    break
        except (OSError, http.client.HTTPException):
            pass
    response.close()
    codes, detail = registry_codes(body)
    where = f"{registry}/{repository}"
    message = f"{where}: {what} failed: HTTP {status}"
    if codes:
        message += f" {', '.join(codes)}"
    if detail:
        message += f": {detail}"
    fields: dict[str, Any] = {"registry": registry, "repository": repository, "status": status, "codes": codes}
    if status == 401:
        return AuthError(
            message, hint=credentials() + f"; check it, or log in again (`docker login {registry}`)", **fields
        )
    if status == 403:
        return AuthError(message, hint=f"{credentials()}; it may lack {actions} access to {repository}", **fields)
    if status == 404:
        return NotFound(message, hint=_not_found_hint(codes, where), **fields)
    if status == 405:
        return RegistryError(message, hint="this registry does not allow this operation (e.g. deletes)", **fields)
    if status == 429:
        return RegistryError(message, hint="the registry is rate-limiting us; wait and try again", **fields)
    if status >= 500:
        return RegistryError(message, hint="the registry is failing; try again later", **fields)
    return RegistryError(message, hint="the registry refused the request", **fields)
