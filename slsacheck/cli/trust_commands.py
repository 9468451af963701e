"""`slsacheck trusted-root update | show`: the Sigstore trust root through TUF, cached.

`update` is cosign's `initialize`: it fetches `trusted_root.json` (and the signing config)
from the public-good TUF repository, its staging one, or a private mirror with its own
initial root, verifies it through TUF and caches it (`$SLSACHECK_CACHE`, else the XDG
cache). `show` prints what is cached, from where, and until when. Exit codes: 0 done, 1 the
repository served metadata that does not verify, 2 usage, 3 the mirror could not be read
(or, for `show`, nothing is cached).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from slsacheck.errors import EXIT_INCOMPLETE

if TYPE_CHECKING:
    from slsacheck.signing.tuf import CachedRoot


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("trusted-root", help="fetch (through TUF) and show the cached Sigstore trust root",
                       description="Keyless verification without --trusted-root uses the trust root cached here.")
    group = p.add_subparsers(dest="trust_command", metavar="ACTION", required=True)
    u = group.add_parser("update", help="fetch trusted_root.json and the signing config through TUF, verify, cache",
                         description="Fetch the Sigstore trust root through TUF and cache it; the cached root is "
                         "replaced only by one that verified completely.")
    _mirror_flags(u)
    u.add_argument("--root", metavar="FILE",
                   help="the mirror's initial root.json (required for a private mirror; the public-good and "
                   "staging roots come with the installation)")
    u.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                   help="give up on a metadata file or target after this long (default 30)")
    u.set_defaults(func=_update)
    s = group.add_parser("show", help="print the cached trust roots: from where, fetched when, expiring when")
    s.add_argument("--mirror", metavar="URL", help="only this mirror (default: every cached one)")
    s.add_argument("--staging", action="store_true", help="only the Sigstore staging repository")
    s.add_argument("--output", choices=["text", "json"], default="text", help="text (default) or JSON")
    s.set_defaults(func=_show)


def _mirror_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mirror", metavar="URL", help="TUF repository base URL (default: the Sigstore public good, "
                   "https://tuf-repo-cdn.sigstore.dev)")
    p.add_argument("--staging", action="store_true", help="the Sigstore staging repository")


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _update(args: argparse.Namespace) -> int:
    from slsacheck.signing.tuf import update  # noqa: PLC0415 - python-tuf loads only here
    from slsacheck.signing.tuf_source import Mirror  # noqa: PLC0415

    mirror = Mirror.of(args.mirror, root=args.root, staging=args.staging)
    result = update(mirror, timeout=args.timeout, notice=_stderr)
    root = result.load()
    print(f"trusted root of {result.mirror}: {len(root.certificate_authorities)} certificate authorities, "
          f"{len(root.tlogs)} transparency logs, {len(root.timestamp_authorities)} timestamp authorities; "
          f"TUF {_versions(result)}; valid until {_when(result.expires)}")
    print(f"cached at {result.trusted_root_path}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from slsacheck.signing.tuf import all_cached, cache_home, cached  # noqa: PLC0415
    from slsacheck.signing.tuf_source import Mirror  # noqa: PLC0415

    if args.mirror or args.staging:
        one = cached(Mirror.of(args.mirror, staging=args.staging))
        roots = [one] if one is not None else []
    else:
        roots = all_cached()
    now = datetime.now(UTC)
    if args.output == "json":
        print(json.dumps([_json(r, now) for r in roots], indent=2))
    for r in roots if args.output == "text" else []:
        state = "EXPIRED" if r.expired(now) else "valid"
        print(f"{r.mirror}: {state} until {_when(r.expires)}; fetched {_when(r.fetched_at)}; TUF {_versions(r)}")
        print(f"  trusted root  {r.trusted_root_path} (sha256:{r.sha256})")
        print(f"  signing config {r.signing_config_path or 'none in this repository'}")
    if not roots:
        print(f"no trust root cached under {cache_home()}; hint: run `slsacheck trusted-root update`",
              file=sys.stderr)
        return EXIT_INCOMPLETE
    return 0


def _json(r: CachedRoot, now: datetime) -> dict[str, Any]:
    return {"mirror": r.mirror, "fetchedAt": _when(r.fetched_at), "expires": _when(r.expires),
            "expired": r.expired(now), "versions": dict(r.versions), "trustedRoot": str(r.trusted_root_path),
            "sha256": r.sha256, "signingConfig": str(r.signing_config_path) if r.signing_config_path else None}


def _versions(r: CachedRoot) -> str:
    return ", ".join(f"{role} v{version}" for role, version in r.versions.items())


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
