"""Benchmark: `promote` against the same work done by hand with slsacheck's primitives.

1. Starts Debian's docker-registry on loopback (plain HTTP) and seeds N two-platform indexes
   in `staging/app`, each signed (index and both images: `.sig` + bundle referrers) and
   attested (`.att` + bundle referrer) with an ECDSA key.
2. Floor, per image: verify the source (`verify_image`), `copy` the index by digest,
   `copy` the `.sig`/`.att` manifests of every manifest under it, `copy` the referrers and
   write each subject's fallback index ONCE with all its entries, verify the destination,
   set the tag. No existence checks beyond `copy`'s own, no merging, no read-backs.
3. `promote()` of the same images to another repository (the same requests plus what makes
   it safe: merge checks on the cosign tags, listing checks and read-backs on the fallback
   index, tag read-back). Goal: within 1.5x of the floor.
4. `promote()` again over the promoted images: everything is there, nothing is sent.
   Reported as a ratio to the first promotion (goal <= 0.7x: checking is cheaper than sending).

Rounds alternate floor and promote on fresh destination repositories; the best round of each
counts. Run: `.venv/bin/python bench/bench_promote.py [--images N] [--rounds R]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slsacheck.attach import cosign_tags as ct  # noqa: E402
from slsacheck.attach.referrers import fallback_tag, merge_fallback_index  # noqa: E402
from slsacheck.attach.sign import attest_image, sign_image  # noqa: E402
from slsacheck.errors import NotFound  # noqa: E402
from slsacheck.models import mediatypes as mt  # noqa: E402
from slsacheck.models.descriptor import Manifest, Platform  # noqa: E402
from slsacheck.models.digest import Digest  # noqa: E402
from slsacheck.models.reference import ImageRef  # noqa: E402
from slsacheck.oci import scratch  # noqa: E402
from slsacheck.oci.copy import copy  # noqa: E402
from slsacheck.oci.store import Store  # noqa: E402
from slsacheck.policy.load import load_policies  # noqa: E402
from slsacheck.policy.model import PolicySet  # noqa: E402
from slsacheck.promote import promote  # noqa: E402
from slsacheck.promote.evidence import subjects  # noqa: E402
from slsacheck.signing.keys import generate_key_pair  # noqa: E402
from slsacheck.signing.resolve import load_signer  # noqa: E402
from slsacheck.verify.gate import verify_image  # noqa: E402
from tests.support.registry import RunningRegistry, start_registry  # noqa: E402

POLICY = """\
apiVersion: slsacheck.dev/v1alpha1
kind: ImagePolicy
metadata:
  name: bench
spec:
  images:
    include: ["{host}/**"]
  authorities:
    - name: release-key
      key:
        file: {pub}
  signatures:
    authorities: [release-key]
  attestations:
    - name: provenance
      predicateType: custom
      authorities: [release-key]
"""


def seed(reg: RunningRegistry, count: int, key: Path) -> list[Digest]:
    signer = load_signer(str(key), password=lambda: b"")
    store = reg.store("staging/app")
    out = []
    for i in range(count):
        built = scratch.index([
            scratch.image({"hello": f"amd64 {i}\n".encode()}, platform=Platform("linux", "amd64")),
            scratch.image({"hello": f"arm64 {i}\n".encode()}, platform=Platform("linux", "arm64")),
        ])
        tag = f"v{i}"
        scratch.push(store, built, tag=tag)
        ref = reg.ref("staging/app", tag)
        sign_image(store, ref, signer, recursive=True)
        attest_image(store, ref, signer, predicate_type="https://cosign.sigstore.dev/attestation/v1",
                     predicate={"n": i})
        out.append(built.digest)
    return out


def _read(store: Store, reference: str) -> bool:
    try:
        store.resolve(reference)
    except NotFound:
        return False
    return True


def floor_one(reg: RunningRegistry, policy_set: PolicySet, tag: str, dst_repo: str) -> None:
    src = reg.store("staging/app")
    verdict = verify_image(reg.ref("staging/app", tag), policy_set, options=reg.options, store=src)
    assert verdict.passed and verdict.digest
    digest = Digest.parse(verdict.digest)
    dst = reg.store(dst_repo)
    copy(src, dst, str(digest))
    top = src.fetch_manifest(str(digest))
    for subject in subjects(src, top):
        for cosign_tag in (ct.signature_tag(subject), ct.attestation_tag(subject)):
            if _read(src, cosign_tag):
                copy(src, dst, cosign_tag)
        entries = src.referrers(subject)
        index: bytes | None = None
        for entry in entries:
            copy(src, dst, str(entry.digest))
            current = Manifest.parse(index, mt.OCI_INDEX) if index else None
            index = merge_fallback_index(current, entry) or index
        if index is not None:
            dst.push_manifest(index, mt.OCI_INDEX, tag=fallback_tag(subject))
    verdict = verify_image(ImageRef.parse(f"{reg.host}/{dst_repo}@{digest}"), policy_set, options=reg.options,
                           store=dst)
    assert verdict.passed, verdict.to_json()
    copy(src, dst, str(digest), tags=(tag,))


def run_floor(reg: RunningRegistry, policy_set: PolicySet, count: int, dst_repo: str) -> float:
    start = time.perf_counter()
    for i in range(count):
        floor_one(reg, policy_set, f"v{i}", dst_repo)
    return time.perf_counter() - start


def run_promote(reg: RunningRegistry, policy_set: PolicySet, count: int, dst_repo: str) -> tuple[float, bool]:
    start = time.perf_counter()
    nothing = True
    for i in range(count):
        record = promote(f"{reg.host}/staging/app:v{i}", [f"{reg.host}/{dst_repo}"], policy_set,
                         options=reg.options)
        assert record.outcome == "promoted", record.to_json()
        nothing = nothing and record.destinations[0].sent_nothing
    return time.perf_counter() - start, nothing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, start_registry(Path(tmp) / "registry", "http") as reg:
        private, public = generate_key_pair(b"")
        (Path(tmp) / "k.key").write_bytes(private)
        (Path(tmp) / "k.pub").write_bytes(public)
        (Path(tmp) / "policy.yaml").write_text(POLICY.format(host=reg.host, pub=Path(tmp) / "k.pub"))
        policy_set = load_policies([Path(tmp) / "policy.yaml"])
        seed(reg, args.images, Path(tmp) / "k.key")
        run_floor(reg, policy_set, 2, "warm/floor")
        run_promote(reg, policy_set, 2, "warm/promote")
        floors, promotes, reruns = [], [], []
        for r in range(args.rounds):
            floors.append(run_floor(reg, policy_set, args.images, f"floor{r}/app"))
            first, sent_nothing = run_promote(reg, policy_set, args.images, f"promote{r}/app")
            assert not sent_nothing
            promotes.append(first)
            again, sent_nothing = run_promote(reg, policy_set, args.images, f"promote{r}/app")
            assert sent_nothing, "a re-run must send nothing"
            reruns.append(again)
    floor, ours, rerun = min(floors), min(promotes), min(reruns)
    n = args.images
    print(f"promotion: {n} signed + attested two-platform indexes, same registry, best of {args.rounds} rounds")
    print(f"  by hand with the primitives (floor): {floor * 1000:8.1f} ms  ({floor / n * 1000:.1f} ms/image)")
    print(f"  promote():                           {ours * 1000:8.1f} ms  ({ours / n * 1000:.1f} ms/image)")
    print(f"  promote() again (nothing to send):   {rerun * 1000:8.1f} ms  ({rerun / n * 1000:.1f} ms/image)")
    print(f"  promote / floor: {ours / floor:.2f}x (goal <= 1.5x)")
    print(f"  re-run / promote: {rerun / ours:.2f}x (goal <= 0.7x)")
    return 0 if ours / floor <= 1.5 and rerun / ours <= 0.7 else 1


if __name__ == "__main__":
    raise SystemExit(main())
