"""Benchmark: peak memory of one verification against hostile evidence stays bounded.

Whoever may push to a repository can list one big blob as a layer of the `.sig` and
`.att` manifests as many times as the layer cap allows. A verifier that fetches and
parses each listing holds listings x blob size (the case that found it: a 16 MiB blob
listed 12 times cost 1.06 GB). slsacheck fetches each digest once per verification and
caps the distinct bytes read (`--max-evidence-mib`, 64 MiB by default), so the peak RSS
of the verification must stay within a bound that does not grow with the listings.

1. Starts Debian's docker-registry on loopback and pushes two images: a clean one
   (signed and attested with a P-256 key), and a hostile one: its `.sig` manifest lists a
   16 MiB unsigned payload 200 times and its `.att` manifest a 16 MiB DSSE envelope
   200 times (distinct annotations on every listing, so no descriptor is a duplicate).
2. Runs `verify_image` with a policy (signature + attestation) in a fresh process for
   each image, and reads that process's peak RSS (`VmHWM`: `ru_maxrss` would carry the
   parent's over the fork).
3. The bound: hostile peak <= clean peak + BOUND_MIB. The verdict on the hostile image
   must be a failure (exit 1), not a pass.

Exit 1 when the bound is missed or the hostile image is not refused.

Run: `.venv/bin/python bench/bench_hostile_memory.py [--listings 200] [--blob-mib 16]`.
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slsacheck.attach import cosign_tags as ct  # noqa: E402
from slsacheck.attach.sign import attest_image, sign_image  # noqa: E402
from slsacheck.models import mediatypes as mt  # noqa: E402
from slsacheck.models.descriptor import Descriptor  # noqa: E402
from slsacheck.oci.registry import RegistryStore  # noqa: E402
from slsacheck.oci.store import Store  # noqa: E402
from tests.support.gate_scenarios import key_pair  # noqa: E402
from tests.support.registry import push_scratch, start_registry  # noqa: E402

PREDICATE_TYPE = "https://cosign.sigstore.dev/attestation/v1"
# Peak RSS a hostile image may add over a clean one: the 64 MiB evidence budget, with
# room for the parsed copy of the largest blob and the verification's transient copies.
BOUND_MIB = 192

CHILD = textwrap.dedent("""\
    import json, sys, time
    from slsacheck.models.reference import ImageRef
    from slsacheck.oci.options import RegistryOptions
    from slsacheck.policy.load import load_policies
    from slsacheck.verify.gate import verify_image
    ref, policy = sys.argv[1], sys.argv[2]
    def peak_kib():  # VmHWM: this process's own peak (ru_maxrss may carry the parent's over fork)
        with open("/proc/self/status") as status:
            return int(next(line for line in status if line.startswith("VmHWM:")).split()[1])
    policies = load_policies([policy])
    loaded = peak_kib()
    started = time.perf_counter()
    verdict = verify_image(ImageRef.parse(ref), policies, options=RegistryOptions())
    elapsed = time.perf_counter() - started
    ev = verdict.to_json().get("evidence") or {}
    rejected = [r for k in ("signatures", "attestations") for r in ev.get(k, {}).get("rejected", [])]
    reasons = sorted({r["reason"][:120] for r in rejected})
    print(json.dumps({"outcome": verdict.outcome, "incomplete": list(verdict.incomplete), "reasons": reasons,
                      "limits": ev.get("limits"), "loaded_kib": loaded, "peak_kib": peak_kib(),
                      "seconds": round(elapsed, 2)}))
""")


def _hostile_layers(store: Store, tag: str, blob: bytes, media_type: str, *, listings: int,
                    extra: dict[str, str]) -> None:
    """A cosign tag manifest listing `blob` `listings` times, pushed as an attacker would."""
    store.push_blob(Descriptor.of(blob, media_type), blob)
    layers = [ct.Layer(blob, media_type, {mt.ANN_SIGNATURE: base64.b64encode(b"%d" % i).decode(), **extra})
              for i in range(listings)]
    merged = ct.merge_layers(None, [layer.descriptor for layer in layers])
    store.push_blob(Descriptor.of(merged.config, mt.OCI_CONFIG), merged.config)
    store.push_manifest(merged.manifest, mt.OCI_MANIFEST, tag=tag)


def _blobs(size: int) -> tuple[bytes, bytes]:
    pad = "A" * (size - 300)
    payload = json.dumps({"critical": {"identity": {"docker-reference": "x"},
                                       "image": {"docker-manifest-digest": "sha256:" + "0" * 64},
                                       "type": "cosign container image signature"},
                          "optional": {"pad": pad}}).encode()
    inner = base64.b64encode(pad.encode()[: size * 3 // 4 - 300]).decode()
    envelope = json.dumps({"payloadType": mt.IN_TOTO_PAYLOAD, "payload": inner,
                           "signatures": [{"keyid": "", "sig": "AAAA"}]}).encode()
    return payload, envelope


def _measure(ref: str, policy: Path) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", CHILD, ref, str(policy)], capture_output=True, text=True,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"verification process failed:\n{proc.stderr[-3000:]}")
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listings", type=int, default=200)
    parser.add_argument("--blob-mib", type=int, default=16)
    args = parser.parse_args()
    size = args.blob_mib * 1024 * 1024
    with tempfile.TemporaryDirectory() as tmp, start_registry(Path(tmp), "http") as reg:
        key = key_pair()
        (Path(tmp) / "release.pub").write_bytes(key.public_pem)
        policy = Path(tmp) / "policy.yaml"
        policy.write_text(textwrap.dedent(f"""\
            apiVersion: slsacheck.dev/v1alpha1
            kind: ImagePolicy
            metadata: {{name: bench}}
            spec:
              images: {{include: ["{reg.host}/**"]}}
              authorities: [{{name: release-key, key: {{file: release.pub}}}}]
              signatures: {{authorities: [release-key], threshold: 1}}
              attestations: [{{name: custom, predicateType: custom, authorities: [release-key]}}]
            """))
        images = {}
        for name in ("clean", "hostile"):
            built = push_scratch(reg, f"bench/{name}", "v1", name)
            store: RegistryStore = reg.store(f"bench/{name}")
            ref = reg.ref(f"bench/{name}", "v1")
            if name == "clean":
                sign_image(store, ref, key.signer, fmt="legacy")
                attest_image(store, ref, key.signer, predicate_type=PREDICATE_TYPE, predicate={"x": 1}, fmt="legacy")
            else:
                payload, envelope = _blobs(size)
                _hostile_layers(store, ct.signature_tag(built.digest), payload, mt.SIMPLE_SIGNING,
                                listings=args.listings, extra={})
                _hostile_layers(store, ct.attestation_tag(built.digest), envelope, mt.DSSE_ENVELOPE,
                                listings=args.listings, extra={mt.ANN_PREDICATE_TYPE: PREDICATE_TYPE})
            images[name] = str(ref)
        clean = _measure(images["clean"], policy)
        hostile = _measure(images["hostile"], policy)
    clean_mib = int(clean["peak_kib"]) / 1024  # type: ignore[call-overload]
    hostile_mib = int(hostile["peak_kib"]) / 1024  # type: ignore[call-overload]
    listed = 2 * args.listings * args.blob_mib
    print(f"clean image:   verdict {clean['outcome']}, peak RSS {clean_mib:.0f} MiB, {clean['seconds']} s")
    print(f"hostile image: verdict {hostile['outcome']}, peak RSS {hostile_mib:.0f} MiB, {hostile['seconds']} s "
          f"({2 * args.listings} listings of two {args.blob_mib} MiB blobs = {listed} MiB listed)")
    print(f"  read {hostile['limits']}; rejected because: {hostile['reasons']}")
    print(f"added by the hostile evidence: {hostile_mib - clean_mib:.0f} MiB (bound {BOUND_MIB} MiB)")
    ok = clean["outcome"] == "pass" and hostile["outcome"] in {"fail", "error"}
    ok = ok and hostile_mib - clean_mib <= BOUND_MIB
    print("OK" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
