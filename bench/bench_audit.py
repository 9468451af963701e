"""Benchmark: `slsacheck audit` of N signed and attested images against the floor of its requests, whole and sharded.

1. Starts Debian's docker-registry on loopback (plain HTTP) and generates N images (default
   1,000) into one repository, each signed (`.sig`) and attested (`.att`, SLSA v1
   provenance) with an ECDSA P-256 key through the attach layer, from several threads.
   Generation is not timed.
2. Records the exact registry requests one audit makes, by running it once through a
   recording proxy (tests/support/proxy.py).
3. Times, alternating, best of the rounds:
   - `slsacheck audit --repository REG/REPO --policy P --output json --concurrency C`
     as its own process (interpreter start-up included; the JSON report written);
   - the floor: the same requests (method and path, in the audit's order) sent by a bare
     `requests.Session` per thread from C threads, bodies read and dropped: no digest
     checks, no crypto, no policy, no reports.
4. Peak RSS of the audit process (`ru_maxrss` of the child), for N and for N/10 images:
   the spool keeps memory flat, so the two should be close.

5. Fleet mode (`--shards S`, default 4; 0 skips it): the same audit as S processes at once,
   `--shard I/S` each, then `slsacheck audit merge`: the merged report must equal the single
   run's (timestamps aside: same verdicts, same order), and the wall time of the shards,
   the merge's own time and each shard's peak RSS are printed (flat: a shard holds its part).

Prints images/s, the ratio audit/floor, and peak RSS. Goal: ratio <= 3 (the audit verifies
two ECDSA signatures, evaluates the policy and writes the report per image; the floor
only moves bytes). Run: `.venv/bin/python bench/bench_audit.py [--images N] [--rounds R]
[--shards S]` (the fleet goal is --images 10000; the size is a parameter).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from slsacheck.oci.registry import MANIFEST_ACCEPT  # noqa: E402
from tests.audit import population as pop  # noqa: E402
from tests.support.proxy import run_proxy  # noqa: E402
from tests.support.registry import RunningRegistry, start_registry  # noqa: E402

REPO = "bench/app"


def generate(registry: RunningRegistry, count: int, workdir: Path, threads: int = 16) -> Path:
    """`count` signed and attested images in REPO; returns the policy file."""
    keys = pop.make_keys(workdir)
    predicate = pop.provenance()
    work: queue.Queue[int] = queue.Queue()
    for i in range(count):
        work.put(i)

    def worker() -> None:
        store = registry.store(REPO)  # one client per thread, as independent pushers would
        while True:
            try:
                i = work.get_nowait()
            except queue.Empty:
                return
            tag = f"v{i:05d}"
            pop.push_image(store, tag, f"bench-{i}")
            ref = registry.ref(REPO, tag)
            pop.sign(store, ref, keys.release)
            pop.attest(store, ref, keys.release, predicate)
            if i % 1000 == 999:
                print(f"  generating: image {i + 1} of {count} pushed", flush=True)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return pop.policy_file(workdir, f"{registry.host}/{REPO}")


def audit_argv(host: str, policy: Path, out: Path, concurrency: int, images_file: Path | None = None) -> list[str]:
    source = ["--images-file", str(images_file)] if images_file else ["--repository", f"{host}/{REPO}"]
    return [sys.executable, "-m", "slsacheck", "audit", *source, "--policy", str(policy), "--output", "json",
            "--output-file", str(out), "--concurrency", str(concurrency), "--quiet"]


def run_audit(argv: list[str], workdir: Path) -> tuple[float, int]:
    """(seconds, peak RSS in KiB) of one audit process (reaped with wait4 for its own rusage)."""
    (elapsed, peak), = run_parallel([argv], workdir)
    return elapsed, peak


# ru_maxrss of a child counts the parent's pages it was forked (or vforked) from, so a
# child reads its own high-water mark (VmHWM of the image it exec'd) as it exits.
_HWM = (
    "import atexit, runpy, sys\n"
    "def hwm():\n"
    "    with open('/proc/self/status') as f, open(OUT, 'w') as out:\n"
    "        out.write(next(l.split()[1] for l in f if l.startswith('VmHWM:')))\n"
    "atexit.register(hwm)\n"
    "OUT = sys.argv[1]\n"
    "sys.argv = ['slsacheck', *sys.argv[2:]]\n"
    "runpy.run_module('slsacheck', run_name='__main__')\n"
)


def run_parallel(argvs: list[list[str]], workdir: Path) -> list[tuple[float, int]]:
    """(seconds since the start, peak RSS in KiB) of each process, all started at once."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    logs = [workdir / f"audit-stderr-{n}.txt" for n in range(len(argvs))]
    hwms = [workdir / f"audit-hwm-{n}.txt" for n in range(len(argvs))]
    start = time.perf_counter()
    procs = {}
    for n, argv in enumerate(argvs):
        assert argv[1:3] == ["-m", "slsacheck"]
        wrapped = [argv[0], "-c", _HWM, str(hwms[n]), *argv[3:]]
        with logs[n].open("wb") as err:
            proc = subprocess.Popen(wrapped, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
        procs[proc.pid] = n
    results: dict[int, tuple[float, int]] = {}
    while procs:
        pid, status, _ = os.wait4(-1, 0)
        if pid not in procs:
            continue
        n = procs.pop(pid)
        code = os.waitstatus_to_exitcode(status)
        if code not in (0, 1):
            raise SystemExit(f"audit failed ({code}): {logs[n].read_text()[-2000:]}")
        results[n] = (time.perf_counter() - start, int(hwms[n].read_text()))
    return [results[n] for n in range(len(argvs))]


def fleet(host: str, policy: Path, work: Path, *, concurrency: int, shards: int, single: Path) -> float:
    """The audit as `shards` processes at once and their merge, against the single run's report."""
    argvs = [[*audit_argv(host, policy, work / f"shard-{i}.json", concurrency), "--shard", f"{i}/{shards}"]
             for i in range(shards)]
    timings = run_parallel(argvs, work)
    merge = [sys.executable, "-m", "slsacheck", "audit", "merge", *(str(work / f"shard-{i}.json")
                                                                   for i in range(shards)),
             "--format", "json", "--output", str(work / "merged.json"), "--quiet", "--fail-on", "never"]
    (merge_time, merge_rss), = run_parallel([merge], work)
    difference = pop.report_difference((work / "merged.json").read_text(), single.read_text())
    same = difference is None
    counts = [len(json.loads((work / f"shard-{i}.json").read_text())["images"]) for i in range(shards)]
    wall = max(t for t, _ in timings)
    print(f"  {shards} shard processes at once: {wall:7.2f} s (slowest shard), images per shard {counts}")
    print(f"  peak RSS per shard: {', '.join(f'{r / 1024:.1f}' for _, r in timings)} MiB")
    print(f"  merge: {merge_time:.2f} s, {merge_rss / 1024:.1f} MiB; merged report == single run's "
          f"(timestamps aside): {same}")
    if not same:
        print(f"  first difference (merged / single): {difference}")
        raise SystemExit("the merged report differs from the single run's")
    return wall + merge_time


def run_floor(base: str, requests_seen: list[tuple[str, str]], concurrency: int) -> float:
    local = threading.local()

    def send(item: tuple[str, str]) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.trust_env = False
        method, path = item
        response = session.request(method, base + path, headers={"Accept": MANIFEST_ACCEPT}, timeout=30)
        response.content  # noqa: B018 - read the body, as the audit does

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(send, requests_seen))
    return time.perf_counter() - start


def record(registry: RunningRegistry, policy: Path, workdir: Path, concurrency: int) -> list[tuple[str, str]]:
    """The requests one audit makes, seen by a recording proxy in front of the registry."""
    with run_proxy(registry.host) as proxy:
        proxied = workdir / "proxied.yaml"  # beside release.pub, which the policy names
        proxied.write_text(policy.read_text().replace(registry.host, proxy.host))
        run_audit(audit_argv(proxy.host, proxied, workdir / "recorded.json", concurrency), workdir)
        return [(s.method, s.path) for s in proxy.requests]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--shards", type=int, default=4, help="fleet mode: S shard processes + merge (0: skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, start_registry(Path(tmp) / "registry", "http") as registry:
        work = Path(tmp)
        started = time.perf_counter()
        policy = generate(registry, args.images, work)
        print(f"generated {args.images} signed and attested images in {time.perf_counter() - started:.1f} s "
              "(not timed)")
        seen = record(registry, policy, work, args.concurrency)
        per_image = len(seen) / args.images
        print(f"the audit sends {len(seen)} requests ({per_image:.1f} per image)")
        base = registry.url
        run_floor(base, seen[:50], args.concurrency)  # warm
        audits, floors, rss = [], [], []
        for n in range(args.rounds):
            floors.append(run_floor(base, seen, args.concurrency))
            elapsed, peak = run_audit(audit_argv(registry.host, policy, work / f"audit-{n}.json", args.concurrency),
                                      work)
            audits.append(elapsed)
            rss.append(peak)
            # as it goes: a long run that is stopped still leaves its measurements in the log
            print(f"round {n}: floor {floors[-1]:.2f} s, audit {elapsed:.2f} s, peak RSS {peak / 1024:.1f} MiB",
                  flush=True)
        subset = work / "subset.txt"
        subset.write_text("".join(f"{registry.host}/{REPO}:v{i:05d}\n" for i in range(max(1, args.images // 10))))
        _, small_rss = run_audit(audit_argv(registry.host, policy, work / "small.json", args.concurrency, subset),
                                 work)
        sharded = None
        if args.shards > 0:
            print(f"fleet mode, {args.images} images:")
            sharded = fleet(registry.host, policy, work, concurrency=args.concurrency, shards=args.shards,
                            single=work / "audit-0.json")
    audit, floor = min(audits), min(floors)
    ratio = audit / floor
    print(f"audit of {args.images} images, concurrency {args.concurrency}, best of {args.rounds} rounds")
    print(f"  floor (same requests, bare requests.Session x{args.concurrency} threads): {floor:7.2f} s "
          f"({args.images / floor:7.1f} images/s)")
    print(f"  slsacheck audit --policy (own process):                 {audit:7.2f} s "
          f"({args.images / audit:7.1f} images/s)")
    print(f"  ratio: {ratio:.2f}x (goal <= 3x)")
    if sharded is not None:
        print(f"  {args.shards} shards + merge (own processes):                 {sharded:7.2f} s "
              f"({args.images / sharded:7.1f} images/s), {sharded / floor:.2f}x the floor")
    print(f"  peak RSS: {max(rss) / 1024:.1f} MiB for {args.images} images, {small_rss / 1024:.1f} MiB for "
          f"{max(1, args.images // 10)} images")
    return 0 if ratio <= 3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
