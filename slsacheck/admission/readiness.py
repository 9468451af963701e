"""Is this replica ready for admission reviews: a policy set loaded, its registries reachable.

A replica whose policies name TUF trust roots is also not ready while one of them is not
cached or is past its expiry (`trust_refresh`: refreshed in the background, reviews keep
verifying with the last verified root).

Which registries: the hosts given with `--ready-registry` (`registries=`), or else those
the loaded policies name as the literal first element of an `images.include` pattern
(`registry.example.com/team/**`; not `**`, not `oci:` layouts), re-read from the current
policy set on every round so a reload is followed; `registries=()` probes none.

A probe is `GET /v2/` through the gate's own `RegistryClient` (`client_for(host, options)`:
the same CA bundle, plain-HTTP rules, proxies, timeout and docker-config credentials). The
registry is *reachable* when it answers 200, or 401 with a `WWW-Authenticate` challenge,
or its token server refuses the credential: it answered, and credentials are a per-image
matter the denials explain. Connection errors, TLS errors, timeouts, 5xx and any other
answer are not reachable.

Invariants:
- `report()` never probes: `/readyz` and admission reviews read the last results and
  never wait on a registry. Probes run in `run(stop)`, a loop bounded by `stop`, each in
  a daemon thread (a probe stuck until its timeout never holds up the server's shutdown),
  at most one in flight per registry, a new round every `interval` seconds.
- Until its first probe completes, a registry counts as not reachable ("not probed yet").
  `start()` waits for the first round up to `first_wait` seconds, so a replica that just
  started answers `/readyz` with facts, not with "not probed yet".
- Results are written and read on the event loop only; no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slsacheck.admission.logs import log_event
from slsacheck.admission.reload import PolicyHolder
from slsacheck.errors import AuthError, Error, InputError
from slsacheck.models.reference import DOCKER_HUB, ImageRef
from slsacheck.oci.open import client_for
from slsacheck.oci.options import RegistryOptions

# The scope a Bearer token is asked for: /v2/ needs a valid token, for any repository.
PROBE_REPOSITORY = "slsacheck/readiness-probe"
GAUGE = "slsacheck_registry_reachable"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


@dataclass(frozen=True)
class ProbeResult:
    registry: str
    reachable: bool
    detail: str  # what the registry answered, or why it could not be reached (with a hint)
    checked_at: float  # time.time() when the probe started
    seconds: float

    def to_json(self) -> dict[str, Any]:
        when = datetime.datetime.fromtimestamp(self.checked_at, datetime.UTC)
        return {"reachable": self.reachable, "detail": self.detail,
                "checkedAt": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class ReadyReport:
    ready: bool
    not_ready: tuple[str, ...]  # one line per reason, empty when ready
    source: str  # where the registry list came from: "flag", "policies" or "none"
    registries: dict[str, dict[str, Any]]  # per registry: ProbeResult.to_json(), or reachable None if pending
    trust_roots: dict[str, dict[str, Any]] = field(default_factory=dict)  # per TUF mirror the policies name


ProbeFn = Callable[[str, RegistryOptions], ProbeResult]

if TYPE_CHECKING:
    from slsacheck.admission.trust_refresh import TrustRefresher


def normalise_registry(text: str) -> str:
    """A `--ready-registry` value as references spell registries (`docker.io` -> `index.docker.io`)."""
    host = text.strip()
    if host in _HUB_ALIASES:
        return DOCKER_HUB
    try:
        parsed = ImageRef.parse(f"{host}/probe").registry if host and "/" not in host else None
    except Error:
        parsed = None
    if parsed != host:
        raise InputError(f"--ready-registry {text!r} is not a registry host", expected="HOST or HOST:PORT "
                         "(registry.example.com, 127.0.0.1:5000, docker.io), or `none`", found=text,
                         hint="name the registry as image references do, without a scheme or a path")
    return host


def registries_of(holder: PolicyHolder) -> tuple[str, ...]:
    """The hosts the current policies' include patterns name literally, sorted (as written:
    see `compile_image_glob`)."""
    hosts: set[str] = set()
    for policy in holder.current.policies.policies:
        for glob in policy.include:
            first, sep, _ = glob.pattern.partition("/")
            if sep and first and not any(c in first for c in "*?[]{}"):
                hosts.add(first)
    return tuple(sorted(hosts))


def _answer(registry: str, status: int, challenge: str) -> tuple[bool, str]:
    if status == 200:
        return True, "GET /v2/ answered HTTP 200"
    if status == 401 and challenge.strip():
        scheme = challenge.strip().split(" ", 1)[0]
        return True, f"GET /v2/ answered HTTP 401 with a {scheme} challenge (the registry answers; " \
            "credentials are checked per image)"
    if status >= 500:
        return False, f"GET /v2/ answered HTTP {status}; hint: {registry} is failing, try again later"
    return False, (f"GET /v2/ answered HTTP {status}{' without an auth challenge' if status == 401 else ''}; "
                   f"hint: no OCI registry API at {registry}: check the host and port and any proxy")


def probe_registry(registry: str, options: RegistryOptions) -> ProbeResult:
    """`GET /v2/` on `registry` with the gate's client; never raises."""

    at, started = time.time(), time.monotonic()
    try:
        client = client_for(registry, options)
        # Every status is "ok" here: the status is the answer this probe reads.
        response = client.request("GET", "/v2/", repository=PROBE_REPOSITORY, ok=range(100, 600), retry=False,
                                  what="readiness probe")
        reachable, detail = _answer(registry, response.status_code, response.headers.get("WWW-Authenticate", ""))
        response.close()
    except AuthError as exc:  # the token server answered and refused the credential
        reachable, detail = True, f"the registry answers, its token service refused the credential: {exc}"
    except Error as exc:
        reachable, detail = False, str(exc) + (f"; hint: {exc.hint}" if exc.hint else "")
    except Exception as exc:  # a bug must read as not ready, not kill the probe loop
        reachable, detail = False, f"probe failed: unexpected {type(exc).__name__}: {exc}"
    return ProbeResult(registry, reachable, detail, at, time.monotonic() - started)


class Readiness:
    def __init__(
        self,
        holder: PolicyHolder,
        options: RegistryOptions,
        *,
        registries: Sequence[str] | None = None,
        interval: float = 10.0,
        first_wait: float = 2.0,
        probe: ProbeFn = probe_registry,
        trust: TrustRefresher | None = None,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be positive, not {interval!r}")
        self.holder = holder
        self.options = options
        self.explicit = None if registries is None else tuple(dict.fromkeys(normalise_registry(r) for r in registries))
        self.interval = interval
        self.first_wait = first_wait
        self._probe = probe
        self.trust = trust  # TUF roots: their expiry is part of readiness
        self._results: dict[str, ProbeResult] = {}
        self._inflight: dict[str, asyncio.Future[ProbeResult]] = {}
        self.probes_started = 0  # every probe ever launched: tests and operators see the loop's pace

    @property
    def source(self) -> str:
        if self.explicit is None:
            return "policies"
        return "flag" if self.explicit else "none"

    def targets(self) -> tuple[str, ...]:
        return registries_of(self.holder) if self.explicit is None else self.explicit

    # -- the background loop --------------------------------------------------------------

    async def start(self) -> None:
        """Launch the first round and wait for it up to `first_wait` seconds."""
        launched = self._launch()
        if launched and self.first_wait > 0:
            await asyncio.wait(launched, timeout=self.first_wait)

    async def run(self, stop: asyncio.Event) -> None:
        """A round every `interval` seconds until `stop` is set (call `start()` first)."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval)
            if stop.is_set():
                return
            try:
                self._launch()
            except Exception as exc:  # a loop that dies silently would freeze readiness: log, keep going
                log_event(logging.ERROR, "readiness round failed", error=repr(exc))

    def _launch(self) -> list[asyncio.Future[ProbeResult]]:
        launched = []
        for host in self.targets():
            if host not in self._inflight:
                launched.append(self._start_probe(host))
        return launched

    def _start_probe(self, host: str) -> asyncio.Future[ProbeResult]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ProbeResult] = loop.create_future()

        def settle(result: ProbeResult) -> None:
            if not future.done():
                future.set_result(result)

        def work() -> None:
            result = self._probe(host, self.options)
            with contextlib.suppress(RuntimeError):  # the loop is closed: the server stopped meanwhile
                loop.call_soon_threadsafe(settle, result)

        self._inflight[host] = future
        self.probes_started += 1
        future.add_done_callback(lambda done: self._record(host, done))
        threading.Thread(target=work, name=f"slsacheck-ready-{host}", daemon=True).start()
        return future

    def _record(self, host: str, done: asyncio.Future[ProbeResult]) -> None:
        self._inflight.pop(host, None)
        if done.cancelled():
            return
        result = done.result()
        before = self._results.get(host)
        self._results[host] = result
        if before is None or before.reachable != result.reachable:
            level = logging.INFO if result.reachable else logging.WARNING
            log_event(level, "registry reachable" if result.reachable else "registry NOT reachable: not ready",
                      registry=host, detail=result.detail)

    # -- what /readyz and /metrics read ---------------------------------------------------

    def report(self) -> ReadyReport:
        not_ready: list[str] = []
        if not self.holder.current.policies.policies:
            not_ready.append("no policies loaded")
        registries: dict[str, dict[str, Any]] = {}
        for host in self.targets():
            result = self._results.get(host)
            if result is None:
                registries[host] = {"reachable": None, "detail": "not probed yet"}
                not_ready.append(f"registry {host}: not probed yet")
                continue
            registries[host] = result.to_json()
            if not result.reachable:
                not_ready.append(f"registry {host} not reachable: {result.detail}")
        trust_roots: dict[str, dict[str, Any]] = {}
        if self.trust is not None:
            trust_not_ready, trust_roots = self.trust.report()
            not_ready.extend(trust_not_ready)
        return ReadyReport(not not_ready, tuple(not_ready), self.source, registries, trust_roots)

    def render_metrics(self) -> str:
        """The reachability gauge in Prometheus text format (registries probed at least once)."""
        lines = [f"# HELP {GAUGE} 1 if the last readiness probe (GET /v2/) of the registry got an answer, else 0.",
                 f"# TYPE {GAUGE} gauge"]
        current = set(self.targets())
        for host, result in sorted(self._results.items()):
            if host in current:
                label = host.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
                lines.append(f'{GAUGE}{{registry="{label}"}} {int(result.reachable)}')
        return "\n".join(lines) + "\n"
