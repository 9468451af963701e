"""Benchmark: sign + attest + verify (and the policy gate) against the floor of the same
registry requests plus the bare crypto, in one run on a loopback registry.

1. Starts Debian's docker-registry on loopback (plain HTTP) and seeds N small images.
2. slsacheck: for every image, `sign_image` and `attest_image` (legacy `.sig`/`.att`
   format, an ECDSA P-256 key), then `verify_simple` (signature) and, in the gate round,
   `verify_image` with a policy demanding the signature and the attestation.
3. The floor, on a bare `requests.Session`: the requests a cosign-format client cannot do
   without (resolve the tag; read the cosign tag, upload payload and config blobs, put the
   manifest, read it back; for verifying: resolve, read `.sig`, `.att` and their blobs, ask
   for referrers and the fallback tag) and the same signatures and verifications with
   `cryptography`, with no parsing or checking beyond that.

Rounds alternate floor and slsacheck (and who goes first) on fresh images; the best
round of each counts. slsacheck's store asks whether a blob exists before uploading it
(a HEAD the floor skips): 4 more requests per image than the floor.
Goals: sign+attest+verify within 1.5x of the floor; the gate within 1.5x of its floor.

Run: `.venv/bin/python bench/bench_sign_verify.py [--images 100] [--gate-images 200] [--rounds 3]`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from slsacheck.attach import cosign_tags as ct  # noqa: E402
from slsacheck.attach.sign import attest_image, sign_image  # noqa: E402
from slsacheck.models import Digest  # noqa: E402
from slsacheck.models import mediatypes as mt  # noqa: E402
from slsacheck.oci import RegistryClient, RegistryStore  # noqa: E402
from slsacheck.oci.registry import MANIFEST_ACCEPT  # noqa: E402
from slsacheck.policy.load import load_policies  # noqa: E402
from slsacheck.signing.dsse import pae  # noqa: E402
from slsacheck.signing.keys import public_key_pem  # noqa: E402
from slsacheck.signing.keysigner import KeySigner  # noqa: E402
from slsacheck.signing.simplesigning import build_payload  # noqa: E402
from slsacheck.verify.authorities import TrustRoots  # noqa: E402
from slsacheck.verify.gate import verify_image  # noqa: E402
from slsacheck.verify.simple import Wanted, key_authority, verify_simple  # noqa: E402
from tests.support.registry import PushedImage, push_small_image, start_registry  # noqa: E402

PREDICATE_TYPE = "https://cosign.sigstore.dev/attestation/v1"
SIG = ec.ECDSA(hashes.SHA256())


# -- slsacheck ------------------------------------------------------------------------------


def ours_sign_attest_verify(store: RegistryStore, images: list[PushedImage], signer: KeySigner) -> float:
    authority = key_authority([signer.public_key_pem])
    wanted = Wanted("signature")
    start = time.perf_counter()
    for image in images:
        sign_image(store, image.ref, signer, fmt="legacy")
        attest_image(store, image.ref, signer, predicate_type=PREDICATE_TYPE, predicate={"n": 1}, fmt="legacy")
        verdict = verify_simple(image.ref, authority, wanted, store=store)
        assert verdict.passed, verdict
    return time.perf_counter() - start


def ours_gate(store: RegistryStore, images: list[PushedImage], policy_set: object) -> float:
    roots = TrustRoots()
    now = datetime.now(UTC)
    start = time.perf_counter()
    for image in images:
        verdict = verify_image(image.ref, policy_set, store=store, now=now, roots=roots)  # type: ignore[arg-type]
        assert verdict.passed, verdict.to_json()
    return time.perf_counter() - start


# -- the floor --------------------------------------------------------------------------------


class Floor:
    def __init__(self, base: str, repo: str, key: ec.EllipticCurvePrivateKey) -> None:
        self.session = requests.Session()
        self.session.trust_env = False
        self.base = f"{base}/v2/{repo}"
        self.repo = repo
        self.key = key
        self.public = key.public_key()

    def _get_manifest(self, ref: str) -> requests.Response:
        return self.session.get(f"{self.base}/manifests/{ref}", headers={"Accept": MANIFEST_ACCEPT}, timeout=30)

    def _blob(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        location = self.session.post(f"{self.base}/blobs/uploads/", timeout=30).headers["Location"]
        url = location if location.startswith("http") else self.base.split("/v2/")[0] + location
        sep = "&" if "?" in url else "?"
        self.session.put(f"{url}{sep}digest={digest}", data=data,
                         headers={"Content-Type": "application/octet-stream"}, timeout=30).raise_for_status()
        return digest

    def _attach(self, tag: str, layer: bytes, media_type: str, annotations: dict[str, str]) -> None:
        self._get_manifest(tag)  # the existing manifest (404 here)
        layer_digest = self._blob(layer)
        config = ct.cosign_config([layer_digest])
        config_digest = self._blob(config)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": mt.OCI_CONFIG, "size": len(config), "digest": config_digest},
            "layers": [{"mediaType": media_type, "size": len(layer), "digest": layer_digest,
                        "annotations": annotations}],
        }).encode()
        self.session.put(f"{self.base}/manifests/{tag}", data=manifest,
                         headers={"Content-Type": mt.OCI_MANIFEST}, timeout=30).raise_for_status()
        self._get_manifest(tag).content  # noqa: B018 - read back

    def sign_attest_verify(self, images: list[PushedImage]) -> float:
        start = time.perf_counter()
        for image in images:
            assert image.ref.tag is not None
            # sign
            digest = Digest.parse(self._get_manifest(image.ref.tag).headers["Docker-Content-Digest"])
            payload = build_payload(image.ref.name, digest)
            sig = base64.b64encode(self.key.sign(payload, SIG)).decode()
            self._attach(ct.signature_tag(digest), payload, mt.SIMPLE_SIGNING, {mt.ANN_SIGNATURE: sig})
            # attest
            self._get_manifest(image.ref.tag)
            statement = json.dumps({"_type": "https://in-toto.io/Statement/v1",
                                    "subject": [{"name": image.ref.name, "digest": {"sha256": digest.hex}}],
                                    "predicateType": PREDICATE_TYPE, "predicate": {"n": 1}}).encode()
            dsse_sig = self.key.sign(pae(mt.IN_TOTO_PAYLOAD, statement), SIG)
            envelope = json.dumps({"payloadType": mt.IN_TOTO_PAYLOAD, "payload": base64.b64encode(statement).decode(),
                                   "signatures": [{"keyid": "", "sig": base64.b64encode(dsse_sig).decode()}]}).encode()
            self._attach(ct.attestation_tag(digest), envelope, mt.DSSE_ENVELOPE,
                         {mt.ANN_SIGNATURE: "", mt.ANN_PREDICATE_TYPE: PREDICATE_TYPE})
            # verify
            self.verify_one(image, check_attestation=True)
        return time.perf_counter() - start

    def verify_one(self, image: PushedImage, *, check_attestation: bool) -> None:
        assert image.ref.tag is not None
        digest = Digest.parse(self._get_manifest(image.ref.tag).headers["Docker-Content-Digest"])
        sig_manifest = self._get_manifest(ct.signature_tag(digest)).json()
        layer = sig_manifest["layers"][0]
        payload = self.session.get(f"{self.base}/blobs/{layer['digest']}", timeout=30).content
        self.public.verify(base64.b64decode(layer["annotations"][mt.ANN_SIGNATURE]), payload, SIG)
        att_manifest = self._get_manifest(ct.attestation_tag(digest)).json()
        envelope = json.loads(self.session.get(f"{self.base}/blobs/{att_manifest['layers'][0]['digest']}",
                                               timeout=30).content)
        if check_attestation:
            statement = base64.b64decode(envelope["payload"])
            self.public.verify(base64.b64decode(envelope["signatures"][0]["sig"]),
                               pae(envelope["payloadType"], statement), SIG)
        self.session.get(f"{self.base}/referrers/{digest}", timeout=30)
        self._get_manifest(digest.tag_form)

    def gate(self, images: list[PushedImage]) -> float:
        start = time.perf_counter()
        for image in images:
            self.verify_one(image, check_attestation=True)
        return time.perf_counter() - start


# -- run ----------------------------------------------------------------------------------------


def _policy(tmp: Path, host: str, signer: KeySigner) -> Path:
    (tmp / "release.pub").write_bytes(signer.public_key_pem)
    path = tmp / "policy.yaml"
    path.write_text(textwrap.dedent(f"""\
        apiVersion: slsacheck.dev/v1alpha1
        kind: ImagePolicy
        metadata: {{name: bench}}
        spec:
          images: {{include: ["{host}/**"]}}
          authorities:
            - name: release
              key: {{file: release.pub}}
          signatures: {{authorities: [release], threshold: 1}}
          attestations:
            - name: attested
              predicateType: custom
              authorities: [release]
        """))
    return path


def _report(title: str, count: int, floor: float, ours: float, goal: float) -> float:
    ratio = ours / floor
    print(title)
    print(f"  floor (bare requests + cryptography): {floor * 1000:8.1f} ms  ({floor / count * 1000:.2f} ms/image)")
    print(f"  slsacheck:                            {ours * 1000:8.1f} ms  ({ours / count * 1000:.2f} ms/image)")
    print(f"  ratio: {ratio:.2f}x (goal <= {goal}x)")
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--gate-images", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    key = ec.generate_private_key(ec.SECP256R1())
    signer = KeySigner(key)
    assert public_key_pem(key) == signer.public_key_pem
    with tempfile.TemporaryDirectory() as tmp, start_registry(Path(tmp), "http") as registry:
        repo = "bench/app"
        store = RegistryStore(RegistryClient(registry.host, registry.options), repo)
        floor = Floor(registry.url, repo, key)
        ours_t, floor_t = [], []
        for r in range(args.rounds):
            batch_f = [push_small_image(store, f"f{r}-{i}", seed=f"f{r}-{i}") for i in range(args.images)]
            batch_o = [push_small_image(store, f"o{r}-{i}", seed=f"o{r}-{i}") for i in range(args.images)]
            # Alternate who goes first: the registry's storage grows as the run goes on.
            if r % 2:
                ours_t.append(ours_sign_attest_verify(store, batch_o, signer))
                floor_t.append(floor.sign_attest_verify(batch_f))
            else:
                floor_t.append(floor.sign_attest_verify(batch_f))
                ours_t.append(ours_sign_attest_verify(store, batch_o, signer))
        sav = _report(f"sign + attest + verify: {args.images} images, best of {args.rounds} rounds",
                      args.images, min(floor_t), min(ours_t), 1.5)

        gate_images = [push_small_image(store, f"g{i}", seed=f"g{i}") for i in range(args.gate_images)]
        for image in gate_images:
            sign_image(store, image.ref, signer, fmt="legacy")
            attest_image(store, image.ref, signer, predicate_type=PREDICATE_TYPE, predicate={"n": 1}, fmt="legacy")
        policy_set = load_policies([_policy(Path(tmp), registry.host, signer)])
        ours_g, floor_g = [], []
        for _ in range(args.rounds):
            floor_g.append(floor.gate(gate_images))
            ours_g.append(ours_gate(store, gate_images, policy_set))
        gate = _report(f"verify --policy: {args.gate_images} images, best of {args.rounds} rounds",
                       args.gate_images, min(floor_g), min(ours_g), 1.5)
    return 0 if sav <= 1.5 and gate <= 1.5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
