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


def without_clock(text: str | bytes) -> str:
    """A JSON report without what depends on the clock of its run: the timestamps (which must
    be there), and each provenance's age in days (to 0.01 day: runs a minute apart may
    straddle a step)."""
    doc = json.loads(text)
    for key in ("startedAt", "finishedAt"):
        assert doc.pop(key)
    for record in doc["images"]:
        age = (record.get("evidence") or {}).get("age")
        if age is not None:
            age.pop("days", None)
    return json.dumps(doc)
