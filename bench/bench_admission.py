"""Benchmark: the admission webhook (`slsacheck serve`) on loopback, warm and cold.

1. Starts Debian's docker-registry on loopback with TLS, pushes `FROM scratch` images and
   signs + attests them with a fresh P-256 key (cosign's legacy .sig/.att formats), and
   starts `slsacheck serve` as its own process (HTTPS, the policy demanding both).
2. **Warm path.** Pod reviews with 3 images, all verdicts cached, sent by `--clients`
   asyncio clients on kept-alive TLS connections. Prints req/s and p50/p90/p99, and the
   ratio of the median review to the median `POST /healthz` (405) on the same connections
   (the floor: TLS, HTTP and the server loop, no review), with the server's and the
   clients' CPU per request of each. Before it, **in process**: the CPU of the same cached
   review and of the 405 through the ASGI app called directly (no TLS, no HTTP, no other
   process), a reading of the review's own work that the machine's load barely moves.
3. **Cold path.** For each of `--cold` images never seen before, one Pod review (one
   image) on a kept-alive connection: tag resolution, every registry request the gate
   makes, signature and attestation verification, policy evaluation, JSON in and out.
   The floor for the same image: exactly the registry requests the gate made for it
   (recorded from an in-process gate run, then replayed on a bare `requests.Session`),
   plus the two ECDSA verifications (the .sig payload, the .att DSSE PAE), nothing else.
   Each image's floor and gate run right after its review (the server idle meanwhile), so
   both sides of a pair see the same load. Prints the medians, the cold-path ratio
   webhook / floor, and the median of the per-image ratios. Goal: <= 1.2x.
4. **Under a black-hole flood.** A second server with the issue's numbers (`--workers 2
   --budget-seconds 2`); one user sends waves of dry-run Pods naming images on a host that
   accepts connections and never answers (3 images each, `--flood` reviews in flight),
   and meanwhile another user's review of a first-seen signed image is timed, `--cold`
   times. Prints how many were admitted and their median time, against the cold path
   without a flood. Goal: every one admitted, within the budget.

5. **Under `wrk`.** Debian's `wrk` (`--connections` kept-alive connections, 2 threads) POSTs
   the warm 3-image review for `--wrk-seconds`, to the webhook and to the floor: a
   do-nothing threaded Python HTTPS server (`http.server`, the same certificate) that
   reads each review and answers a canned allow. The two alternate, `--wrk-rounds` each,
   in the same run; the best round of each counts. Prints req/s, p50/p99 and each server's
   CPU per request (from /proc); goal: the webhook >= 0.8x the floor's req/s. Without
   `wrk` installed the row says so and is not counted as a miss.

Run: `.venv/bin/python bench/bench_admission.py [--requests 3000] [--clients 32] [--cold 15] [--flood 40]
[--wrk-seconds 5] [--wrk-rounds 3] [--only inproc,warm,wrk,cold,flood]`.
The warm path also prints the server's CPU per review (from /proc) and whether uvicorn runs
on uvloop and httptools. Exit status 1 when a goal is missed: cold ratio <= 1.2x, warm
review / round trip <= 1.5x, warm p99 <= 2x p50, the webhook under wrk >= 0.8x the floor,
every signed image under the flood admitted. Nothing here asserts wall-clock time in tests;
this is a measurement for people.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib.util
import json
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from slsacheck.models.reference import ImageRef  # noqa: E402
from slsacheck.oci._transport import Response, Transport  # noqa: E402
from slsacheck.oci.registry import MANIFEST_ACCEPT  # noqa: E402
from slsacheck.policy.load import load_policies  # noqa: E402
from slsacheck.verify.gate import verify_image  # noqa: E402
from tests.admission.support import AsyncClient, Images, TestImage, pod_review, write_policy  # noqa: E402
from tests.support.certs import issue, make_ca  # noqa: E402
from tests.support.registry import RunningRegistry, free_port, start_registry  # noqa: E402
from tests.support.servers import BlackHole, black_hole  # noqa: E402

COLD_GOAL = 1.2  # a first-seen image against its registry requests + crypto
WRK_GOAL = 0.8  # the webhook's req/s under wrk against the do-nothing server's
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

    # CPU per request of the server and of these clients (this process), for the floor and the
    # reviews: both runs are bound by the two cores, so the ratio is about the sums' ratio.
    cpu_before, own_before = process_cpu(pid), time.process_time()
    floor_runs = await asyncio.gather(*(health(c, max(1, total // clients // 4)) for c in conns))
    floor = [x for run in floor_runs for x in run]
    floor_cpu, floor_own = process_cpu(pid) - cpu_before, time.process_time() - own_before
    latencies: list[float] = []
    cpu_before, own_before = process_cpu(pid), time.process_time()
    start = time.perf_counter()
    await asyncio.gather(*(worker(c, total // clients, latencies) for c in conns))
    elapsed = time.perf_counter() - start
    cpu, own = process_cpu(pid) - cpu_before, time.process_time() - own_before
    for c in conns:
        await c.close()
    return {"rps": len(latencies) / elapsed, "p50": pct(latencies, 50), "p90": pct(latencies, 90),
            "p99": pct(latencies, 99), "max": max(latencies), "floor_p50": pct(floor, 50), "n": len(latencies),
            "cpu_per_review": cpu / len(latencies), "client_cpu_per_review": own / len(latencies),
            "cpu_per_floor": floor_cpu / len(floor), "client_cpu_per_floor": floor_own / len(floor)}


def in_process(setup: Setup, images: list[TestImage], total: int) -> dict[str, float]:
    """CPU per cached review and per POST /healthz (the warm floor's 405) through the ASGI app
    in this process, with fake receive/send: no TLS, no HTTP, no other process; the review
    lines go to /dev/null the way `slsacheck serve` writes them."""
    from slsacheck.admission.app import build, create_app  # noqa: PLC0415
    from slsacheck.admission.logs import LOGGER, BatchedLines, ReviewLines  # noqa: PLC0415

    sink = Path(os.devnull).open("w")  # noqa: SIM115 - closed below
    level = LOGGER.level
    LOGGER.setLevel("INFO")
    webhook = build([setup.policy], setup.registry.options, ready_registries=[],
                    review_lines=ReviewLines(BatchedLines(sink)))
    app = create_app(webhook)
    review = json.dumps(pod_review([i.text for i in images])).encode()

    async def call(path: str, body: bytes) -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "path": path, "method": "POST", "headers": [(b"content-length", b"%d" % len(body))]}
        await app(scope, receive, send)
        return sent

    async def timed(path: str, body: bytes, n: int) -> float:
        start = time.process_time()
        for i in range(n):
            await call(path, body)
            if i % 8 == 7:
                await asyncio.sleep(0)  # a loop step now and then: the log lines are written
        return (time.process_time() - start) / n

    async def run() -> dict[str, float]:
        first = await call("/validate", review)  # verified through the registry, then cached
        assert b'"allowed":true' in first[-1]["body"], first
        assert (await call("/healthz", b""))[0]["status"] == 405
        for _ in range(2):  # warm both paths, then keep the better of two rounds each
            await timed("/validate", review, total // 10)
        rounds = [(await timed("/validate", review, total), await timed("/healthz", b"", total)) for _ in range(2)]
        return {"review": min(r for r, _ in rounds), "floor": min(f for _, f in rounds)}

    try:
        return asyncio.run(run())
    finally:
        webhook.judge.close()
        LOGGER.setLevel(level)
        sink.close()


def report_in_process(r: dict[str, float]) -> None:
    print(f"  in process (ASGI call, no TLS/HTTP): CPU per cached review {r['review'] * 1e6:.1f} us, per POST /healthz "
          f"405 {r['floor'] * 1e6:.1f} us; the review's own work {(r['review'] - r['floor']) * 1e6:.1f} us more")


def record_requests(ref: ImageRef, policy: Path, registry: RunningRegistry) -> tuple[list[tuple[str, str]], float]:
    """The (method, url) of every registry request the gate makes for `ref`, and the gate's time."""
    seen: list[tuple[str, str]] = []
    original = Transport.send

    def send(self: Transport, method: str, url: str, **kwargs: Any) -> Response:
        seen.append((method, url))
        return original(self, method, url, **kwargs)

    policies = load_policies([policy])
    Transport.send = send  # type: ignore[method-assign]
    try:
        start = time.perf_counter()
        verdict = verify_image(ref, policies, options=registry.options)
        elapsed = time.perf_counter() - start
    finally:
        Transport.send = original  # type: ignore[method-assign]
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


@dataclass(frozen=True)
class ColdRun:
    """Per first-seen image: the webhook's review, the in-process gate's time, its floor, and
    how many registry requests the gate made."""

    webhook: list[float]
    gate: list[float]
    floor: list[float]
    requests: list[int]


async def cold(port: int, ca: Path, images: list[TestImage], setup: Setup) -> ColdRun:
    """Each image's review, then (the server idle meanwhile) the gate and the floor for the same
    image, so that each pair is measured in the same second of the machine's load: the
    webhook's reviews all first and the floors all after read another job's load as a ratio."""
    client = AsyncClient("127.0.0.1", port, ca)
    await client.post("/healthz", b"")  # connect first: the TLS handshake is not the review
    session = requests.Session()
    session.trust_env = False
    session.verify = str(setup.registry.ca_path)
    run = ColdRun([], [], [], [])
    for image in images:
        body = json.dumps(pod_review([image.text])).encode()
        start = time.perf_counter()
        status, reply = await client.post("/validate", body)
        run.webhook.append(time.perf_counter() - start)
        assert status == 200 and json.loads(reply)["response"]["allowed"], reply
        calls, gate_time = record_requests(ImageRef.parse(image.text), setup.policy, setup.registry)
        run.requests.append(len(calls))
        run.gate.append(gate_time)
        run.floor.append(min(floor_replay(calls, session, setup.public_pem) for _ in range(3)))
    await client.close()
    return run


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


# -- the wrk floor ------------------------------------------------------------------------------

# wrk runs this in each of its threads: POST the review in $SLSACHECK_REVIEW, count every answer
# that is not an HTTP 200 allow, and print one line the bench parses (latencies in microseconds).
WRK_SCRIPT = r"""
local f = assert(io.open(os.getenv("SLSACHECK_REVIEW"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) refused = 0 end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"allowed":true', 1, true) then refused = refused + 1 end
end
function done(summary, latency, requests)
  local refused_total = 0
  for _, t in ipairs(threads) do refused_total = refused_total + t:get("refused") end
  local e = summary.errors
  io.write(string.format("WRK %d %d %d %d %d\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout + refused_total,
    latency:percentile(50), latency:percentile(99)))
end
"""
# The floor's canned answer: an allow in the shape the webhook sends.
CANNED_ALLOW = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                           "response": {"uid": "00000000-0000-0000-0000-000000000000", "allowed": True}},
                          separators=(",", ":")).encode()


class _DoNothing(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # kept-alive connections, as wrk and the API server use
    disable_nagle_algorithm = True  # else the body, written after the head, waits out a delayed ACK (40 ms)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(CANNED_ALLOW)))
        self.end_headers()
        self.wfile.write(CANNED_ALLOW)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the floor writes no access log
        pass


class _FloorServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # wrk cuts its connections mid-answer when a run ends: not worth a traceback


def serve_floor(port: int, cert: str, key: str) -> None:
    """The do-nothing threaded HTTPS server (run in its own process by `start_floor`)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = _FloorServer(("127.0.0.1", port), _DoNothing)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


def start_floor(cert: Path, key: Path, ca: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--serve-floor", f"{port},{cert},{key}"], cwd=ROOT)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            requests.post(f"https://127.0.0.1:{port}/validate", data=b"{}", verify=str(ca), timeout=2)
            return process, port
        except requests.RequestException:
            time.sleep(0.05)
    process.terminate()
    raise SystemExit("the do-nothing HTTPS server did not start")


@dataclass(frozen=True)
class WrkRun:
    rps: float
    p50: float  # seconds
    p99: float
    cpu_per_request: float  # the server process's user + system seconds
    errors: int


def run_wrk(port: int, pid: int, review: Path, script: Path, *, seconds: float, connections: int) -> WrkRun:
    cpu_before = process_cpu(pid)
    done = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(script),
         f"https://127.0.0.1:{port}/validate"],
        env={**os.environ, "SLSACHECK_REVIEW": str(review)}, capture_output=True, text=True, timeout=seconds + 60,
        check=False)
    cpu = process_cpu(pid) - cpu_before
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stderr.strip()[-500:] or done.stdout[-500:]}")
    count, duration_us, errors, p50_us, p99_us = (int(x) for x in line.split()[1:])
    return WrkRun(count / (duration_us / 1e6), p50_us / 1e6, p99_us / 1e6, cpu / max(1, count), errors)


def wrk_rounds(webhook: tuple[int, int], floor: tuple[int, int], work: Path, review: bytes, *, seconds: float,
               rounds: int, connections: int) -> tuple[list[WrkRun], list[WrkRun]]:
    """(webhook runs, floor runs), alternating floor and webhook `rounds` times each."""
    script = work / "review.lua"
    script.write_text(WRK_SCRIPT)
    body = work / "review.json"
    body.write_bytes(review)
    ours: list[WrkRun] = []
    theirs: list[WrkRun] = []
    for _ in range(rounds):
        theirs.append(run_wrk(*floor, body, script, seconds=seconds, connections=connections))
        ours.append(run_wrk(*webhook, body, script, seconds=seconds, connections=connections))
    return ours, theirs


def metric(port: int, ca: Path, name: str) -> float:
    text = requests.get(f"https://127.0.0.1:{port}/metrics", verify=str(ca), timeout=10).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


PARTS = ("inproc", "warm", "wrk", "cold", "flood")


@dataclass(frozen=True)
class Setup:
    work: Path
    registry: RunningRegistry
    policy: Path
    cert: Path  # the webhook's (and the do-nothing server's) certificate and key
    key: Path
    ca: Path
    public_pem: bytes  # the key the images are signed with


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--cold", type=int, default=15)
    parser.add_argument("--flood", type=int, default=40)
    parser.add_argument("--wrk-seconds", type=float, default=5.0)
    parser.add_argument("--wrk-rounds", type=int, default=3)
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts to run, of {','.join(PARTS)}")
    parser.add_argument("--serve-floor", help=argparse.SUPPRESS)  # PORT,CERT,KEY: run the do-nothing server
    args = parser.parse_args(argv)
    if args.serve_floor:
        port, cert, key = args.serve_floor.split(",")
        serve_floor(int(port), cert, key)
        return 0
    parts = {x.strip() for x in args.only.split(",") if x.strip()}
    if parts - set(PARTS):
        parser.error(f"--only: unknown part(s) {', '.join(sorted(parts - set(PARTS)))}; choose from {', '.join(PARTS)}")
    ok = True
    print(f"admission webhook (slsacheck serve, HTTPS, loopback, {args.clients} clients, kept-alive connections; "
          f"event loop {'uvloop' if _installed('uvloop') else 'asyncio'}, "
          f"HTTP parser {'httptools' if _installed('httptools') else 'h11'})")
    with tempfile.TemporaryDirectory() as tmp, start_registry(Path(tmp) / "registry", "tls") as registry:
        work = Path(tmp)
        ca = make_ca(work / "certs")
        serving = issue(ca, work / "certs", "webhook")
        images = Images(registry, work)
        policy = write_policy(work, registry)
        public_pem = (work / "release.pub").read_bytes()
        warm_images = [images.signed(f"warm{i}") for i in range(3)]
        cold_images = [images.signed(f"cold{i}") for i in range(args.cold)] if "cold" in parts else []
        flood_images = [images.signed(f"flood{i}") for i in range(args.cold)] if "flood" in parts else []
        review = json.dumps(pod_review([i.text for i in warm_images])).encode()
        setup = Setup(work, registry, policy, serving.cert_path, serving.key_path, ca.cert_path, public_pem)
        process, port = start_server(policy, registry, serving.cert_path, serving.key_path, work / "serve.log")
        c: ColdRun | None = None
        if "inproc" in parts:
            report_in_process(in_process(setup, warm_images, args.requests * 4))
        try:
            if "warm" in parts:
                w = asyncio.run(warm(port, ca.cert_path, warm_images, args.requests, args.clients, pid=process.pid))
                ok &= report_warm(w, args.clients)
            if "wrk" in parts:
                ok &= bench_wrk(args, setup, (port, process.pid), review)
            if cold_images:
                c = asyncio.run(cold(port, ca.cert_path, cold_images, setup))
                verifications = metric(port, ca.cert_path, "slsacheck_admission_verifications_total")
        finally:
            process.terminate()
            process.wait(timeout=10)
        if c is not None:
            ok &= report_cold(c, verifications=verifications,
                              warm_verifications=3 * ("warm" in parts or "wrk" in parts))
        if flood_images:
            ok &= bench_flood(args, setup, flood_images, c.webhook if c is not None else [])
    return 0 if ok else 1


def report_warm(w: dict[str, float], clients: int) -> bool:
    ms = 1000.0
    print(f"  warm, Pod with 3 images, verdicts cached, {clients} asyncio clients: {w['n']:.0f} reviews, "
          f"{w['rps']:.0f} req/s; p50 {w['p50'] * ms:.1f} ms, p90 {w['p90'] * ms:.1f} ms, "
          f"p99 {w['p99'] * ms:.1f} ms, max {w['max'] * ms:.1f} ms")
    print(f"  warm floor (round trip on the same connections, no review): p50 {w['floor_p50'] * ms:.1f} ms; "
          f"review/floor {w['p50'] / w['floor_p50']:.2f}x (goal <= {WARM_GOAL:.1f}x); "
          f"p99/p50 {w['p99'] / w['p50']:.2f}x (goal <= {TAIL_GOAL:.1f}x)")
    print(f"  server CPU per warm review (TLS, HTTP, ASGI, review, logs, metrics): "
          f"{w['cpu_per_review'] * 1e6:.0f} us (per round trip of the floor: {w['cpu_per_floor'] * 1e6:.0f} us); "
          f"the clients' CPU per review {w['client_cpu_per_review'] * 1e6:.0f} us "
          f"(per round trip: {w['client_cpu_per_floor'] * 1e6:.0f} us)")
    return w["p50"] / w["floor_p50"] <= WARM_GOAL and w["p99"] / w["p50"] <= TAIL_GOAL


def bench_wrk(args: argparse.Namespace, setup: Setup, webhook: tuple[int, int], review: bytes) -> bool:
    if shutil.which("wrk") is None:
        print("  under wrk: NOT MEASURED, wrk is not installed (Debian: apt-get install wrk); not counted as a miss")
        return True
    floor_process, floor_port = start_floor(setup.cert, setup.key, setup.ca)
    try:
        ours, theirs = wrk_rounds(webhook, (floor_port, floor_process.pid), setup.work, review,
                                  seconds=args.wrk_seconds, rounds=args.wrk_rounds, connections=args.clients)
    finally:
        floor_process.terminate()
        floor_process.wait(timeout=10)
    errors = sum(r.errors for r in ours + theirs)
    for name, runs in (("do-nothing threaded HTTPS server", theirs), ("webhook", ours)):
        print(f"  under wrk ({args.clients} connections, {args.wrk_rounds} x {args.wrk_seconds:g} s), {name}: "
              + "; ".join(f"{r.rps:.0f} req/s p50 {r.p50 * 1000:.1f} ms p99 {r.p99 * 1000:.1f} ms "
                          f"CPU {r.cpu_per_request * 1e6:.0f} us/req" for r in runs))
    best, floor = max(ours, key=lambda r: r.rps), max(theirs, key=lambda r: r.rps)
    ratio = best.rps / floor.rps
    print(f"  under wrk, best rounds: webhook {best.rps:.0f} req/s vs do-nothing {floor.rps:.0f} req/s: "
          f"{ratio:.2f}x (goal >= {WRK_GOAL:.1f}x); webhook p99/p50 {best.p99 / best.p50:.2f}x; "
          f"answers other than an HTTP 200 allow: {errors}")
    return ratio >= WRK_GOAL and errors == 0


def report_cold(c: ColdRun, *, verifications: float, warm_verifications: int) -> bool:
    ms = 1000.0
    print(f"  cold, first-seen signed image ({len(c.webhook)} images, {statistics.median(c.requests):.0f} registry "
          f"requests each): webhook p50 {statistics.median(c.webhook) * ms:.1f} ms (max {max(c.webhook) * ms:.1f} ms)")
    print(f"  cold floor (the same registry requests on a bare session + 2 ECDSA verifications, each right after "
          f"its image's review): p50 {statistics.median(c.floor) * ms:.1f} ms; in-process gate p50 "
          f"{statistics.median(c.gate) * ms:.1f} ms")
    ratio = statistics.median(c.webhook) / statistics.median(c.floor)
    paired = statistics.median(w / f for w, f in zip(c.webhook, c.floor, strict=True))
    print(f"  cold-path ratio webhook / floor: {ratio:.2f}x (goal <= {COLD_GOAL:.1f}x); median of the per-image "
          f"ratios {paired:.2f}x")
    expected = warm_verifications + len(c.webhook)
    print(f"  verifications run by the server: {verifications:.0f} (expected {expected}: one per digest)")
    return ratio <= COLD_GOAL and verifications == expected


def bench_flood(args: argparse.Namespace, setup: Setup, flood_images: list[TestImage], c: list[float]) -> bool:
    ms = 1000.0
    ca = setup.ca
    with black_hole() as hole:
        hole_policy = write_policy(setup.work, _Host(hole.host), file="hole.yaml", name="black-hole")  # type: ignore[arg-type]
        process, port = start_server(setup.policy, setup.registry, setup.cert, setup.key, setup.work / "flood.log",
                                     "--policy", str(hole_policy), "--workers", "2", "--budget-seconds",
                                     str(FLOOD_BUDGET), "--ready-registry", "none")
        try:
            f, admitted, flooded = asyncio.run(under_flood(port, ca, hole, flood_images, args.flood))
            marks = metric(port, ca, "slsacheck_admission_registry_unresponsive_total")
        finally:
            process.terminate()
            process.wait(timeout=10)
    against = f"; vs cold without a flood {statistics.median(f) / statistics.median(c):.2f}x" if c else ""
    print(f"  under a black-hole flood (2 workers, budget {FLOOD_BUDGET:g} s, {args.flood} dry-run reviews of 3 "
          f"black-hole images in flight, {flooded} answered, host marked {marks:.0f} times): first-seen signed "
          f"image admitted {admitted}/{len(f)}, p50 {statistics.median(f) * ms:.1f} ms (max {max(f) * ms:.1f} ms)"
          f"{against}")
    return admitted == len(f)


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


class _Host:
    def __init__(self, host: str) -> None:
        self.host = host


if __name__ == "__main__":
    raise SystemExit(main())
