"""Verify one Sigstore bundle offline: `slsacheck verify-bundle` against
`python -m sigstore verify identity --offline` (sigstore-python) and, when node and the npm
peers are installed, `@sigstore/verify` (tests/peers/verify_bundle.js), as whole processes.

They run with the same bundle, artifact, identity and trusted root, alternating, and the
medians are compared; the Python processes read compiled bytecode, as from an installed
wheel. Goals: slsacheck <= 60 ms and <= 0.5x `@sigstore/verify`; exit status 1 when missed.
The bundle is the sigstore-conformance `happy-path-v0.3` case, read from the shared
reference data (`SLSACHECK_SHARED`, default `../shared`); nothing is copied. Every command
must verify it, or the run fails.

    .venv/bin/python bench/bench_bundle_verify.py [--runs 9]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / "tests" / "peers"
GOAL_MS = 60.0
GOAL_NODE = 0.5
IDENTITY = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
    ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
ISSUER = "https://token.actions.githubusercontent.com"


def _service(url: str, valid_for: dict[str, str]) -> dict[str, object]:
    return {"url": url, "majorApiVersion": 1, "operator": "", "validFor": valid_for}


def _trust_config(trusted_root: Path, out: Path) -> Path:
    """sigstore-python takes a ClientTrustConfig; its signing part is unused when verifying."""
    never = {"start": "1970-01-01T00:00:00Z"}
    config = {
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": json.loads(trusted_root.read_text()),
        "signingConfig": {
            "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "caUrls": [_service("https://fulcio.invalid", never)],
            "oidcUrls": [],
            "rekorTlogUrls": [_service("https://rekor.invalid", never)],
            "tsaUrls": [],
            "rekorTlogConfig": {"selector": "ANY"},
            "tsaConfig": {"selector": "ANY"},
        },
    }
    out.write_text(json.dumps(config))
    return out


def _time(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"did not verify: {' '.join(cmd)}\n{done.stdout}{done.stderr}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    shared = Path(os.environ.get("SLSACHECK_SHARED", ROOT.parent / "shared"))
    assets = shared / "conformance" / "test" / "assets" / "bundle-verify"
    case = assets / "happy-path-v0.3"
    trusted_root = shared / "conformance" / "_offline_extras" / "production_trusted_root.json"
    if not case.is_dir() or not trusted_root.is_file():
        sys.exit(f"conformance data not found under {shared} (set SLSACHECK_SHARED)")
    bundle, artifact = case / "bundle.sigstore.json", assets / "a.txt"
    bindir = Path(sys.executable).parent
    node = shutil.which("node")
    has_node = node is not None and (PEERS / "node_modules" / "@sigstore" / "verify").is_dir()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPYCACHEPREFIX": str(Path(tmp) / "pycache")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        trust_config = _trust_config(trusted_root, Path(tmp) / "trust_config.json")
        ours = [str(bindir / "slsacheck"), "verify-bundle", "--bundle", str(bundle),
                "--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER,
                "--trusted-root", str(trusted_root), str(artifact)]
        peer = [sys.executable, "-m", "sigstore", "--trust-config", str(trust_config), "verify", "identity",
                "--offline", "--bundle", str(bundle), "--cert-identity", IDENTITY, "--cert-oidc-issuer", ISSUER,
                str(artifact)]
        js = [str(node), str(PEERS / "verify_bundle.js"), "--bundle", str(bundle), "--trusted-root",
              str(trusted_root), "--identity", IDENTITY, "--issuer", ISSUER, "--artifact", str(artifact)]
        _time(ours, env), _time(peer, env)  # warm the file and bytecode caches
        if has_node:
            _time(js)
        ours_t, peer_t, js_t = [], [], []
        for _ in range(args.runs):
            ours_t.append(_time(ours, env))
            peer_t.append(_time(peer, env))
            if has_node:
                js_t.append(_time(js))
    a, b = statistics.median(ours_t), statistics.median(peer_t)
    print(f"slsacheck verify-bundle          median {a * 1000:7.1f} ms over {args.runs} runs (goal <= {GOAL_MS:g} ms)")
    print(f"python -m sigstore verify        median {b * 1000:7.1f} ms over {args.runs} runs")
    print(f"ratio slsacheck / sigstore-python: {a / b:.2f}x")
    missed = a * 1000 > GOAL_MS
    if js_t:
        c = statistics.median(js_t)
        print(f"node @sigstore/verify            median {c * 1000:7.1f} ms over {args.runs} runs")
        print(f"ratio slsacheck / @sigstore/verify: {a / c:.2f}x (goal <= {GOAL_NODE}x)")
        missed |= a / c > GOAL_NODE
    else:
        print("@sigstore/verify not measured: node or tests/peers/node_modules missing")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
