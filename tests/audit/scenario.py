"""The ~50-image audit scenario: a registry (behind a misbehaving proxy) with images in every state.

`build(...)` pushes the images and returns `Expected`: for each image reference the audit
should list (through the proxy), its outcome, its failing check ids and its SLSA level.

| group | how made | outcome | fails | SLSA |
|---|---|---|---|---|
| good (15; 2 bundle-format) + tags latest, stable = good-0 | signed, release-key provenance | pass | - | 3 |
| signed-only (8) | signed | fail | provenance present | 0 |
| unsigned (8) | nothing | fail | signature threshold, provenance present | 0 |
| untrusted (5) | signed; provenance by another key | fail | provenance present | 1 |
| wrong-builder (5) | signed, provenance by release key, other builder | fail | provenance.builderIds | 2 |
| malformed (2) | signed; `.att` layer is not JSON | fail | provenance present | 0 |
| tampered (1) | the proxy flips a byte of its manifest | error | - | - |
| other repository (1) | no policy matches it | fail | policy.match | 0 |
| broken repository | the proxy answers 500 to everything in it: its listing and 2 images | error | - | - |
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slsacheck.cli import main
from slsacheck.models.reference import ImageRef
from tests.audit import population as pop
from tests.support.proxy import Proxy, Seen
from tests.support.registry import RunningRegistry

PRESENT = "attestations.provenance.present"


@dataclass(frozen=True)
class Want:
    outcome: str
    fails: frozenset[str] = frozenset()
    level: int | None = None
    same_as: str | None = None


@dataclass
class Expected:
    base: str
    policy: Path
    app: str  # proxy-host/base/app
    broken: str
    images: dict[str, Want] = field(default_factory=dict)  # every record the audit should write
    explicit: list[str] = field(default_factory=list)  # references given on the command line

    def count(self, outcome: str) -> int:
        return sum(1 for w in self.images.values() if w.outcome == outcome)


@dataclass
class Audit:
    """One finished audit: what was expected, the proxy it went through, exit code, report dir."""

    expected: Expected
    proxy: Proxy
    code: int
    out: Path
    err: str
    seen: list[Seen]  # the requests this audit sent through the proxy

    def count(self, method: str, path: str) -> int:
        return sum(1 for s in self.seen if s.method == method and path in s.path)

    def report(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((self.out / "audit.json").read_text())
        return doc

    def records(self) -> dict[str, dict[str, Any]]:
        return {r["image"]: r for r in self.report()["images"]}


def build(registry: RunningRegistry, proxy: Proxy, workdir: Path, base: str) -> Expected:
    keys = pop.make_keys(workdir)
    front = proxy.host
    store = registry.store(f"{base}/app")
    app = f"{front}/{base}/app"
    expected = Expected(base, pop.policy_file(workdir, f"{front}/{base}/app"), app, f"{front}/{base}/broken")
    images = expected.images

    def add(tag: str, seed: str) -> tuple[ImageRef, object]:
        built = pop.push_image(store, tag, seed)
        return ImageRef.parse(f"{registry.host}/{base}/app:{tag}"), built

    good = pop.provenance()
    for i in range(15):
        ref, _ = add(f"good-{i}", f"good-{i}")
        fmt = "bundle" if i < 2 else "legacy"
        pop.sign(store, ref, keys.release, fmt)
        pop.attest(store, ref, keys.release, good, fmt)
        images[f"{app}:good-{i}"] = Want("pass", level=3)
    for alias in ("latest", "stable"):
        # Scratch images are deterministic: the same files are the same digest as good-0.
        pop.push_image(store, alias, "good-0")
        images[f"{app}:{alias}"] = Want("pass", level=3, same_as="*")
    for i in range(8):
        ref, _ = add(f"signed-only-{i}", f"signed-only-{i}")
        pop.sign(store, ref, keys.release)
        images[f"{app}:signed-only-{i}"] = Want("fail", frozenset({PRESENT}), 0)
    for i in range(8):
        add(f"unsigned-{i}", f"unsigned-{i}")
        images[f"{app}:unsigned-{i}"] = Want("fail", frozenset({"signatures.threshold", PRESENT}), 0)
    for i in range(5):
        ref, _ = add(f"untrusted-{i}", f"untrusted-{i}")
        pop.sign(store, ref, keys.release)
        pop.attest(store, ref, keys.other, good)
        images[f"{app}:untrusted-{i}"] = Want("fail", frozenset({PRESENT}), 1)
    wrong = pop.provenance(pop.WRONG_BUILDER)
    for i in range(5):
        ref, _ = add(f"wrong-builder-{i}", f"wrong-builder-{i}")
        pop.sign(store, ref, keys.release)
        pop.attest(store, ref, keys.release, wrong)
        images[f"{app}:wrong-builder-{i}"] = Want("fail", frozenset({"provenance.builderIds"}), 2)
    for i in range(2):
        ref, built = add(f"malformed-{i}", f"malformed-{i}")
        pop.sign(store, ref, keys.release)
        pop.malformed_attestation(store, built)  # type: ignore[arg-type]
        images[f"{app}:malformed-{i}"] = Want("fail", frozenset({PRESENT}), 0)
    add("tampered", "tampered")
    proxy.tamper(f"/v2/{base}/app/manifests/tampered", method="GET")
    images[f"{app}:tampered"] = Want("error")

    other = registry.store(f"{base}/other")
    pop.push_image(other, "v1", "other")
    images[f"{front}/{base}/other:v1"] = Want("fail", frozenset({"policy.match"}), 0)
    expected.explicit.append(f"{front}/{base}/other:v1")

    broken = registry.store(f"{base}/broken")
    for tag in ("v1", "v2"):
        pop.push_image(broken, tag, f"broken-{tag}")
        images[f"{expected.broken}:{tag}"] = Want("error")
        expected.explicit.append(f"{expected.broken}:{tag}")
    images[expected.broken] = Want("error")  # its tag listing
    proxy.fail(f"/v2/{base}/broken/", 500, times=None)
    return expected


def run_cli(*argv: str, stdin: str | None = None) -> tuple[int, str, str]:
    """Run the CLI in this process: (exit code, stdout, stderr); `stdin` replaces sys.stdin."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        if stdin is not None:
            old, sys.stdin = sys.stdin, io.StringIO(stdin)
        try:
            code = main(list(argv))
        finally:
            if stdin is not None:
                sys.stdin = old
    return code, out.getvalue(), err.getvalue()
