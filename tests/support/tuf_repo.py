"""A TUF repository that tests build with python-tuf's Metadata API and serve on loopback.

`TufRepo` holds the four top-level roles, one Ed25519 key each, and the targets
(`trusted_root.json`, a signing config); `publish()` signs and lays the files out as a
consistent-snapshot repository (`N.root.json`, `timestamp.json`, `N.snapshot.json`,
`N.targets.json`, `targets/<sha256>.<name>`). Tests then break one thing the way an
attacker or a broken mirror would (an expired timestamp, an older version, a target whose
bytes changed, a role signed by another key, a root that skips its predecessor's
signatures) and `served()` serves whatever `files` holds at that moment.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

from securesystemslib.signer import CryptoSigner, Signer
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)

from tests.support.servers import BoundedServer, serve

ROLES = ("root", "timestamp", "snapshot", "targets")


def _in(days: float) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)


class TufRepo:
    def __init__(self, targets: dict[str, bytes]) -> None:
        self.signers: dict[str, Signer] = {role: CryptoSigner.generate_ed25519() for role in ROLES}
        root = Root(expires=_in(365), consistent_snapshot=True)
        for role in ROLES:
            root.add_key(self.signers[role].public_key, role)
        self.root: Metadata[Root] = Metadata(root)
        self.timestamp: Metadata[Timestamp] = Metadata(Timestamp(expires=_in(1)))
        self.snapshot: Metadata[Snapshot] = Metadata(Snapshot(expires=_in(7)))
        self.targets: Metadata[Targets] = Metadata(Targets(expires=_in(30)))
        self.content = dict(targets)
        self.files: dict[str, bytes] = {}
        self.roots: list[bytes] = []  # every published root, version 1 first
        self.publish_root()
        self.publish()

    # -- signing and laying out ------------------------------------------------------------

    def publish_root(self, *, signers: list[Signer] | None = None) -> bytes:
        """Sign the root (with `signers`, default the root role's key) as its current version."""
        self.root.signatures.clear()
        for signer in signers or [self.signers["root"]]:
            self.root.sign(signer, append=True)
        data = self.root.to_bytes()
        self.files[f"{self.root.signed.version}.root.json"] = data
        self.roots.append(data)
        return data

    def publish(self, *, bump: bool = True, sign_with: dict[str, Signer] | None = None) -> None:
        """Targets, snapshot, timestamp: new versions naming the current content."""
        keys = {**self.signers, **(sign_with or {})}
        targets = self.targets.signed
        if bump and self.files:
            targets.version += 1
        targets.targets = {}
        for name, data in self.content.items():
            info = TargetFile.from_data(name, data, ["sha256"])
            targets.targets[name] = info
            self.files[f"targets/{hashlib.sha256(data).hexdigest()}.{name}"] = data
        self.targets.sign(keys["targets"])
        self.files[f"{targets.version}.targets.json"] = self.targets.to_bytes()
        snapshot = self.snapshot.signed
        if bump and f"{snapshot.version}.snapshot.json" in self.files:
            snapshot.version += 1
        snapshot.meta["targets.json"] = MetaFile(targets.version)
        self.snapshot.sign(keys["snapshot"])
        self.files[f"{snapshot.version}.snapshot.json"] = self.snapshot.to_bytes()
        self.publish_timestamp(sign_with=keys["timestamp"], bump=bump and "timestamp.json" in self.files)

    def publish_timestamp(self, *, sign_with: Signer | None = None, bump: bool = True) -> bytes:
        timestamp = self.timestamp.signed
        if bump:
            timestamp.version += 1
        timestamp.snapshot_meta = MetaFile(self.snapshot.signed.version)
        self.timestamp.sign(sign_with or self.signers["timestamp"])
        data = self.timestamp.to_bytes()
        self.files["timestamp.json"] = data
        return data

    def rotate_root(self, role: str, *, old_signs: bool = True, new_signs: bool = True) -> None:
        """Root version +1 with a new key for `role`; signed by the new root key and by the
        previous one (what the TUF spec asks of a rotation), less what the flags leave out."""
        old = self.signers["root"]
        new = CryptoSigner.generate_ed25519()
        root = self.root.signed
        for keyid in list(root.roles[role].keyids):
            root.revoke_key(keyid, role)
        root.add_key(new.public_key, role)
        root.version += 1
        self.signers[role] = new
        if role != "root":
            self.publish_root(signers=[old])
            return
        self.publish_root(signers=[s for s, keep in ((new, new_signs), (old, old_signs)) if keep])

    @property
    def initial_root(self) -> bytes:
        return self.roots[0]

    # -- serving ------------------------------------------------------------------------

    @contextlib.contextmanager
    def served(self) -> Iterator[str]:
        """Serve `files` (as they are at each request) on loopback; yields the base URL."""
        repo = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                data = repo.files.get(self.path.lstrip("/"))
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        with serve(BoundedServer(Handler, max_threads=8)) as server:
            yield f"http://127.0.0.1:{server.port}"


_KEYLESS_TUF_POLICY = """\
apiVersion: slsacheck.dev/v1alpha1
kind: ImagePolicy
metadata: {{name: tuf-keyless}}
spec:
  images: {{include: ["{include}"]}}
  authorities:
    - name: ci
      keyless:
        tuf: {{mirror: "{mirror}", root: root.json}}
        identities: [{{issuer: "{issuer}", subject: "{subject}"}}]
  signatures: {{authorities: [ci]}}
"""


def keyless_tuf_policy(include: str, mirror: str, issuer: str, subject: str) -> str:
    """A policy whose one keyless authority takes its trust root from the TUF `mirror`
    (initial root `root.json` beside the policy)."""
    return _KEYLESS_TUF_POLICY.format(include=include, mirror=mirror, issuer=issuer, subject=subject)

