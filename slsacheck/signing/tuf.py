"""Sigstore trust roots through TUF: fetched from a repository, verified, cached, read back.

`update(mirror)` runs python-tuf's ngclient against a TUF repository (the Sigstore
public-good one by default, its staging one, or a private mirror with its own initial
root) and downloads `trusted_root.json`, and the signing config where the repository has
one. `cached(mirror)` reads back what the last successful update stored, without the
network. `trusted_root(mirror, use)` (and `current`, `client_trust_config` for signing) is
what verification calls: the cached root, updated first when missing or expired unless the
`TufUse` forbids fetching. `Mirror` (in `tuf_source`) names a repository and the root.json
trust starts from; `_tuf_fetch` bounds the downloads.

Invariants:
- a trust root only ever comes out of a complete TUF update: every metadata file verified
  (signatures by the keys the previous root delegates, versions never going back, nothing
  expired) and every target matching the length and hashes the targets metadata names;
- the cache is committed by one atomic rename of `state.json`, written last; targets are
  stored under their sha256, so a reader sees the previous root or the new one, never a
  mix, and an update that fails anywhere leaves the previous root in place;
- a cached root is checked against the sha256 its `state.json` recorded before use, and
  carries the earliest expiry of the metadata that vouched for it: past it, the root is
  `expired` (verification updates or, offline, refuses; a server may keep serving it and
  say so in its readiness);
- every foreign exception (urllib3, python-tuf, OSError) becomes a `TufError` naming the
  mirror: exit 3 when the mirror could not be read (down, slow, not a TUF repository),
  exit 1 (`TufRefused`) when it served metadata or targets that do not verify.

The initial root of the public-good and staging repositories is the one sigstore-python
ships in its package data (the project does not keep a second copy to fall out of date);
ngclient follows every root rotation from there, each signed by a threshold of the
previous root's keys and of its own.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib import parse

from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import Metadata
from tuf.api.serialization import DeserializationError
from tuf.ngclient.config import UpdaterConfig
from tuf.ngclient.updater import Updater

from slsacheck.errors import EXIT_INCOMPLETE, Error, InputError, IntegrityError
from slsacheck.signing._tuf_fetch import BoundedFetcher
from slsacheck.signing.trust import TRUST_CONFIG_MEDIA_TYPE, TrustedRoot, TrustRootError, trusted_root_from_json
from slsacheck.signing.tuf_source import DEFAULT_TIMEOUT, PUBLIC_GOOD_URL, STAGING_URL, Mirror, Notice
from slsacheck.signing.tuf_source import TufUse as TufUse  # noqa: PLC0414 - callers have always found it here

TRUSTED_ROOT_TARGET = "trusted_root.json"
SIGNING_CONFIG_TARGETS = ("signing_config.v0.2.json", "signing_config.json")
STATE_FILE = "state.json"
# Sigstore's trusted_root.json is tens of kilobytes; TUF caps the metadata itself.
MAX_TARGET_BYTES = 4 * 1024 * 1024



class TufError(Error):
    """A TUF repository could not be read: unreachable, too slow, or not serving TUF metadata."""

    exit_code = EXIT_INCOMPLETE


class TufRefused(IntegrityError):
    """A TUF repository served metadata or a target that does not verify: an attack or a broken
    repository, never retried into a pass."""


@dataclass(frozen=True)
class CachedRoot:
    """What one successful update stored: the trust root, where from, and until when it holds."""

    mirror: str
    trusted_root_path: Path
    signing_config_path: Path | None
    fetched_at: datetime
    expires: datetime  # the earliest expiry of the root, timestamp, snapshot and targets metadata
    versions: Mapping[str, int]  # TUF role -> metadata version
    sha256: str  # of trusted_root.json

    def expired(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(UTC)) > self.expires

    def load(self) -> TrustedRoot:
        """The trusted root, checked against the hash its update recorded."""
        data = _read_capped(self.trusted_root_path)
        if data is None or hashlib.sha256(data).hexdigest() != self.sha256:
            raise TufError(f"the cached trust root of {self.mirror} changed on disk since it was verified",
                           expected=f"sha256:{self.sha256}", found=str(self.trusted_root_path),
                           hint="run `slsacheck trusted-root update` again")
        return _parsed(self.mirror, data)


@functools.lru_cache(maxsize=16)
def _parsed(mirror: str, data: bytes) -> TrustedRoot:
    """Parsed once per content: a server verifying many images reads the same root each time."""
    return _parse_root(data, f"{mirror} (TUF) {TRUSTED_ROOT_TARGET}")


# -- where the cache lives --------------------------------------------------------------------


def cache_home() -> Path:
    """`$SLSACHECK_CACHE`, else `$XDG_CACHE_HOME/slsacheck`, else `~/.cache/slsacheck`."""
    explicit = os.environ.get("SLSACHECK_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache") / "slsacheck"


def mirror_dir(mirror: Mirror, cache: Path | None = None) -> Path:
    return (cache or cache_home()) / "tuf" / parse.quote(mirror.url, safe="")


# -- reading the cache ------------------------------------------------------------------------


def cached(mirror: Mirror, cache: Path | None = None) -> CachedRoot | None:
    """What the last successful update of `mirror` stored, or None when nothing was."""
    base = mirror_dir(mirror, cache)
    raw = _read_capped(base / STATE_FILE)
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
        targets = doc["targets"]
        root_entry = targets[TRUSTED_ROOT_TARGET]
        config = next((targets[n] for n in SIGNING_CONFIG_TARGETS if n in targets), None)
        return CachedRoot(
            mirror=str(doc["mirror"]),
            trusted_root_path=base / "targets" / _safe_name(root_entry["file"]),
            signing_config_path=base / "targets" / _safe_name(config["file"]) if config else None,
            fetched_at=datetime.fromisoformat(doc["fetchedAt"]),
            expires=datetime.fromisoformat(doc["expires"]),
            versions={str(k): int(v) for k, v in doc["versions"].items()},
            sha256=str(root_entry["sha256"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TufError(f"the trust-root cache of {mirror} is damaged ({base / STATE_FILE})", found=repr(exc)[:200],
                       hint="run `slsacheck trusted-root update` to fetch it again") from None


def all_cached(cache: Path | None = None) -> list[CachedRoot]:
    """Every mirror's cached root, by URL."""
    found = []
    for state in sorted(((cache or cache_home()) / "tuf").glob(f"*/{STATE_FILE}")):
        one = cached(Mirror(parse.unquote(state.parent.name)), cache)
        if one is not None:
            found.append(one)
    return found


def _safe_name(name: Any) -> str:
    text = str(name)
    if not text or "/" in text or text.startswith("."):
        raise ValueError(f"bad cached file name {text!r}")
    return text


def _read_capped(path: Path) -> bytes | None:
    try:
        with path.open("rb") as handle:
            return handle.read(MAX_TARGET_BYTES + 1)[:MAX_TARGET_BYTES]
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise TufError(f"cannot read the trust-root cache {path}: {exc.strerror}",
                       hint="check the permissions of $SLSACHECK_CACHE (or the XDG cache directory)") from None


def _parse_root(data: bytes, where: str) -> TrustedRoot:
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise TufRefused(f"{where}: not JSON ({exc})",
                         hint="the repository signed a target that is not a trust root") from None
    if not isinstance(doc, dict):
        raise TufRefused(f"{where}: not a JSON object", hint="the repository signed a target that is not a trust root")
    return trusted_root_from_json(doc, source=where, raw=data)


# -- what verification uses -----------------------------------------------------------------


# Fetch when missing or expired, notices on stderr: what a one-off verification does.
_ANY_USE = TufUse()

_UPDATE_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def trusted_root(mirror: Mirror, use: TufUse = _ANY_USE, *, now: datetime | None = None) -> TrustedRoot:
    """The trust root of `mirror` for a verification, under the rules of `use`."""
    return current(mirror, use, now=now).load()


def current(mirror: Mirror, use: TufUse = _ANY_USE, *, now: datetime | None = None) -> CachedRoot:
    """The cached root of `mirror` a verification may use now, updated first when `use` allows."""
    found = cached(mirror, use.cache)
    if found is not None and (use.serve_expired or not found.expired(now)):
        return found
    what = "is not cached" if found is None else f"expired at {found.expires.isoformat()}"
    if use.offline or use.serve_expired:
        raise TufError(f"the Sigstore trust root of {mirror} {what}, and fetching it is not allowed here"
                       + (" (--offline)" if use.offline else ""),
                       hint=f"run `slsacheck trusted-root update{_flags(mirror)}` where the mirror is reachable, "
                       "or pass --trusted-root FILE")
    with _lock_for(mirror):
        # Another thread may have updated it while this one waited.
        again = cached(mirror, use.cache)
        if again is not None and again.fetched_at != (found.fetched_at if found else None) and not again.expired(now):
            return again
        return update(mirror, cache=use.cache, timeout=use.timeout, notice=use.notice)


def client_trust_config(mirror: Mirror, use: TufUse = _ANY_USE, *, now: datetime | None = None) -> Path:
    """A Sigstore ClientTrustConfig file (trusted root + signing config) from `mirror`'s cached
    targets, for keyless signing; updated first like `trusted_root`. Written once per content
    beside the targets, so the signer reads exactly what TUF verified."""
    trusted_root(mirror, use, now=now)
    found = cached(mirror, use.cache)
    assert found is not None
    if found.signing_config_path is None:
        raise TufError(f"the TUF repository {mirror} publishes no signing config",
                       expected=" or ".join(SIGNING_CONFIG_TARGETS),
                       hint="pass --trust-config FILE with the deployment's ClientTrustConfig")
    config = _read_capped(found.signing_config_path)
    if config is None:
        raise TufError(f"the cached signing config of {mirror} is gone", hint="run `slsacheck trusted-root update`")
    try:
        doc = {"mediaType": TRUST_CONFIG_MEDIA_TYPE, "trustedRoot": json.loads(found.load().raw),
               "signingConfig": json.loads(config)}
    except ValueError as exc:
        raise TufRefused(f"the TUF repository {mirror} signed a signing config that is not JSON ({exc})",
                         hint="report it to the repository's operators") from None
    data = json.dumps(doc, indent=2).encode()
    path = found.trusted_root_path.parent / f"{hashlib.sha256(data).hexdigest()}-trust_config.json"
    if not path.is_file():
        _write_atomic(path, data)
    return path


def _lock_for(mirror: Mirror) -> threading.Lock:
    with _LOCKS_GUARD:
        return _UPDATE_LOCKS.setdefault(mirror.url, threading.Lock())


def _flags(mirror: Mirror) -> str:
    if mirror.url == PUBLIC_GOOD_URL:
        return ""
    if mirror.url == STAGING_URL:
        return " --staging"
    return f" --mirror {mirror.url}" + (f" --root {mirror.initial_root}" if mirror.initial_root else " --root FILE")


# -- updating ------------------------------------------------------------------------------


def initial_root(mirror: Mirror) -> bytes:
    """The root.json trust in `mirror` starts from: the one given, else sigstore-python's."""
    if mirror.initial_root is not None:
        try:
            return mirror.initial_root.read_bytes()
        except OSError as exc:
            raise InputError(f"--root {mirror.initial_root}: cannot read it: {exc.strerror}",
                             hint="give the TUF repository's initial root.json") from None
    if not mirror.known:
        raise InputError(f"the TUF mirror {mirror} needs its initial root",
                         expected="--root FILE (the repository's trusted root.json, version 1 or later)",
                         hint="only the Sigstore public-good and staging repositories come with one")
    try:
        embedded = resources.files("sigstore") / "_store" / parse.quote(mirror.url, safe="") / "root.json"
        return embedded.read_bytes()
    except (OSError, ModuleNotFoundError) as exc:
        raise InputError(f"the initial TUF root of {mirror} is not in this installation ({exc})",
                         hint="reinstall slsacheck with its sigstore dependency, or pass --root FILE") from None


def update(
    mirror: Mirror,
    *,
    cache: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    notice: Notice | None = None,
) -> CachedRoot:
    """Fetch and verify `mirror`'s trust root through TUF and commit it to the cache."""
    base = mirror_dir(mirror, cache)
    metadata = base / "metadata"
    try:
        metadata.mkdir(parents=True, exist_ok=True)
        (base / "targets").mkdir(exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".update-", dir=base))
    except OSError as exc:
        raise TufError(f"cannot write the trust-root cache {base}: {exc.strerror}",
                       hint="set $SLSACHECK_CACHE to a writable directory") from None
    if notice is not None:
        notice(f"fetching the Sigstore trust root from {mirror} through TUF (cache {base})")
    # Trust starts from the newest root a previous update verified; the initial root only the first time.
    continuing = (metadata / "root.json").is_file()
    bootstrap = None if continuing else initial_root(mirror)
    if continuing and mirror.initial_root is not None and notice is not None:
        notice(f"trust in {mirror} continues from its cached root metadata; {mirror.initial_root} is used only "
               f"for a first update (remove {metadata} to start over from it)")
    try:
        updater = Updater(
            metadata_dir=str(metadata), metadata_base_url=mirror.url, target_dir=str(staging),
            target_base_url=f"{mirror.url}/targets/", fetcher=BoundedFetcher(timeout),
            config=UpdaterConfig(app_user_agent="slsacheck"), bootstrap=bootstrap,
        )
        updater.refresh()
        files = {}
        for name in (TRUSTED_ROOT_TARGET, *SIGNING_CONFIG_TARGETS):
            info = updater.get_targetinfo(name)
            if info is None:
                if name == TRUSTED_ROOT_TARGET:
                    raise TufError(f"the TUF repository {mirror} has no {TRUSTED_ROOT_TARGET} target",
                                   hint="is this a Sigstore TUF repository?")
                continue
            if info.length > MAX_TARGET_BYTES:
                raise TufRefused(f"{mirror}: target {name} is {info.length} bytes",
                                 expected=f"at most {MAX_TARGET_BYTES}")
            files[name] = Path(updater.download_target(info))
            if name != TRUSTED_ROOT_TARGET:
                break
        return _commit(mirror, base, metadata, files)
    except Error:
        raise
    except tuf_errors.DownloadError as exc:
        raise TufError(f"cannot read the TUF repository {mirror}: {_reason(exc)}",
                       hint="check the mirror URL and that it is reachable from here; the cached root, "
                       "if any, is unchanged") from None
    except tuf_errors.RepositoryError as exc:
        if isinstance(exc, DeserializationError):
            raise TufError(f"the TUF repository {mirror} served metadata that does not parse: {_reason(exc)}",
                           hint="the mirror is broken or is not a TUF repository; the cached root, if any, "
                           "is unchanged") from None
        raise TufRefused(f"the TUF repository {mirror} served metadata that does not verify: "
                         f"{type(exc).__name__}: {_reason(exc)}",
                         hint="do not trust this mirror until its operators explain it (expired, rolled back, "
                         "or signed by keys its root does not name); the cached root, if any, is unchanged") from None
    except OSError as exc:
        raise TufError(f"cannot write the trust-root cache {base}: {exc}", hint="check $SLSACHECK_CACHE") from None
    except ValueError as exc:
        # ngclient reports an unusable bootstrap root (not metadata, not a root) this way.
        raise InputError(f"the initial root for {mirror} is not TUF root metadata: {_reason(exc)}",
                         hint="give the repository's root.json with --root") from None
    finally:
        for leftover in staging.glob("*"):
            with contextlib.suppress(OSError):
                leftover.unlink()
        with contextlib.suppress(OSError):
            staging.rmdir()


def _reason(exc: BaseException) -> str:
    parts = [str(exc) or type(exc).__name__]
    cause = exc.__cause__ or exc.__context__
    if cause is not None:
        parts.append(str(cause) or type(cause).__name__)
    return "; ".join(parts)[:300]


def _commit(mirror: Mirror, base: Path, metadata: Path, files: Mapping[str, Path]) -> CachedRoot:
    """Check the root parses, store each target under its hash, then swap `state.json` in."""
    expires, versions = _metadata_facts(metadata)
    root_bytes = files[TRUSTED_ROOT_TARGET].read_bytes()
    try:
        _parse_root(root_bytes, f"{mirror} (TUF) {TRUSTED_ROOT_TARGET}")
    except TrustRootError as exc:
        raise TufRefused(f"the TUF repository {mirror} signed a {TRUSTED_ROOT_TARGET} slsacheck cannot use",
                         found=exc.message, hint="report it to the repository's operators") from None
    entries = {}
    for name, path in files.items():
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        stored = f"{digest}-{name}"
        os.replace(path, base / "targets" / stored)
        entries[name] = {"file": stored, "sha256": digest}
    state = {
        "mirror": mirror.url,
        "fetchedAt": datetime.now(UTC).isoformat(timespec="seconds"),
        "expires": expires.isoformat(timespec="seconds"),
        "versions": versions,
        "targets": entries,
    }
    _write_atomic(base / STATE_FILE, json.dumps(state, indent=2).encode())
    _prune(base / "targets", {e["file"] for e in entries.values()})
    result = cached(mirror, base.parent.parent)
    assert result is not None
    return result


def _metadata_facts(metadata: Path) -> tuple[datetime, dict[str, int]]:
    expires: list[datetime] = []
    versions: dict[str, int] = {}
    for role in ("root", "timestamp", "snapshot", "targets"):
        md = Metadata.from_bytes((metadata / f"{role}.json").read_bytes())
        expires.append(md.signed.expires)
        versions[role] = md.signed.version
    return min(expires), versions


def _write_atomic(path: Path, data: bytes) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _prune(targets: Path, keep: set[str]) -> None:
    """Drop targets no state names any more; a reader holding an old state re-reads on a miss."""
    for old in targets.iterdir():
        if old.name not in keep and time.time() - old.stat().st_mtime > 3600:
            with contextlib.suppress(OSError):
                old.unlink()
