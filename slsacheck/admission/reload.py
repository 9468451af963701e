"""The policy set the webhook answers with, and its reload when the files change.

`PolicyHolder.current` is the loaded set; requests take it once at their start, so one
review is judged by one set even if a reload lands meanwhile. `check()` compares each
file's (inode, mtime, size) with the last seen: a Kubernetes ConfigMap update swaps a
symlink to a new directory, which changes the inode the path resolves to; an edit in
place changes mtime or size. On a change the files are loaded again; a set that does not
load is refused and the old one keeps answering, with an ERROR log listing every problem
and `policy_reloads_total{result="rejected"}` counted. The same broken content is
reported once, not on every poll. `watch()` polls on an interval until stopped: a
bounded background task, no file-system notification library needed.

Key files and trusted roots referenced by a policy are read at load; they are noticed
when a policy file changes too (a ConfigMap update replaces every file at once), but an
edit of only a key file outside a ConfigMap needs a touch of the policy file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from slsacheck.admission.logs import log_event
from slsacheck.admission.metrics import Metrics
from slsacheck.errors import Error
from slsacheck.policy.load import load_policies
from slsacheck.policy.model import NoMatch, PolicySet

Stamp = tuple[tuple[int, int, int] | None, ...]


@dataclass(frozen=True)
class Loaded:
    policies: PolicySet
    digest: str
    loaded_at: float  # time.time()


def _default_loader(paths: Sequence[str], no_match: NoMatch | None) -> PolicySet:
    return load_policies(list(paths), no_match=no_match)


class PolicyHolder:
    def __init__(
        self,
        paths: Sequence[str | Path],
        *,
        no_match: NoMatch | None = None,
        metrics: Metrics | None = None,
        loader: Callable[[Sequence[str], NoMatch | None], PolicySet] = _default_loader,
    ) -> None:
        self.paths = tuple(str(p) for p in paths)
        self._no_match = no_match
        self._loader = loader
        self._metrics = metrics
        self._stamp = self._stamps()
        self.current = self._load()  # at start-up a bad policy is the operator's error: raise
        self.last_error: str | None = None

    def _load(self) -> Loaded:
        policies = self._loader(self.paths, self._no_match)
        return Loaded(policies, policies.digest(), time.time())

    def _stamps(self) -> Stamp:
        out: list[tuple[int, int, int] | None] = []
        for path in self.paths:
            try:
                st = os.stat(path)
            except OSError:
                out.append(None)
            else:
                out.append((st.st_ino, st.st_mtime_ns, st.st_size))
        return tuple(out)

    def check(self) -> bool:
        """Reload if any file changed; True if a new policy set now answers."""
        stamp = self._stamps()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            loaded = self._load()
        except Exception as exc:  # whatever breaks a load, the old set must keep answering
            self.last_error = exc.diagnostics() if isinstance(exc, Error) else repr(exc)
            problems = getattr(exc, "problems", ())
            log_event(
                logging.ERROR, "policy reload REFUSED: the new policy files do not load; the previous policy set "
                "keeps answering",
                files=list(self.paths), error=str(exc), problems=[p.render() for p in problems],
                kept_digest=self.current.digest,
            )
            if self._metrics is not None:
                self._metrics.reloads.inc(result="rejected")
            return False
        recovered = self.last_error is not None
        self.last_error = None
        if recovered:
            # Say so: the ERROR of the refused reload is otherwise the last word on the policy.
            log_event(logging.WARNING, "policy reload recovered: the policy files load again",
                      files=list(self.paths), digest=loaded.digest,
                      changed=loaded.digest != self.current.digest)
        if loaded.digest == self.current.digest:
            return False
        old = self.current.digest
        self.current = loaded
        log_event(logging.WARNING, "policy reloaded", files=list(self.paths), old_digest=old,
                  new_digest=loaded.digest, policies=[p.name for p in loaded.policies.policies])
        if self._metrics is not None:
            self._metrics.reloads.inc(result="applied")
        return True

    async def watch(self, interval: float, stop: asyncio.Event) -> None:
        """Poll every `interval` seconds until `stop` is set; loading runs off the event loop."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
            if stop.is_set():
                return
            try:
                await asyncio.to_thread(self.check)
            except Exception as exc:  # a watcher that dies silently would freeze the policy: log, keep going
                log_event(logging.ERROR, "policy watcher error", error=repr(exc))
