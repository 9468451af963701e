"""A Tekton step's commands as whole processes: `slsacheck sign`, `attest`, `verify` of one
image on a loopback registry, each against its floor: a bare `python -c pass` plus, in-process,
the same registry requests on a bare
`requests.Session` and the same crypto (the scrypt + secretbox key decryption every keyed
cosign-format signer does, the ECDSA signature or verification).

Each command and its floor alternate, fresh images every run; medians are compared.
Goal: each command <= 1.5x its floor; exit status 1 when one is missed. A second ratio
adds to the floor what importing the libraries the work needs costs a process
(`http.client`, `ssl`, cryptography's EC and x509), which the in-process floor never pays. (`verify-bundle` as a
whole process is `bench_bundle_verify.py`.)

    .venv/bin/python bench/bench_step_cli.py [--runs 7]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
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
# What any Python process doing this work imports, whoever wrote it: shown beside the goal's ratio.
LIBRARIES = ("import http.client, ssl, json\n"
             "from cryptography import x509\n"
             "from cryptography.hazmat.primitives import hashes, serialization\n"
             "from cryptography.hazmat.primitives.asymmetric import ec")
PASSWORD = b"bench-password"
REPO = "bench/step"


def _process(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stdout}{done.stderr}")
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


def _pair(
    name: str, runs: int, ours: Callable[[int], float], floor: Callable[[int], float], bare: list[float],
    *, libraries: Callable[[], float],
) -> tuple[str, float, float, float]:
    """Medians: the command; its floor; its floor with the libraries' import instead of the
    bare interpreter (a process importing them, run between the others)."""
    ours_t, floor_t, lib_t = [], [], []
    for i in range(runs):
        floor_t.append(floor(i))
        lib_t.append(libraries())
        ours_t.append(ours(i))
    work = statistics.median(floor_t)
    return name, statistics.median(ours_t), work + statistics.median(bare), work + statistics.median(lib_t)


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

        def libraries() -> float:
            return _process([python, "-c", LIBRARIES], env)

        key_file, pub_file, predicate = tmp / "cosign.key", tmp / "cosign.pub", tmp / "predicate.json"
        key_file.write_bytes(encrypt_private_key(key, PASSWORD))
        pub_file.write_bytes(public_key_pem(key))
        predicate.write_text(json.dumps({"n": 1}))
        store = RegistryStore(RegistryClient(registry.host, registry.options), REPO)
        floor = Floor(registry.url, REPO, key)
        cli = [python, "-m", "slsacheck"]
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
                  lambda i: _process([*cli, "sign", "--key", str(key_file), "--format", "legacy",
                                      ref(ours_images[i])], env),
                  lambda i: _timed(lambda: _floor_sign(floor, floor_images[i], key_file)), bare, libraries=libraries),
            _pair("attest", runs,
                  lambda i: _process([*cli, "attest", "--key", str(key_file), "--format", "legacy",
                                      "--predicate", str(predicate), "--type", PREDICATE_TYPE,
                                      ref(ours_images[i])], env),
                  lambda i: _timed(lambda: _floor_attest(floor, floor_images[i], key_file)), bare, libraries=libraries),
            _pair("verify --key", runs,
                  lambda i: _process([*cli, "verify", "--key", str(pub_file), "--tlog", "ignore",
                                      ref(ours_images[i])], env),
                  lambda i: _timed(lambda: _floor_verify(floor, floor_images[i], pub_file)), bare, libraries=libraries),
        ]
    missed = False
    print(f"bare `python -c pass`: median {statistics.median(bare) * 1000:.1f} ms over {runs} runs")
    print("second ratio: the floor with a process importing the libraries the work needs (http.client, ssl, "
          "cryptography's EC and x509) in place of the bare interpreter")
    for name, ours_s, floor_s, with_libraries_s in results:
        ratio = ours_s / floor_s
        missed |= ratio > GOAL
        flag = "" if ratio <= GOAL else "  GOAL MISSED"
        print(f"{name:14s} slsacheck {ours_s * 1000:7.1f} ms   floor {floor_s * 1000:7.1f} ms   "
              f"{ratio:.2f}x (goal <= {GOAL}x){flag}   with the imports in the floor: "
              f"{ours_s / with_libraries_s:.2f}x")
    return 1 if missed else 0


def _timed(work: Callable[[], None]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


if __name__ == "__main__":
    raise SystemExit(main())
