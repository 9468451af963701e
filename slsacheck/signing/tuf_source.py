"""Where a Sigstore trust root comes from through TUF: a repository and its initial root.

Data only (no python-tuf here), so policies and commands can name a mirror and say how
a root may be fetched (`TufUse`) without loading the client; `slsacheck.signing.tuf`
fetches and caches.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib import parse

from slsacheck.errors import InputError

PUBLIC_GOOD_URL = "https://tuf-repo-cdn.sigstore.dev"
STAGING_URL = "https://tuf-repo-cdn.sigstage.dev"
DEFAULT_TIMEOUT = 30.0

Notice = Callable[[str], None]


@dataclass(frozen=True)
class Mirror:
    """A TUF repository and the root.json trust in it starts from.

    `initial_root` None means the root sigstore-python ships for the public-good and staging
    repositories; any other repository needs its own.
    """

    url: str
    initial_root: Path | None = None

    @classmethod
    def of(cls, url: str | None = None, *, root: str | Path | None = None, staging: bool = False) -> Mirror:
        if url is not None and staging:
            raise InputError("give either a mirror URL or --staging, not both")
        base = url or (STAGING_URL if staging else PUBLIC_GOOD_URL)
        scheme = parse.urlsplit(base).scheme
        if scheme not in ("https", "http") or not parse.urlsplit(base).netloc:
            raise InputError(f"--mirror {base!r} is not an http(s) URL", expected="https://HOST[/PATH]",
                             hint="give the base URL of the TUF repository (where N.root.json and timestamp.json are)")
        return cls(base.rstrip("/"), Path(root) if root is not None else None)

    @property
    def known(self) -> bool:
        """A repository whose initial root comes with sigstore-python."""
        return self.url in (PUBLIC_GOOD_URL, STAGING_URL)

    def __str__(self) -> str:
        return self.url


def stderr_notice(line: str) -> None:
    print(f"slsacheck: {line}", file=sys.stderr)


@dataclass(frozen=True)
class TufUse:
    """How a verification may get a TUF root.

    - `offline`: never fetch; a missing or expired cached root is an error that says how to
      get one (`trusted-root update` while online, or `--trusted-root FILE`);
    - `serve_expired`: a server keeps verifying with the last root that verified, past its
      expiry, while its readiness reports it and its background refresh retries;
    - otherwise a missing or expired root is updated first, and `notice` says so.
    """

    offline: bool = False
    serve_expired: bool = False
    notice: Notice | None = stderr_notice
    cache: Path | None = None
    timeout: float = DEFAULT_TIMEOUT
