"""Benchmark: the admission webhook (`slsacheck serve`) on loopback, warm and cold.

1. Starts Debian's docker-registry on loopback with TLS, pushes `FROM scratch` images and
   signs + attests them with a fresh P-256 key (cosign's legacy .sig/.att formats), and
   starts `slsacheck serve` as its own process (HTTPS, the policy demanding both).
2. **Warm path.** Pod reviews with 3 images, all verdicts cached, sent by `--clients`
   asyncio clients on kept-alive TLS connections. Prints req/s and p50/p90/p99, and the
   ratio of the median review to the median `GET /healthz` on the same connections (the
   floor: TLS, HTTP and the server loop, no review).
3. **Cold path.** For each of `--cold` images never seen before, one Pod review (one
   image) on a kept-alive connection: tag resolution, every registry request the gate
   makes, signature and attestation verification, policy evaluation, JSON in and out.
   The floor for the same image: exactly the registry requests the gate made for it
   (recorded from an in-process gate run, then replayed on a bare `requests.Session`),
   plus the two ECDSA verifications (the .sig payload, the .att DSSE PAE), nothing else.
   Prints the medians and the cold-path ratio webhook / floor. Goal: <= 3x.
4. **Under a black-hole flood.** A second server with the issue's numbers (`--workers 2
   --budget-seconds 2`); one user sends waves of dry-run Pods naming images on a host that
   accepts connections and never answers (3 images each, `--flood` reviews in flight),
   and meanwhile another user's review of a first-seen signed image is timed, `--cold`
   times. Prints how many were admitted and their median time, against the cold path
   without a flood. Goal: every one admitted, within the budget.

Run: `.venv/bin/python bench/bench_admission.py [--requests 3000] [--clients 32] [--cold 15] [--flood 40]`.
The warm path also prints the server's CPU per review (from /proc) and whether uvicorn runs
on uvloop and httptools. Exit status 1 when a goal is missed: cold ratio <= 3x, warm
review / round trip <= 1.5x, warm p99 <= 2x p50, every signed image under the flood
admitted. Nothing here asserts wall-clock time in tests; this is a measurement for people.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from slsacheck.models.reference import ImageRef  # noqa: E402
from slsacheck.oci.registry import MANIFEST_ACCEPT  # noqa: E402
from slsacheck.policy.load import load_policies  # noqa: E402
from slsacheck.verify.gate import verify_image  # noqa: E402
from tests.admission.support import AsyncClient, Images, TestImage, pod_review, write_policy  # noqa: E402
from tests.support.certs import issue, make_ca  # noqa: E402
from tests.support.registry import RunningRegistry, free_port, start_registry  # noqa: E402
from tests.support.servers import BlackHole, black_hole  # noqa: E402

COLD_GOAL = 3.0
WARM_GOAL = 1.5  # a cached review against a bare round trip on the same connection
TAIL_GOAL = 2.0  # p99 against p50 of cached reviews
FLOOD_BUDGET = 2.0


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def start_server(policy: Path, registry: RunningRegistry, cert: Path, key: Path, log: Path,
                 *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    handle = log.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "slsacheck", "serve", "--host", "127.0.0.1", "--port", str(port), "--policy",
         str(policy), "--tls-cert", str(cert), "--tls-key", str(key), "--ca-bundle", str(registry.ca_path),
         *extra], cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"https://127.0.0.1:{port}/readyz", verify=str(cert.parent / "ca.crt"), timeout=2).ok:
                return process, port
        except requests.RequestException:
            time.sleep(0.1)
    process.terminate()
    raise SystemExit(f"slsacheck serve did not start:\n{log.read_text()[-2000:]}")


def process_cpu(pid: int) -> float:
    """User + system CPU seconds the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def warm(port: int, ca: Path, images: list[TestImage], total: int, clients: int, *, pid: int) -> dict[str, float]:
    body = json.dumps(pod_review([i.text for i in images])).encode()
    conns = [AsyncClient("127.0.0.1", port, ca) for _ in range(clients)]
    for c in conns:  # connect, and fill the caches once
        status, reply = await c.post("/validate", body)
        assert status == 200 and json.loads(reply)["response"]["allowed"], reply

    async def health(c: AsyncClient, n: int) -> list[float]:
        out = []
        for _ in range(n):
            start = time.perf_counter()
            status, _ = await c.post("/healthz", b"")  # 405 from the router: the floor of a round trip
            out.append(time.perf_counter() - start)
            assert status in (200, 405)
        return out

    async def worker(c: AsyncClient, n: int, out: list[float]) -> None:
        for _ in range(n):
            start = time.perf_counter()
            status, reply = await c.post("/validate", body)
            out.append(time.perf_counter() - start)
            if status != 200 or b'"allowed":true' not in reply:
                raise SystemExit(f"unexpected answer: {status} {reply[:300]!r}")

    floor_runs = await asyncio.gather(*(health(c, max(1, total // clients // 4)) for c in conns))
    latencies: list[float] = []
    cpu_before = process_cpu(pid)
    start = time.perf_counter()
    await asyncio.gather(*(worker(c, total // clients, latencies) for c in conns))
    elapsed = time.perf_counter() - start
    cpu = process_cpu(pid) - cpu_before
    for c in conns:
        await c.close()
    floor = [x for run in floor_runs for x in run]
    return {"rps": len(latencies) / elapsed, "p50": pct(latencies, 50), "p90": pct(latencies, 90),
            "p99": pct(latencies, 99), "max": max(latencies), "floor_p50": pct(floor, 50), "n": len(latencies),
            "cpu_per_review": cpu / len(latencies)}


def record_requests(ref: ImageRef, policy: Path, registry: RunningRegistry) -> tuple[list[tuple[str, str]], float]:
    """The (method, url) of every registry request the gate makes for `ref`, and the gate's time."""
    seen: list[tuple[str, str]] = []
    original = requests.Session.send

    def send(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        seen.append((str(request.method), str(request.url)))
        return original(self, request, **kwargs)

    policies = load_policies([policy])
    requests.Session.send = send  # type: ignore[method-assign]
    try:
        start = time.perf_counter()
        verdict = verify_image(ref, policies, options=registry.options)
        elapsed = time.perf_counter() - start
    finally:
        requests.Session.send = original  # type: ignore[method-assign]
    assert verdict.passed, verdict.to_json()
    return seen, elapsed


def floor_replay(calls: list[tuple[str, str]], session: requests.Session, public_pem: bytes) -> float:
    """Replay the requests, then verify the .sig and .att signatures: the least any verifier must do."""
    key = serialization.load_pem_public_key(public_pem)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    start = time.perf_counter()
    bodies: dict[str, bytes] = {}
    for method, url in calls:
        reply = session.request(method, url, headers={"Accept": MANIFEST_ACCEPT}, timeout=30)
        bodies[url] = reply.content
    sig_manifest = next(json.loads(b) for u, b in bodies.items() if u.endswith(".sig"))
    att_manifest = next(json.loads(b) for u, b in bodies.items() if u.endswith(".att"))
    sig_layer = sig_manifest["layers"][0]
    payload = next(b for u, b in bodies.items() if u.endswith(sig_layer["digest"]))
    signature = base64.b64decode(sig_layer["annotations"]["dev.cosignproject.cosign/signature"])
    key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
    envelope = json.loads(next(b for u, b in bodies.items() if u.endswith(att_manifest["layers"][0]["digest"])))
    body = base64.b64decode(envelope["payload"])
    ptype = envelope["payloadType"].encode()
    pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(body), body)
    key.verify(base64.b64decode(envelope["signatures"][0]["sig"]), pae, ec.ECDSA(hashes.SHA256()))
    return time.perf_counter() - start


async def cold(port: int, ca: Path, images: list[TestImage]) -> list[float]:
    client = AsyncClient("127.0.0.1", port, ca)
    await client.post("/healthz", b"")  # connect first: the TLS handshake is not the review
    out = []
    for image in images:
        body = json.dumps(pod_review([image.text])).encode()
        start = time.perf_counter()
        status, reply = await client.post("/validate", body)
        out.append(time.perf_counter() - start)
        assert status == 200 and json.loads(reply)["response"]["allowed"], reply
    await client.close()
    return out


async def under_flood(port: int, ca: Path, hole: BlackHole, images: list[TestImage], size: int
                      ) -> tuple[list[float], int, int]:
    """(latencies of the signed images' reviews, how many were admitted, flood reviews answered)."""
    stop = asyncio.Event()
    answered = 0

    async def one(doc: dict[str, Any]) -> None:
        nonlocal answered
        client = AsyncClient("127.0.0.1", port, ca)
        try:
            status, reply = await client.post("/validate", json.dumps(doc).encode())
        finally:
            await client.close()
        if status != 200 or json.loads(reply)["response"]["allowed"]:
            raise SystemExit(f"a black-hole review was not denied: {status} {reply[:300]!r}")
        answered += 1

    async def waves() -> None:
        wave = 0
        while not stop.is_set():
            docs = [pod_review([f"{hole.host}/adm/flood/w{wave}-{i}-{j}:v1" for j in range(3)], dry_run=True,
                               username="flood") for i in range(size)]
            await asyncio.gather(*(one(d) for d in docs))
            wave += 1

    flood = asyncio.ensure_future(waves())
    while not hole.accepted:
        await asyncio.sleep(0.01)
    client = AsyncClient("127.0.0.1", port, ca)
    await client.post("/healthz", b"")
    latencies, admitted = [], 0
    for image in images:
        body = json.dumps(pod_review([image.text], username="deployer")).encode()
        start = time.perf_counter()
        status, reply = await client.post("/validate", body)
        latencies.append(time.perf_counter() - start)
        admitted += status == 200 and json.loads(reply)["response"]["allowed"] is True
        await asyncio.sleep(0.2)  # spread over the flood's waves
    await client.close()
    stop.set()
    await flood
    return latencies, admitted, answered


def metric(port: int, ca: Path, name: str) -> float:
    text = requests.get(f"https://127.0.0.1:{port}/metrics", verify=str(ca), timeout=10).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--cold", type=int, default=15)
    parser.add_argument("--flood", type=int, default=40)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, start_registry(Path(tmp) / "registry", "tls") as registry:
        work = Path(tmp)
        ca = make_ca(work / "certs")
        serving = issue(ca, work / "certs", "webhook")
        images = Images(registry, work)
        policy = write_policy(work, registry)
        public_pem = (work / "release.pub").read_bytes()
        warm_images = [images.signed(f"warm{i}") for i in range(3)]
        cold_images = [images.signed(f"cold{i}") for i in range(args.cold)]
        flood_images = [images.signed(f"flood{i}") for i in range(args.cold)]
        process, port = start_server(policy, registry, serving.cert_path, serving.key_path, work / "serve.log")
        try:
            w = asyncio.run(warm(port, ca.cert_path, warm_images, args.requests, args.clients, pid=process.pid))
            c = asyncio.run(cold(port, ca.cert_path, cold_images))
            verifications = metric(port, ca.cert_path, "slsacheck_admission_verifications_total")
        finally:
            process.terminate()
            process.wait(timeout=10)
        with black_hole() as hole:
            hole_policy = write_policy(work, _Host(hole.host), file="hole.yaml", name="black-hole")  # type: ignore[arg-type]
            process, port = start_server(policy, registry, serving.cert_path, serving.key_path, work / "flood.log",
                                         "--policy", str(hole_policy), "--workers", "2", "--budget-seconds",
                                         str(FLOOD_BUDGET), "--ready-registry", "none")
            try:
                f, admitted, flooded = asyncio.run(under_flood(port, ca.cert_path, hole, flood_images, args.flood))
                marks = metric(port, ca.cert_path, "slsacheck_admission_registry_unresponsive_total")
            finally:
                process.terminate()
                process.wait(timeout=10)
        session = requests.Session()
        session.trust_env = False
        session.verify = str(registry.ca_path)
        gate, floor, counts = [], [], []
        for image in cold_images:
            calls, gate_time = record_requests(ImageRef.parse(image.text), policy, registry)
            counts.append(len(calls))
            gate.append(gate_time)
            floor.append(min(floor_replay(calls, session, public_pem) for _ in range(3)))
    ms = 1000.0
    print(f"admission webhook (slsacheck serve, HTTPS, loopback, {args.clients} clients, kept-alive connections)")
    print(f"  warm, Pod with 3 images, verdicts cached: {w['n']:.0f} reviews, {w['rps']:.0f} req/s; "
          f"p50 {w['p50'] * ms:.1f} ms, p90 {w['p90'] * ms:.1f} ms, p99 {w['p99'] * ms:.1f} ms, "
          f"max {w['max'] * ms:.1f} ms")
    print(f"  warm floor (round trip on the same connections, no review): p50 {w['floor_p50'] * ms:.1f} ms; "
          f"review/floor {w['p50'] / w['floor_p50']:.2f}x (goal <= {WARM_GOAL:.1f}x); "
          f"p99/p50 {w['p99'] / w['p50']:.2f}x (goal <= {TAIL_GOAL:.1f}x)")
    print(f"  server CPU per warm review (TLS, HTTP, ASGI, review, logs, metrics): {w['cpu_per_review'] * 1e6:.0f} us; "
          f"event loop {'uvloop' if _installed('uvloop') else 'asyncio'}, "
          f"HTTP parser {'httptools' if _installed('httptools') else 'h11'}")
    print(f"  cold, first-seen signed image ({args.cold} images, {statistics.median(counts):.0f} registry "
          f"requests each): webhook p50 {statistics.median(c) * ms:.1f} ms (max {max(c) * ms:.1f} ms)")
    print(f"  cold floor (the same registry requests on a bare session + 2 ECDSA verifications): "
          f"p50 {statistics.median(floor) * ms:.1f} ms; in-process gate p50 {statistics.median(gate) * ms:.1f} ms")
    ratio = statistics.median(c) / statistics.median(floor)
    print(f"  cold-path ratio webhook / floor: {ratio:.2f}x (goal <= {COLD_GOAL:.1f}x)")
    print(f"  verifications run by the server: {verifications:.0f} (expected {3 + args.cold}: one per digest)")
    print(f"  under a black-hole flood (2 workers, budget {FLOOD_BUDGET:g} s, {args.flood} dry-run reviews of 3 "
          f"black-hole images in flight, {flooded} answered, host marked {marks:.0f} times): first-seen signed "
          f"image admitted {admitted}/{len(f)}, p50 {statistics.median(f) * ms:.1f} ms (max {max(f) * ms:.1f} ms); "
          f"vs cold without a flood {statistics.median(f) / statistics.median(c):.2f}x")
    warm_ok = w["p50"] / w["floor_p50"] <= WARM_GOAL and w["p99"] / w["p50"] <= TAIL_GOAL
    ok = ratio <= COLD_GOAL and verifications == 3 + args.cold and admitted == len(f) and warm_ok
    return 0 if ok else 1


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


class _Host:
    def __init__(self, host: str) -> None:
        self.host = host


if __name__ == "__main__":
    raise SystemExit(main())
