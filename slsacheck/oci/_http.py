"""One registry host over HTTP: TLS, auth, retries, and errors that say what to do.

`RegistryClient` owns a `Transport` (kept-alive connections, proxies, TLS: `_transport`)
for one registry, and:

- speaks HTTPS, verified against the system store or `RegistryOptions.ca_bundle`; plain
  HTTP only for loopback hosts (127.0.0.0/8, ::1, localhost) and hosts in `allow_http`,
  and for those only after HTTPS failed for want of a TLS server (a certificate that does
  not verify is an error, never a reason to fall back); a server that does not even
  complete an unverified handshake is asked over plain HTTP straight away;
- pings `/v2/` once to learn the auth challenge, then sends Basic credentials or a Bearer
  token for the repository scope up front; tokens are cached per scope until they expire;
- treats every URL the registry hands back (pagination `Link`, upload `Location`) as
  untrusted: a URL on the registry's own origin (scheme, host, port) gets the credential,
  one on another origin gets none, and one that would turn HTTPS into plain HTTP is
  refused. A token realm gets the credential only over HTTPS from an HTTPS registry and
  only on the registry's own host name (any port, as cookies scope), a parent domain of it
  (`registry.gitlab.com` -> `gitlab.com`) or Docker Hub's `auth.docker.io`; any other
  realm is asked for an anonymous token. Redirects (GET and HEAD only) are followed here
  by the same rules: the credential stays on the origin it was meant
  for, and a redirect from HTTPS to plain HTTP is refused before it is followed;
- retries idempotent requests on connection errors, 429 and 5xx, with bounded exponential
  backoff honouring `Retry-After` (up to `max_retry_after`);
- puts a timeout on every request, ignores `~/.netrc` (credentials come from the docker
  config only) and takes proxies from the environment;
- turns every transport, http.client and ssl exception into a `slsacheck.errors` error naming the
  registry, repository, HTTP status and the registry's own error codes, with a hint; a 401
  names the credential tried and where it came from, never its secret.

oras-py's client (0.2.x) is not used here, after reading it: it checks no digest on read,
returns manifests as parsed JSON (their exact bytes, hence their digests, are lost), keeps
one token for every scope with no expiry, and retries every method (POST and PATCH too) on
any exception with sleeps growing to minutes, ignoring 429 and `Retry-After`. What
slsacheck needs from it is a few hundred lines over the standard library, written here.
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import ipaddress
import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from slsacheck._json import parse
from slsacheck.errors import AuthError, RegistryError, TLSError
from slsacheck.models.reference import DOCKER_HUB
from slsacheck.oci._errors import (
    ProxyUnusable,
    UntrustedCertificate,
    connection_failure,
    response_error,
    short,
    through_proxy,
    tls_error,
)
from slsacheck.oci._io import read_capped
from slsacheck.oci._transport import Response, Transport, encode_form
from slsacheck.oci.auth import Challenge, CredentialLookup, find_credential, parse_challenges
from slsacheck.oci.options import RegistryOptions

log = logging.getLogger(__name__)

_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})
_HUB_API_HOST = "registry-1.docker.io"
USER_AGENT = "slsacheck"
_MAX_TOKEN_RESPONSE = 1024 * 1024
# Token servers that answer for a registry on a host of their own, by the registry's name.
_TOKEN_HOSTS = {DOCKER_HUB: frozenset({"auth.docker.io"})}
_DEFAULT_PORTS = {"https": 443, "http": 80}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 10


def short_url(url: str) -> str:
    """A URL for messages: no query (it may carry a state token), at most 200 characters."""
    return url.split("?", 1)[0][:200]


def split_host(registry: str) -> str:
    """`host:port` / `[v6]:port` -> the bare host name or address."""
    if registry.startswith("["):
        return registry[1 : registry.find("]")]
    return registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry


def is_loopback(registry: str) -> bool:
    host = split_host(registry).lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def http_allowed(registry: str, options: RegistryOptions) -> bool:
    """Plain HTTP only for loopback, or a host the user named (`host:port` or `host`)."""
    return is_loopback(registry) or registry in options.allow_http or split_host(registry) in options.allow_http


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, the default port filled in: what "the same server" means."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _within(host: str, registry_host: str) -> bool:
    """`host` is the registry's host or a parent domain of it (two labels at least; names only)."""
    if host == registry_host:
        return True
    if _is_address(host) or _is_address(registry_host) or "." not in host:
        return False
    return registry_host.endswith("." + host)


def _with_params(url: str, params: Mapping[str, Any] | None) -> str:
    """`params` added to the URL's query (a list value as repeated fields)."""
    if not params:
        return url
    return url + ("&" if urlsplit(url).query else "?") + urlencode(params, doseq=True)


def _retry_after(response: Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class RegistryClient:
    """HTTP access to one registry host, shared by every `RegistryStore` on it."""

    def __init__(
        self,
        registry: str,
        options: RegistryOptions | None = None,
        *,
        credentials: CredentialLookup | None = None,
        pool: int = 10,
        before_send: Callable[[], None] | None = None,
    ) -> None:
        """`pool`: idle connections kept per origin (as many as the threads sharing the
        client); `before_send`: called before every request is sent (a rate limiter)."""
        self.registry = registry
        self.options = options or RegistryOptions()
        self._host = _HUB_API_HOST if registry == DOCKER_HUB else registry
        # No ~/.netrc, no CA bundle from the environment: trust and credentials are explicit.
        self._transport = Transport(ca_bundle=self.options.ca_bundle, timeout=self.options.timeout, pool=pool,
                                    user_agent=USER_AGENT)
        self._before_send = before_send
        self._lookup = credentials
        self._base: str | None = None
        self._challenge: Challenge | None = None
        self._tokens: dict[tuple[str, ...], tuple[str, float]] = {}
        self._lock = threading.Lock()
        self.token_requests = 0  # how many tokens were fetched: tokens are meant to be reused

    # -- addressing ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """`https://host` (or `http://host` where allowed), found by pinging `/v2/` once."""
        if self._base is None:
            with self._lock:
                if self._base is None:
                    self._ping()
        assert self._base is not None
        return self._base

    def url(self, path: str) -> str:
        """`/v2/...` path or an absolute/relative URL from a Location header -> absolute URL.

        A URL the registry handed back that would leave HTTPS for plain HTTP is refused here,
        before anything is sent to it.
        """
        url = urljoin(self.base_url + "/", path)
        parts = urlsplit(url)
        if parts.username is not None or parts.password is not None:
            raise RegistryError(
                f"{self.registry} handed back a URL with a user name or password in it: {short_url(url)}",
                registry=self.registry,
                hint="slsacheck sends only the credential it found for the registry; the registry (or a proxy "
                "in front of it) is misconfigured or hostile; tell its operator",
            )
        scheme = parts.scheme.lower()
        if scheme not in ("https", "http") or (scheme == "http" and self.base_url.startswith("https:")):
            raise TLSError(
                f"{self.registry} handed back a URL that leaves HTTPS: {short_url(url)}",
                registry=self.registry,
                expected=f"a URL on {self.base_url}",
                found=short_url(url),
                hint="slsacheck never follows an HTTPS registry to plain HTTP; the registry (or a proxy in front "
                "of it) is misconfigured or hostile; tell its operator",
            )
        return url

    def same_origin(self, url: str) -> bool:
        """True if `url` is on the registry itself: only then does it get our credential."""
        return origin(url) == origin(self.base_url)

    def _ping(self) -> None:
        schemes = ["https", "http"] if http_allowed(self.registry, self.options) else ["https"]
        if len(schemes) > 1 and self._transport.speaks_tls(f"https://{self._host}") is False:
            # Nothing answers TLS there (a plain-HTTP registry on loopback): loading the CA store
            # for an HTTPS attempt bound to fail cost more than the command's requests.
            schemes = ["http"]
        for scheme in schemes:
            base = f"{scheme}://{self._host}"
            try:
                response = self._send("GET", base + "/v2/", repository=None)
            except (UntrustedCertificate, ProxyUnusable):
                raise
            except TLSError:
                if scheme == schemes[-1]:
                    raise
                continue
            except RegistryError as exc:
                if scheme == schemes[-1] or exc.status is not None:
                    raise
                continue
            response.close()
            self._base = base
            if response.status_code == 401:
                self._learn(response)
            return

    # -- credentials and tokens ---------------------------------------------------------

    @property
    def credentials(self) -> CredentialLookup:
        if self._lookup is None:
            self._lookup = find_credential(self.registry, self.options.docker_config)
        return self._lookup

    def _learn(self, response: Response) -> bool:
        """Remember the registry's challenge; True if there is one we can answer."""
        for challenge in parse_challenges(response.headers.get("WWW-Authenticate", "")):
            if challenge.scheme in ("bearer", "basic"):
                self._challenge = challenge
                return True
        return False

    def _authorization(self, scopes: tuple[str, ...], *, refresh: bool = False) -> str | None:
        challenge = self._challenge
        if challenge is None:
            return None
        cred = self.credentials.credential
        if challenge.scheme == "basic":
            if cred is None or not cred.password:
                return None
            pair = f"{cred.username}:{cred.password}".encode()
            return "Basic " + base64.b64encode(pair).decode("ascii")
        now = time.monotonic()
        with self._lock:
            cached = self._tokens.get(scopes)
            if cached is not None and cached[1] > now and not refresh:
                return cached[0]
        token, lifetime = self._fetch_token(challenge, scopes)
        header = f"Bearer {token}"
        with self._lock:
            self._tokens[scopes] = (header, now + lifetime * 0.8)
        return header

    def _fetch_token(self, challenge: Challenge, scopes: Sequence[str]) -> tuple[str, float]:
        realm = challenge.realm
        if not realm:
            raise AuthError(
                f"{self.registry} asked for a Bearer token but named no realm",
                registry=self.registry,
                hint="the registry's auth configuration is broken; tell its operator",
            )
        parts = urlsplit(realm)
        plain_ok = parts.scheme == "http" and not self.base_url.startswith("https:") and http_allowed(
            parts.netloc, self.options)
        if parts.scheme != "https" and not plain_ok:
            raise TLSError(
                f"{self.registry} sends credentials to a token server over plain HTTP ({short_url(realm)})",
                registry=self.registry,
                expected="an https:// token realm",
                found=short_url(realm),
                hint="slsacheck never turns HTTPS into plain HTTP, and speaks plain HTTP only to loopback hosts "
                "and hosts named with --allow-http-registry; tell the registry's operator",
            )
        cred = self.credentials.credential if self._realm_trusted(realm) else None
        params: dict[str, Any] = {"scope": list(scopes)}
        if challenge.service:
            params["service"] = challenge.service
        self.token_requests += 1
        if cred is not None and cred.identity_token:
            form = dict(params, grant_type="refresh_token", refresh_token=cred.identity_token, client_id=USER_AGENT)
            form["scope"] = " ".join(scopes)
            response = self._send("POST", realm, repository=None, data=form, stream=True)
        else:
            auth = (cred.username, cred.password) if cred is not None and cred.password else None
            response = self._send("GET", realm, repository=None, params=params, auth=auth, stream=True)
        body = read_capped(response, _MAX_TOKEN_RESPONSE, "token response", self._broken_token)
        if response.status_code in (401, 403):
            raise AuthError(
                f"the token server of {self.registry} refused our credential (HTTP {response.status_code})",
                registry=self.registry,
                status=response.status_code,
                hint=self.credentials.explain() + f"; check it, or log in again (`docker login {self.registry}`)",
            )
        try:
            obj = parse(body)
            token = obj.get("token") or obj.get("access_token")
            lifetime = float(obj.get("expires_in") or 60)
            if response.status_code != 200 or not isinstance(token, str) or not token:
                raise ValueError
        except (ValueError, TypeError, AttributeError, UnicodeDecodeError):
            raise RegistryError(
                f"the token server of {self.registry} gave no token (HTTP {response.status_code})",
                registry=self.registry,
                status=response.status_code,
                found=body[:200].decode("utf-8", "replace") or None,
                hint="the registry's token service is failing; try again later",
            ) from None
        return token, max(lifetime, 1.0)

    def _realm_trusted(self, realm: str) -> bool:
        """May the registry's credential go to this token realm? (Its host, as cookies scope.)"""
        host = origin(realm)[1]
        registry_host = origin(self.base_url)[1]
        if _within(host, registry_host) or host in _TOKEN_HOSTS.get(self.registry, ()):
            return True
        log.warning("%s: its token server %s is on another host; asking it for an anonymous token",
                    self.registry, short_url(realm))
        return False

    def _broken_token(self, what: str, seen: int, cause: BaseException) -> RegistryError:
        return RegistryError(
            f"the token server of {self.registry} broke off its answer after {seen} bytes: {short(cause)}",
            registry=self.registry,
            hint="try again; if it persists, the registry's token service is failing",
        )

    # -- requests -------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        repository: str,
        actions: str = "pull",
        scopes: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        stream: bool = False,
        ok: Sequence[int] = (200,),
        retry: bool = True,
        what: str = "request",
    ) -> Response:
        """Send an authenticated request; any status outside `ok` raises a mapped error.

        `path` is a `/v2/...` path or a URL (upload locations); `scopes` are token scopes in
        addition to `repository:<repository>:<actions>` (a mount's source repository).
        """
        url = self.url(path)
        scope_key = (f"repository:{repository}:{actions}", *scopes)
        # A Link or Location on another host gets no credential of this registry.
        ours = self.same_origin(url)
        if not ours:
            log.debug("%s: no credential sent to %s (another host)", self.registry, short_url(url))
        authorization = self._authorization(scope_key) if ours else None
        response = self._send_with(
            method, url, repository, headers, authorization, data=data, params=params, stream=stream, retry=retry
        )
        # A challenge we had not seen yet, or a token the registry no longer takes: once more.
        if ours and response.status_code == 401 and self._learn(response):
            again = self._authorization(scope_key, refresh=True)
            if again is not None and again != authorization:
                response.close()
                response = self._send_with(
                    method, url, repository, headers, again, data=data, params=params, stream=stream, retry=retry
                )
        if response.status_code in ok:
            return response
        raise self.error(response, repository=repository, what=what, actions=actions)

    def error(self, response: Response, *, repository: str, what: str, actions: str = "pull") -> RegistryError:
        """The error for a response the caller did not expect (and close it)."""
        return response_error(
            response, self.registry, repository=repository, what=what, actions=actions,
            credentials=self._explain_credentials,
        )

    def _explain_credentials(self) -> str:
        # Called only for 401/403: a credential lookup may run a helper.
        return self.credentials.explain()

    def _send_with(
        self,
        method: str,
        url: str,
        repository: str,
        headers: Mapping[str, str] | None,
        authorization: str | None,
        *,
        data: bytes | None,
        params: Mapping[str, Any] | None,
        stream: bool,
        retry: bool,
    ) -> Response:
        all_headers = dict(headers or {})
        if authorization:
            all_headers["Authorization"] = authorization
        return self._send(
            method, url, repository=repository, headers=all_headers, data=data, params=params, stream=stream,
            retry=retry,
        )

    def _send(
        self,
        method: str,
        url: str,
        *,
        repository: str | None,
        headers: Mapping[str, str] | None = None,
        data: bytes | Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        stream: bool = False,
        retry: bool = True,
        auth: tuple[str, str] | None = None,
    ) -> Response:
        """One request with transport retries; wraps every transport, http.client and ssl exception."""
        retryable = retry and method in _IDEMPOTENT
        attempts = 1 + (self.options.retries if retryable else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._follow(method, url, headers=headers, data=data, params=params, stream=stream,
                                        auth=auth)
            except ssl.SSLError as exc:
                raise tls_error(self.registry, self.options.ca_bundle, http_allowed(self.registry, self.options), url,
                                exc) from None
            except ValueError as exc:  # a URL or header that cannot be sent (http.client.InvalidURL too)
                raise RegistryError(
                    f"request to {self.registry} failed: {type(exc).__name__}: {short(exc)}",
                    registry=self.registry,
                    repository=repository,
                ) from None
            except (OSError, http.client.HTTPException) as exc:
                if last:
                    raise (ProxyUnusable if through_proxy(exc) else RegistryError)(
                        f"cannot reach {self.registry}: {connection_failure(exc)}",
                        registry=self.registry,
                        repository=repository,
                        hint="check the registry name, the network and any proxy; retried "
                        f"{attempts - 1} times",
                    ) from None
                self._sleep(attempt, None, url)
                continue
            status = response.status_code
            if not last and (status == 429 or status >= 500):
                wait = _retry_after(response)
                if wait is not None and wait > self.options.max_retry_after:
                    return response
                response.close()
                self._sleep(attempt, wait, url)
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _follow(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None,
        data: bytes | Mapping[str, str] | None,
        params: Mapping[str, Any] | None,
        stream: bool,
        auth: tuple[str, str] | None,
    ) -> Response:
        """One request, and the redirects of a GET or HEAD: none leaves HTTPS for plain HTTP,
        and none carries the credential to another origin (nor back, once it has left)."""
        sent = dict(headers or {})
        body: bytes | None = None
        if isinstance(data, Mapping):
            body = encode_form(data)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        elif data is not None:
            body = data
        for _ in range(_MAX_REDIRECTS + 1):
            if auth is not None:
                pair = f"{auth[0]}:{auth[1]}".encode()
                sent["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
            if self._before_send is not None:
                self._before_send()
            response = self._transport.send(method, _with_params(url, params), headers=sent, body=body,
                                            stream=stream)
            location = response.headers.get("Location")
            if method not in ("GET", "HEAD") or response.status_code not in _REDIRECTS or not location:
                return response
            response.close()
            target = urljoin(url, location)
            scheme = urlsplit(target).scheme.lower()
            if scheme not in ("https", "http") or (scheme == "http" and urlsplit(url).scheme.lower() == "https"):
                raise TLSError(
                    f"{self.registry} redirected a request to a URL that leaves HTTPS: {short_url(target)}",
                    registry=self.registry,
                    expected="an https:// redirect",
                    found=short_url(target),
                    hint="slsacheck never follows HTTPS to plain HTTP; the registry (or a proxy in front of it) "
                    "is misconfigured or hostile; tell its operator",
                )
            if origin(target) != origin(url) or urlsplit(target).username is not None:
                sent.pop("Authorization", None)
                auth = None
            url, params = target, None
        raise RegistryError(
            f"{self.registry} redirected a request more than {_MAX_REDIRECTS} times",
            registry=self.registry,
            hint="the registry (or a proxy in front of it) is misconfigured; tell its operator",
        )

    def _sleep(self, attempt: int, retry_after: float | None, url: str) -> None:
        delay = retry_after if retry_after is not None else min(0.1 * 2**attempt, 5.0)
        log.debug("retrying %s in %.2fs", url, delay)
        time.sleep(delay)
