"""Verify one Sigstore bundle offline: `slsacheck verify-bundle` against
`python -m sigstore verify identity --offline` (sigstore-python) and, when node and the npm
peers are installed, `@sigstore/verify` (tests/peers/verify_bundle.js), as whole processes.

They run with the same bundle, artifact, identity and trusted root, alternating, and the
medians are compared; the Python processes read compiled bytecode, as from an installed
wheel, and slsacheck is this checkout's (`PYTHONPATH`). Goals: slsacheck <= 60 ms and <= 0.5x
`@sigstore/verify`; exit status 1 when missed. CPU time (user + sys) of each process is printed
too, the reading that holds on a shared machine.
The bundle is the sigstore-conformance `happy-path-v0.3` case, read from the shared
reference data (`SLSACHECK_SHARED`, default `../shared`); nothing is copied. Every command
must verify it, or the run fails.

    .venv/bin/python bench/bench_bundle_verify.py [--runs 9]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(cmd: list[str], env: dict[str, str] | None = None, cpu: list[float] | None = None) -> float:
    """Wall time of one process; its CPU time (user + sys) appended to `cpu`."""
    before = _cpu()
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    elapsed = time.perf_counter() - start
    if cpu is not None:
        cpu.append(_cpu() - before)
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
        env = {**os.environ, "PYTHONPYCACHEPREFIX": str(Path(tmp) / "pycache"), "PYTHONPATH": str(ROOT)}
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
        ours_t: list[float] = []
        peer_t: list[float] = []
        js_t: list[float] = []
        ours_cpu: list[float] = []
        peer_cpu: list[float] = []
        js_cpu: list[float] = []
        for _ in range(args.runs):
            ours_t.append(_time(ours, env, ours_cpu))
            peer_t.append(_time(peer, env, peer_cpu))
            if has_node:
                js_t.append(_time(js, cpu=js_cpu))
    a, b = statistics.median(ours_t), statistics.median(peer_t)
    a_cpu = statistics.median(ours_cpu)
    print(f"slsacheck verify-bundle          median {a * 1000:7.1f} ms (CPU {a_cpu * 1000:6.1f} ms) over {args.runs} "
          f"runs (goal <= {GOAL_MS:g} ms)")
    b_cpu = statistics.median(peer_cpu)
    print(f"python -m sigstore verify        median {b * 1000:7.1f} ms (CPU {b_cpu * 1000:6.1f} ms)")
    print(f"ratio slsacheck / sigstore-python: {a / b:.2f}x")
    missed = a * 1000 > GOAL_MS
    if js_t:
        c, c_cpu = statistics.median(js_t), statistics.median(js_cpu)
        print(f"node @sigstore/verify            median {c * 1000:7.1f} ms (CPU {c_cpu * 1000:6.1f} ms)")
        print(f"ratio slsacheck / @sigstore/verify: {a / c:.2f}x wall (goal <= {GOAL_NODE}x), {a_cpu / c_cpu:.2f}x CPU")
        missed |= a / c > GOAL_NODE
    else:
        print("@sigstore/verify not measured: node or tests/peers/node_modules missing")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
