"""Images in known states for audit tests and the audit benchmark, written into a real Store.

Each image is a small `FROM scratch` image (`slsacheck.oci.scratch`), signed and attested
through the attach layer with real keys, as `slsacheck sign`/`attest` would write them.
Provenance is a hand-written SLSA v1 statement of a Tekton Chains build; `builder`
changes who it says built the image. Keys are made once per population and loaded into
signers, so that signing costs no scrypt per image.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slsacheck.attach import cosign_tags as ct
from slsacheck.attach.sign import Format, attest_image, sign_image
from slsacheck.models import mediatypes as mt
from slsacheck.models.reference import ImageRef
from slsacheck.oci import scratch
from slsacheck.oci.store import Store
from slsacheck.signing.keys import generate_key_pair
from slsacheck.signing.keysigner import KeySigner
from slsacheck.signing.signer import Signer
from tests.support.policy_evidence import key_policy

SLSA_V1 = "https://slsa.dev/provenance/v1"
TRUSTED_BUILDER = "https://tekton.dev/chains/v2"
WRONG_BUILDER = "https://ci.example.net/untrusted-runner"
SOURCE = "git+https://github.com/example-org/app.git"
SOURCE_RESULT = "https://github.com/example-org/app"  # the same repository as the clone task reports it
COMMIT = "0123456789abcdef0123456789abcdef01234567"
STEP_IMAGE = "gcr.io/tekton-releases/github.com/tektoncd/pipeline/cmd/git-init"
STEP_DIGEST = "sha256:" + "5" * 64
FINISHED = "2026-11-20T10:00:00Z"


@dataclass(frozen=True)
class Keys:
    release: KeySigner
    other: KeySigner
    release_pub: Path
    release_key: Path


def make_keys(workdir: Path) -> Keys:
    """A release key pair (its public half on disk for policies) and an untrusted one."""
    private, public = generate_key_pair(b"")
    other_private, _ = generate_key_pair(b"")
    (workdir / "release.key").write_bytes(private)
    (workdir / "release.pub").write_bytes(public)
    return Keys(KeySigner.from_pem(private, password=lambda: b""), KeySigner.from_pem(other_private,
                password=lambda: b""), workdir / "release.pub", workdir / "release.key")


def provenance(builder: str = TRUSTED_BUILDER, finished: str = FINISHED) -> dict[str, Any]:
    """A SLSA v1 predicate of a Tekton Chains PipelineRun (what Chains records, abridged)."""
    return {
        "buildDefinition": {
            "buildType": "https://tekton.dev/chains/v2/slsa",
            "externalParameters": {"runSpec": {
                "params": [{"name": "revision", "value": "refs/heads/main"}],
                "pipelineSpec": {"tasks": [
                    {"name": "git-clone", "taskRef": {"name": "git-clone"}},
                    {"name": "build-push", "taskRef": {"name": "buildah"}},
                ]},
            }},
            "internalParameters": {},
            "resolvedDependencies": [
                {"uri": f"{SOURCE}@refs/heads/main", "digest": {"sha1": COMMIT}},
                {"uri": f"oci://{STEP_IMAGE}", "digest": {"sha256": STEP_DIGEST.split(":")[1]}},
            ],
        },
        "runDetails": {
            "builder": {"id": builder},
            "metadata": {"invocationId": "pipelinerun-1", "startedOn": "2026-11-20T09:55:00Z",
                         "finishedOn": finished},
            "byproducts": [{"name": "pipelineRunResults/CHAINS-GIT_URL", "mediaType": "application/json",
                            "content": base64.b64encode(json.dumps(SOURCE_RESULT).encode()).decode()}],
        },
    }


def push_image(store: Store, tag: str, seed: str) -> scratch.Built:
    built = scratch.image({"app/seed": seed.encode()})
    scratch.push(store, built, tag=tag)
    return built


def sign(store: Store, ref: ImageRef, signer: Signer, fmt: Format = "legacy") -> None:
    sign_image(store, ref, signer, fmt=fmt)


def attest(store: Store, ref: ImageRef, signer: Signer, predicate: dict[str, Any], fmt: Format = "legacy") -> None:
    attest_image(store, ref, signer, predicate_type=SLSA_V1, predicate=predicate, fmt=fmt)


def malformed_attestation(store: Store, built: scratch.Built) -> None:
    """An `.att` layer that claims SLSA provenance and is not a DSSE envelope."""
    layer = ct.Layer(b"{not json", mt.DSSE_ENVELOPE, {mt.ANN_SIGNATURE: "", mt.ANN_PREDICATE_TYPE: SLSA_V1})
    ct.append_layers(store, ct.attestation_tag(built.digest), [layer])


def policy_file(workdir: Path, include: str, *, name: str = "release") -> Path:
    """Release key signs; a SLSA v1 provenance by the release key from the trusted builder."""
    path = workdir / f"{name}.yaml"
    path.write_text(key_policy(name, [include], no_match="deny", attestation="slsaprovenance1",
                               builder_ids=[TRUSTED_BUILDER]))
    return path


def without_clock(text: str | bytes) -> dict[str, Any]:
    """A JSON report without what depends on the clock of its run: the timestamps (which must
    be there), and each provenance's age in days (to 0.01 day: runs minutes apart may
    straddle a step)."""
    doc: dict[str, Any] = json.loads(text)
    for key in ("startedAt", "finishedAt"):
        if not doc.pop(key, None):
            raise ValueError(f"the report has no {key}")
    for record in doc["images"]:
        age = (record.get("evidence") or {}).get("age")
        if isinstance(age, dict):
            age.pop("days", None)
    return doc


def report_difference(one: str | bytes, two: str | bytes) -> str | None:
    """None when two JSON reports are equal but for the clock (`without_clock`); else the first
    place they differ, innermost (a whole record or a text diff of two reports is too long to
    read, and slow to make)."""
    a, b = without_clock(one), without_clock(two)
    if a == b:
        return None
    for key in sorted(a.keys() | b.keys()):
        if key != "images" and a.get(key) != b.get(key):
            return f"{key}: {str(a.get(key))[:300]} / {str(b.get(key))[:300]}"
    for x, y in zip(a["images"], b["images"], strict=False):
        if x != y:
            path, left, right = _deepest(x, y, x.get("image"))
            return f"{path}: {str(left)[:600]} / {str(right)[:600]}"
    return f"{len(a['images'])} images / {len(b['images'])} images"


def _deepest(a: object, b: object, path: object) -> tuple[str, object, object]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys()):
            if a.get(key) != b.get(key):
                return _deepest(a.get(key), b.get(key), f"{path}.{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _deepest(x, y, f"{path}[{n}]")
    return str(path), a, b
