"""`slsacheck serve`: the admission webhook over HTTPS (uvicorn + the Starlette app).

Light at import time: uvicorn, starlette and the policy loader are imported inside the
command, and a missing `server` extra is a clear usage error. The policy files must
load at start-up (a webhook without its policy does not start); later changes are
reloaded by the app. Registry requests are capped to the request budget (in `build`), so
a stuck registry cannot hold a verification thread longer than a review may wait.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys

from slsacheck._display import unguarded
from slsacheck.cli._registry_flags import add_registry_flags, registry_options
from slsacheck.errors import EXIT_OK, InputError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve", help="run the Kubernetes admission webhook (validate, mutate: pin tags to verified digests)",
        description="Serve POST /validate and POST /mutate (AdmissionReview admission.k8s.io/v1), GET /healthz, "
        "/readyz and /metrics over HTTPS. Images are judged against the policies; policy files are reloaded "
        "when they change (a broken change is refused and the old policy kept).")
    p.add_argument("--policy", action="append", required=True, metavar="FILE", help="ImagePolicy file (repeatable)")
    p.add_argument("--tls-cert", required=True, metavar="CERT", help="PEM serving certificate (chain)")
    p.add_argument("--tls-key", required=True, metavar="KEY", help="PEM private key of the serving certificate")
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")  # noqa: S104
    p.add_argument("--port", type=int, default=8443, help="port (default 8443)")
    p.add_argument("--mode", choices=("enforce", "warn"), default="enforce",
                   help="enforce: deny what fails (default); warn: allow and return the reasons as warnings")
    p.add_argument("--budget-seconds", type=float, default=8.0, metavar="S",
                   help="time to answer each review; past it, unverified images are denied in enforce mode "
                   "(default 8, below the 10 s webhook timeout)")
    p.add_argument("--no-match", choices=("deny", "warn", "allow"), default=None,
                   help="override the policies' noMatch for images no policy matches")
    p.add_argument("--workers", type=int, default=8, help="verification threads (default 8)")
    p.add_argument("--host-workers", type=int, default=None, metavar="N",
                   help="verification threads one registry host may hold at once (default: half of --workers)")
    p.add_argument("--requester-workers", type=int, default=None, metavar="N",
                   help="verification threads the reviews of one user (userInfo.username) may hold at once "
                   "(default: half of --workers)")
    p.add_argument("--unresponsive-cooldown", type=float, default=10.0, metavar="S",
                   help="seconds a registry whose call ran past half the budget is denied at once, without "
                   "a call (default 10; 0 never marks a registry)")
    p.add_argument("--cache-ttl", type=float, default=600.0, metavar="S",
                   help="seconds a passing verdict is kept, per (image digest, policy set) (default 600)")
    p.add_argument("--fail-cache-ttl", type=float, default=30.0, metavar="S",
                   help="seconds a failing verdict is kept (default 30; errors are never kept)")
    p.add_argument("--tag-cache-ttl", type=float, default=15.0, metavar="S",
                   help="seconds a tag's resolved digest is reused (default 15; 0 resolves every time)")
    p.add_argument("--cache-size", type=int, default=10_000, metavar="N", help="entries per cache (default 10000)")
    p.add_argument("--reload-interval", type=float, default=2.0, metavar="S",
                   help="seconds between checks of the policy files for changes (default 2)")
    p.add_argument("--ready-registry", action="append", metavar="HOST",
                   help="a registry /readyz requires to answer GET /v2/ (repeatable; default: the registries the "
                   "policies' images.include patterns name; `none`: readiness checks the policies only)")
    p.add_argument("--ready-interval", type=float, default=10.0, metavar="S",
                   help="seconds between readiness probes of each registry, run in the background (default 10)")
    p.add_argument("--trust-refresh-interval", type=float, default=3600.0, metavar="S",
                   help="seconds between background TUF updates of the trust roots the policies' keyless "
                   "authorities take through TUF (default 3600; sooner near a root's expiry)")
    add_registry_flags(p)
    p.set_defaults(func=_serve)


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise InputError(f"{name} must be positive", expected="a number > 0", found=str(value))


def _check_tls_pair(cert: str, key: str) -> None:
    """Load the serving certificate and key as the server will, before it says "serving":
    a pair that does not load would otherwise surface as a traceback from inside uvicorn."""
    import ssl  # noqa: PLC0415 - only `serve` needs it

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        mismatch = "KEY_VALUES_MISMATCH" in str(exc) or "key values mismatch" in str(exc)
        raise InputError(
            f"--tls-cert {cert} and --tls-key {key} do not match" if mismatch
            else f"--tls-cert {cert} / --tls-key {key}: not a PEM certificate and its private key",
            expected="the serving certificate (chain) and the private key it was issued for",
            found="the private key of another certificate" if mismatch else "files without a matching PEM pair",
            hint="pass the key the certificate was made from (deploy/gen-certs.sh writes both side by side)",
        ) from None
    except OSError as exc:
        raise InputError(f"--tls-cert {cert} / --tls-key {key}: cannot read: {exc.strerror}") from None


def _ready_registries(values: list[str] | None) -> list[str] | None:
    """None: follow the policies; []: `none`, probe no registry; else the hosts, checked."""
    if values is None:
        return None
    if "none" in values:
        if len(values) > 1:
            raise InputError("--ready-registry none cannot be combined with registries",
                             expected="`none` alone, or one or more HOSTs", found=" ".join(values))
        return []
    from slsacheck.admission.readiness import normalise_registry  # noqa: PLC0415

    return [normalise_registry(v) for v in values]


def _serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn  # noqa: PLC0415 - the server extra loads only for `serve`

        from slsacheck.admission.app import build, create_app  # noqa: PLC0415
        from slsacheck.admission.logs import BatchedLines, JsonFormatter, ReviewLines  # noqa: PLC0415
        from slsacheck.admission.serving import http_protocol  # noqa: PLC0415
    except ImportError as exc:
        raise InputError(
            f"slsacheck serve needs the server extra ({exc.name} is missing)",
            hint="pip install 'slsacheck[server]'",
        ) from None
    for flag in ("tls_cert", "tls_key"):
        path = getattr(args, flag)
        if not os.path.isfile(path):
            raise InputError(f"--{flag.replace('_', '-')} {path}: no such file", expected="a PEM file")
    _check_tls_pair(args.tls_cert, args.tls_key)
    _positive("--budget-seconds", args.budget_seconds)
    _positive("--workers", args.workers)
    for flag, value in (("--host-workers", args.host_workers), ("--requester-workers", args.requester_workers)):
        if value is not None:
            _positive(flag, value)
    if args.unresponsive_cooldown < 0:
        raise InputError("--unresponsive-cooldown must not be negative", expected="a number >= 0",
                         found=str(args.unresponsive_cooldown))
    _positive("--reload-interval", args.reload_interval)
    _positive("--ready-interval", args.ready_interval)
    _positive("--trust-refresh-interval", args.trust_refresh_interval)
    ready_registries = _ready_registries(args.ready_registry)
    # Every log line as JSON (ours, the registry layer's, uvicorn's); reviews at INFO.
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    streams = []
    for handler in root.handlers:
        handler.setFormatter(JsonFormatter())
        if isinstance(handler, logging.StreamHandler):
            # A JSON line is ASCII with every control character escaped: the terminal guard
            # on stderr has nothing to do but cost a scan of every review's line. The lines of
            # one event-loop step go out in one write.
            streams.append(BatchedLines(unguarded(handler.stream)))
            handler.setStream(streams[-1])
    # With the one handler, each review's line is written straight to its stream.
    review_lines = ReviewLines(streams[0]) if len(root.handlers) == 1 and streams else None
    logging.getLogger("slsacheck.admission").setLevel(logging.INFO)
    # No line prints a thread or process: the logging module's own switches spare every record
    # (one per review) from looking them up.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    options = registry_options(args)
    webhook = build(args.policy, options, mode=args.mode, budget_seconds=args.budget_seconds, workers=args.workers,
                    no_match=args.no_match, verdict_ttl=args.cache_ttl, fail_ttl=args.fail_cache_ttl,
                    tag_ttl=args.tag_cache_ttl, cache_size=args.cache_size, ready_registries=ready_registries,
                    ready_interval=args.ready_interval, host_workers=args.host_workers,
                    requester_workers=args.requester_workers, unresponsive_cooldown=args.unresponsive_cooldown,
                    trust_refresh_interval=args.trust_refresh_interval, review_lines=review_lines)
    app = create_app(webhook, reload_interval=args.reload_interval)
    loaded = webhook.holder.current
    from slsacheck.admission.logs import log_event  # noqa: PLC0415

    log_event(logging.INFO, "serving", host=args.host, port=args.port, mode=args.mode,
              policies=[p.name for p in loaded.policies.policies], policy_set_digest=loaded.digest,
              budget_seconds=args.budget_seconds, workers=args.workers,
              host_workers=webhook.judge.pool.settings.per_host,
              requester_workers=webhook.judge.pool.settings.per_requester,
              ready_registries=list(webhook.readiness.targets()), ready_registries_from=webhook.readiness.source)
    # What start-up built (modules, the policy set, the server) lives as long as the process:
    # the cyclic collector need not walk it again on every full collection under load.
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=args.host, port=args.port, ssl_certfile=args.tls_cert, ssl_keyfile=args.tls_key,
                http=http_protocol(), log_config=None, access_log=False, log_level="warning",
                timeout_graceful_shutdown=5)
    return EXIT_OK
