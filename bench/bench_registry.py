"""Benchmark: RegistryStore against the floor of bare HTTP, and CLI start-up against Python's.

1. Starts Debian's docker-registry on loopback (plain HTTP), seeds 200 small images (config,
   layer, manifest, tag) by pushing them directly.
2. For every image: resolve the tag, fetch the manifest by digest, fetch the config blob:
   through `RegistryStore` (digest checks, caps, parsing included), and as the same three
   requests on a bare `requests.Session` (`trust_env=False`, so the floor does no more work
   than it must). Rounds alternate; the best round of each counts. Goal: ratio <= 1.3.
3. `slsacheck --help` as a whole process against `python -c pass`, same interpreter; median
   of the runs. Goal: ratio <= 5.

Run: `.venv/bin/python bench/bench_registry.py [--images N] [--rounds R]`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from slsacheck.models import mediatypes as mt  # noqa: E402
from slsacheck.oci import RegistryClient, RegistryStore  # noqa: E402
from slsacheck.oci.registry import MANIFEST_ACCEPT  # noqa: E402
from tests.support.registry import PushedImage, push_small_image, start_registry  # noqa: E402


def seed(store: RegistryStore, count: int) -> list[PushedImage]:
    return [push_small_image(store, f"img{i:04d}", seed=str(i)) for i in range(count)]


def run_store(store: RegistryStore, images: list[PushedImage]) -> float:
    start = time.perf_counter()
    for image in images:
        assert image.ref.tag is not None
        desc = store.resolve(image.ref.tag)
        manifest = store.fetch_manifest(str(desc.digest))
        config = manifest.config
        assert config is not None
        store.fetch_blob(config)
    return time.perf_counter() - start


def run_floor(session: requests.Session, base: str, repo: str, images: list[PushedImage]) -> float:
    start = time.perf_counter()
    for image in images:
        head = session.head(f"{base}/v2/{repo}/manifests/{image.ref.tag}", headers={"Accept": MANIFEST_ACCEPT},
                            timeout=30)
        digest = head.headers["Docker-Content-Digest"]
        body = session.get(f"{base}/v2/{repo}/manifests/{digest}", headers={"Accept": MANIFEST_ACCEPT},
                           timeout=30).content
        assert body == image.manifest_bytes
        session.get(f"{base}/v2/{repo}/blobs/{image.config.digest}", timeout=30).content  # noqa: B018
    return time.perf_counter() - start


def bench_registry(count: int, rounds: int) -> float:
    with tempfile.TemporaryDirectory() as tmp, start_registry(Path(tmp), "http") as registry:
        repo = "bench/app"
        images = seed(registry.store(repo), count)
        store = RegistryStore(RegistryClient(registry.host, registry.options), repo)
        session = requests.Session()
        session.trust_env = False
        run_store(store, images[:5])  # warm: ping, connection
        run_floor(session, registry.url, repo, images[:5])
        ours, floor = [], []
        for _ in range(rounds):
            floor.append(run_floor(session, registry.url, repo, images))
            ours.append(run_store(store, images))
    ratio = min(ours) / min(floor)
    print(f"registry: {count} images x (resolve + manifest + config blob), best of {rounds} rounds")
    print(f"  bare requests.Session (floor): {min(floor) * 1000:8.1f} ms  ({min(floor) / count * 1000:.2f} ms/image)")
    print(f"  RegistryStore:                 {min(ours) * 1000:8.1f} ms  ({min(ours) / count * 1000:.2f} ms/image)")
    print(f"  ratio: {ratio:.2f}x (goal <= 1.3x)")
    return ratio


def _time_process(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_cli(runs: int) -> float:
    python = sys.executable
    script = Path(python).parent / "slsacheck"
    command = [str(script), "--help"] if script.exists() else [python, "-m", "slsacheck", "--help"]
    _time_process(command, 2)  # warm the page cache and bytecode
    base = _time_process([python, "-c", "pass"], runs)
    cli = _time_process(command, runs)
    ratio = cli / base
    print(f"start-up: median of {runs} runs")
    print(f"  python -c pass:       {base * 1000:7.1f} ms")
    print(f"  slsacheck --help:     {cli * 1000:7.1f} ms")
    print(f"  ratio: {ratio:.2f}x (goal <= 5x)")
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cli-runs", type=int, default=15)
    args = parser.parse_args()
    assert mt.OCI_MANIFEST  # the store is what is measured; formats come from slsacheck
    registry_ratio = bench_registry(args.images, args.rounds)
    cli_ratio = bench_cli(args.cli_runs)
    return 0 if registry_ratio <= 1.3 and cli_ratio <= 5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
