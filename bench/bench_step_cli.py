"""A Tekton step's commands as whole processes: `slsacheck sign`, `attest`, `verify` of one
image on a loopback registry, each against its floor: a bare `python -c pass` plus, in-process,
the same registry requests on a bare
`requests.Session` and the same crypto (the scrypt + secretbox key decryption every keyed
cosign-format signer does, the ECDSA signature or verification).

Each command runs as the `slsacheck` console script (as the Tekton tasks run it) importing this
checkout. Each command and its floor alternate, fresh images every run; medians are compared.
Goal: each command <= 1.5x its floor; exit status 1 when one is missed.

A second floor is honest per command: in place of the bare interpreter, a process that
imports only what that command's work needs, which the in-process floor never pays and
any Python process doing the work must (`sign`/`attest`: `http.client`, `json`, `hashlib`,
`nacl.secret`, cryptography's EC and serialization; `verify --key`: `http.client`, `json`,
cryptography's EC and serialization; no x509, no `ssl` beyond what `http.client` imports
itself; each constructs one `ECDSA` object, which is when cryptography loads its OpenSSL
backend module). Its goal is <= 1.5x too, printed beside the first. For `verify --key` the
bench also prints whether the first goal can be met at all: 1.5x the literal floor against
what that needed-imports process alone takes. The exit status stays tied to the first goal
(the issue's). CPU time (user + sys) of each command's process is printed too, since the
machine is shared. (`verify-bundle` as a whole process is `bench_bundle_verify.py`.)

    .venv/bin/python bench/bench_step_cli.py [--runs 7]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import nacl.secret  # noqa: E402
from bench_sign_verify import PREDICATE_TYPE, SIG, Floor  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from slsacheck.attach import cosign_tags as ct  # noqa: E402
from slsacheck.models import Digest  # noqa: E402
from slsacheck.models import mediatypes as mt  # noqa: E402
from slsacheck.oci import RegistryClient, RegistryStore  # noqa: E402
from slsacheck.signing.dsse import pae  # noqa: E402
from slsacheck.signing.keys import encrypt_private_key, public_key_pem  # noqa: E402
from slsacheck.signing.simplesigning import build_payload  # noqa: E402
from tests.support.registry import PushedImage, push_small_image, start_registry  # noqa: E402

GOAL = 1.5
# What any Python process doing each command's work imports, whoever wrote it (and the one
# ECDSA object, whose constructor loads cryptography's OpenSSL backend module).
_CRYPTO = ("from cryptography.hazmat.primitives import hashes, serialization\n"
           "from cryptography.hazmat.primitives.asymmetric import ec\n"
           "ec.ECDSA(hashes.SHA256())")
NEEDED = {
    "sign": "import http.client, json, hashlib, nacl.secret\n" + _CRYPTO,
    "attest": "import http.client, json, hashlib, nacl.secret\n" + _CRYPTO,
    "verify --key": "import http.client, json\n" + _CRYPTO,
}
PASSWORD = b"bench-password"
REPO = "bench/step"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _process(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stdout}{done.stderr}")
    return elapsed


def _command(cmd: list[str], env: dict[str, str], cpu: list[float]) -> float:
    """`_process`, recording the process's CPU time in `cpu`."""
    before = _children_cpu()
    elapsed = _process(cmd, env)
    cpu.append(_children_cpu() - before)
    return elapsed


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """What any keyed cosign-format signer does first: scrypt, then secretbox, then PKCS#8."""
    doc = json.loads(base64.b64decode(b"".join(path.read_bytes().splitlines()[1:-1])))
    kdf = doc["kdf"]["params"]
    import hashlib  # noqa: PLC0415 - kept beside its only use in the floor

    secret = hashlib.scrypt(
        PASSWORD, salt=base64.b64decode(doc["kdf"]["salt"]), n=kdf["N"], r=kdf["r"], p=kdf["p"],
        maxmem=256 * 1024 * 1024, dklen=32,
    )
    der = nacl.secret.SecretBox(secret).decrypt(
        base64.b64decode(doc["ciphertext"]), base64.b64decode(doc["cipher"]["nonce"])
    )
    key = serialization.load_der_private_key(der, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def _floor_sign(floor: Floor, image: PushedImage, key_file: Path) -> None:
    assert image.ref.tag is not None
    key = _load_key(key_file)
    digest = Digest.parse(floor._get_manifest(image.ref.tag).headers["Docker-Content-Digest"])
    payload = build_payload(image.ref.name, digest)
    sig = base64.b64encode(key.sign(payload, SIG)).decode()
    floor._attach(ct.signature_tag(digest), payload, mt.SIMPLE_SIGNING, {mt.ANN_SIGNATURE: sig})


def _floor_attest(floor: Floor, image: PushedImage, key_file: Path) -> None:
    assert image.ref.tag is not None
    key = _load_key(key_file)
    digest = Digest.parse(floor._get_manifest(image.ref.tag).headers["Docker-Content-Digest"])
    statement = json.dumps({"_type": "https://in-toto.io/Statement/v1",
                            "subject": [{"name": image.ref.name, "digest": {"sha256": digest.hex}}],
                            "predicateType": PREDICATE_TYPE, "predicate": {"n": 1}}).encode()
    dsse_sig = key.sign(pae(mt.IN_TOTO_PAYLOAD, statement), SIG)
    envelope = json.dumps({"payloadType": mt.IN_TOTO_PAYLOAD, "payload": base64.b64encode(statement).decode(),
                           "signatures": [{"keyid": "", "sig": base64.b64encode(dsse_sig).decode()}]}).encode()
    floor._attach(ct.attestation_tag(digest), envelope, mt.DSSE_ENVELOPE,
                  {mt.ANN_SIGNATURE: "", mt.ANN_PREDICATE_TYPE: PREDICATE_TYPE})


def _floor_verify(floor: Floor, image: PushedImage, public_file: Path) -> None:
    serialization.load_pem_public_key(public_file.read_bytes())
    floor.verify_one(image, check_attestation=False)


@dataclass(frozen=True)
class Result:
    """Medians of one command's runs (seconds)."""

    name: str
    ours: float
    ours_cpu: float
    floor: float  # the in-process work + a bare `python -c pass`
    needed: float  # a process importing only what the work needs, alone
    needed_floor: float  # the in-process work + that process


def _pair(
    name: str, runs: int, ours: Callable[[int, list[float]], float], floor: Callable[[int], float],
    bare: list[float], *, needed: Callable[[], float],
) -> Result:
    """The command, its floor, and a process importing what its work needs (run between the
    others, so that all three see the same load)."""
    ours_t: list[float] = []
    cpu: list[float] = []
    floor_t: list[float] = []
    needed_t: list[float] = []
    for i in range(runs):
        floor_t.append(floor(i))
        needed_t.append(needed())
        ours_t.append(ours(i, cpu))
    work, imports = statistics.median(floor_t), statistics.median(needed_t)
    return Result(name, statistics.median(ours_t), statistics.median(cpu), work + statistics.median(bare),
                  imports, work + imports)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    runs = args.runs
    python = sys.executable
    key = ec.generate_private_key(ec.SECP256R1())
    with tempfile.TemporaryDirectory() as tmp_name, start_registry(Path(tmp_name), "http") as registry:
        tmp = Path(tmp_name)
        # Processes read compiled bytecode, as from an installed wheel, even where the
        # environment says not to write it (the first, warm-up run of each command writes it).
        env = {**os.environ, "COSIGN_PASSWORD": PASSWORD.decode(), "PYTHONPATH": str(ROOT),
               "PYTHONPYCACHEPREFIX": str(tmp / "pycache")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        bare = [_process([python, "-c", "pass"], env) for _ in range(runs)]

        def needed(command: str) -> Callable[[], float]:
            return lambda: _process([python, "-c", NEEDED[command]], env)

        key_file, pub_file, predicate = tmp / "cosign.key", tmp / "cosign.pub", tmp / "predicate.json"
        key_file.write_bytes(encrypt_private_key(key, PASSWORD))
        pub_file.write_bytes(public_key_pem(key))
        predicate.write_text(json.dumps({"n": 1}))
        store = RegistryStore(RegistryClient(registry.host, registry.options), REPO)
        floor = Floor(registry.url, REPO, key)
        # The console script, as the Tekton tasks run it (importing this checkout: PYTHONPATH).
        cli = [str(Path(python).parent / "slsacheck")]
        ours_images = [push_small_image(store, f"o{i}", seed=f"o{i}") for i in range(runs + 1)]
        warm = ours_images.pop()
        _process([*cli, "sign", "--key", str(key_file), "--format", "legacy", str(warm.ref)], env)
        _process([*cli, "attest", "--key", str(key_file), "--format", "legacy", "--predicate", str(predicate),
                  "--type", PREDICATE_TYPE, str(warm.ref)], env)
        _process([*cli, "verify", "--key", str(pub_file), "--tlog", "ignore", str(warm.ref)], env)
        floor_images = [push_small_image(store, f"f{i}", seed=f"f{i}") for i in range(runs)]

        def ref(image: PushedImage) -> str:
            return str(image.ref)

        results = [
            _pair("sign", runs,
                  lambda i, cpu: _command([*cli, "sign", "--key", str(key_file), "--format", "legacy",
                                           ref(ours_images[i])], env, cpu),
                  lambda i: _timed(lambda: _floor_sign(floor, floor_images[i], key_file)), bare,
                  needed=needed("sign")),
            _pair("attest", runs,
                  lambda i, cpu: _command([*cli, "attest", "--key", str(key_file), "--format", "legacy",
                                           "--predicate", str(predicate), "--type", PREDICATE_TYPE,
                                           ref(ours_images[i])], env, cpu),
                  lambda i: _timed(lambda: _floor_attest(floor, floor_images[i], key_file)), bare,
                  needed=needed("attest")),
            _pair("verify --key", runs,
                  lambda i, cpu: _command([*cli, "verify", "--key", str(pub_file), "--tlog", "ignore",
                                           ref(ours_images[i])], env, cpu),
                  lambda i: _timed(lambda: _floor_verify(floor, floor_images[i], pub_file)), bare,
                  needed=needed("verify --key")),
        ]
    return _report(results, bare, runs)


def _report(results: list[Result], bare: list[float], runs: int) -> int:
    """Both ratios of each command; exit status 1 when the first goal (the literal floor) is missed."""
    missed = False
    print(f"bare `python -c pass`: median {statistics.median(bare) * 1000:.1f} ms over {runs} runs")
    print("floor: the same requests + crypto in-process + a bare `python -c pass`; needed-imports floor: the same "
          "work + a process importing only what the command's work needs (see the module docstring)")
    for r in results:
        ratio, needed_ratio = r.ours / r.floor, r.ours / r.needed_floor
        missed |= ratio > GOAL
        print(f"{r.name:14s} slsacheck {r.ours * 1000:7.1f} ms (CPU {r.ours_cpu * 1000:6.1f} ms)   "
              f"floor {r.floor * 1000:7.1f} ms: {ratio:.2f}x {_verdict(ratio)}   "
              f"needed-imports floor {r.needed_floor * 1000:7.1f} ms: {needed_ratio:.2f}x {_verdict(needed_ratio)}")
    for r in results:
        # Whether the literal goal can be met at all: a process that only imports what the
        # work needs, before doing any of it, against the goal's whole budget.
        budget = GOAL * r.floor
        if r.needed + (r.floor - statistics.median(bare)) > budget:
            print(f"{r.name}: the literal goal cannot be met by a Python process using http.client and cryptography: "
                  f"importing only what the work needs takes {r.needed * 1000:.1f} ms, the work "
                  f"{(r.floor - statistics.median(bare)) * 1000:.1f} ms more, and {GOAL}x the floor allows "
                  f"{budget * 1000:.1f} ms in all")
    return 1 if missed else 0


def _verdict(ratio: float) -> str:
    return f"(goal <= {GOAL}x: {'met' if ratio <= GOAL else 'MISSED'})"


def _timed(work: Callable[[], None]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


if __name__ == "__main__":
    raise SystemExit(main())
