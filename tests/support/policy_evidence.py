"""Policy files and synthetic Evidence for the policy tests (no network, real keys).

`key_policy` is the policy most integration, audit and admission tests judge against:
images signed (and attested) by one key file, named `release-key`.

Statements come from the shared upstream data (Tekton Chains, slsa-verifier, Conforma,
Trivy); this module only decodes them and, where a test needs a passing baseline, edits
a deep copy in memory. Nothing upstream is copied into the project.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from slsacheck.models.digest import Digest
from slsacheck.models.evidence import Evidence, Rejected, SignerInfo, VerifiedAttestation, VerifiedSignature
from tests.support.env import shared_file

DIGEST = Digest("sha256", "ab" * 32)
IMAGE = f"registry.example.com/acme/app@{DIGEST}"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
COMMIT = "0123456789abcdef0123456789abcdef01234567"
SLSA_V1 = "https://slsa.dev/provenance/v1"
SLSA_V02 = "https://slsa.dev/provenance/v0.2"
VULN = "https://cosign.sigstore.dev/attestation/vuln/v1"

CHAINS_PIPELINERUN = "chains/TRANSCRIBED__slsa-v2alpha4__pipelinerun1.expected-no-deep-inspection.json"
SLSA_VERIFIER_ENVELOPE = (
    "verify/slsa-framework__slsa-verifier__cli__slsa-verifier__testdata__gha_generic_container__v2.1.0__"
    "container_workflow_dispatch__blobs__sha256__e163b472f2e5d66e5a2a45e26e020c51a0d2da7dc8b567b31fc2ebfd33dbc33a"
)
CONFORMA_ENVELOPE = (
    "verify/conforma__cli__acceptance__image__testimage__blobs__sha256__"
    "6ad77607da2460dc2d91ad1ed2d795eb9d4759f33cc6b39a0191daa9554f4f3d"
)
CONFORMA_GOLDEN = "verify/conforma__policy__acceptance__samples__policy-input-golden-container.json"


def public_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def write_policy(
    directory: Path,
    text: str,
    *,
    name: str = "policy.yaml",
    keys: Sequence[str] = ("keys/release.pub",),
    roots: Sequence[str] = ("trust/trusted_root.json",),
) -> Path:
    """`text` as a policy file in `directory`, with fresh public keys and trusted roots beside it."""
    for rel in keys:
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(public_pem())
    for rel in roots:
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}')
    file = directory / name
    file.write_text(text)
    return file


def key_policy(
    name: str,
    include: Sequence[str],
    *,
    key: str | Path = "release.pub",
    mode: str = "enforce",
    no_match: str | None = None,
    attestation: str | None = "custom",
    builder_ids: Sequence[str] = (),
    annotations: Mapping[str, str] | None = None,
) -> str:
    """An ImagePolicy (YAML) for images under `include`: signed by the key file `key` (the
    authority `release-key`, threshold 1) and, unless `attestation` is None, attested with
    that predicate type by the same key (from `builder_ids`, when given)."""
    metadata: dict[str, Any] = {"name": name}
    if annotations:
        metadata["annotations"] = dict(annotations)
    spec: dict[str, Any] = {"mode": mode}
    if no_match is not None:
        spec["noMatch"] = no_match
    spec["images"] = {"include": list(include)}
    spec["authorities"] = [{"name": "release-key", "key": {"file": str(key)}}]
    spec["signatures"] = {"authorities": ["release-key"], "threshold": 1}
    if attestation is not None:
        rule: dict[str, Any] = {"name": "provenance", "predicateType": attestation, "authorities": ["release-key"]}
        if builder_ids:
            rule["provenance"] = {"builderIds": list(builder_ids)}
        spec["attestations"] = [rule]
    doc = {"apiVersion": "slsacheck.dev/v1alpha1", "kind": "ImagePolicy", "metadata": metadata, "spec": spec}
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None)


def key_signer(fingerprint: str = "11" * 32) -> SignerInfo:
    return SignerInfo(kind="key", key_fingerprint=fingerprint)


def keyless_signer(
    subject: str = "https://kubernetes.io/namespaces/tekton-chains/serviceaccounts/tekton-chains-controller",
    issuer: str = "https://kubernetes.default.svc.cluster.local",
    *,
    tlog: bool = True,
) -> SignerInfo:
    return SignerInfo(kind="keyless", subject=subject, issuer=issuer, tlog=tlog)


def signature(authority: str, signer: SignerInfo | None = None) -> VerifiedSignature:
    return VerifiedSignature(authority, signer or key_signer(), f"sha256-{DIGEST.hex}.sig layer 0")


def attestation(
    authority: str, statement: Mapping[str, Any], *, signer: SignerInfo | None = None, source: str | None = None
) -> VerifiedAttestation:
    return VerifiedAttestation(
        authority,
        signer or key_signer(),
        source or f"sha256-{DIGEST.hex}.att layer 0",
        str(statement["predicateType"]),
        statement,
    )


def evidence(
    *,
    signatures: Sequence[VerifiedSignature] = (),
    attestations: Sequence[VerifiedAttestation] = (),
    rejected: Sequence[Rejected] = (),
    incomplete: Sequence[str] = (),
    image: str = IMAGE,
) -> Evidence:
    return Evidence(image, DIGEST, tuple(signatures), tuple(attestations), tuple(rejected), tuple(incomplete))


def dsse_statement(rel: str) -> dict[str, Any]:
    envelope = json.loads(shared_file("anchors", *rel.split("/")).read_text())
    statement: dict[str, Any] = json.loads(base64.b64decode(envelope["payload"]))
    return statement


def shared_json(rel: str) -> Any:
    return json.loads(shared_file("anchors", *rel.split("/")).read_text())


def tekton_v1_statement() -> dict[str, Any]:
    """Chains' SLSA v1 PipelineRun statement (transcribed upstream expectation), edited into
    a build that the test policy accepts: Chains builder id, acme source at a full commit on
    main, the three required tasks from trusted bundles, and a finish time an hour before NOW.
    Each failure test then breaks exactly one fact of it.
    """
    s = copy.deepcopy(shared_json(CHAINS_PIPELINERUN)["expected"])
    bd, rd = s["predicate"]["buildDefinition"], s["predicate"]["runDetails"]
    rd["builder"]["id"] = "https://tekton.dev/chains/v2"
    rd["metadata"]["finishedOn"] = "2026-11-26T11:00:00Z"
    run_spec = bd["externalParameters"]["runSpec"]
    run_spec["params"].append({"name": "revision", "value": "refs/heads/main"})
    run_spec["pipelineSpec"] = {
        "tasks": [
            {
                "name": name,
                "taskRef": {
                    "resolver": "bundles",
                    "params": [
                        {"name": "bundle", "value": f"registry.example.com/tekton/{name}:1@sha256:{str(i) * 64}"},
                        {"name": "name", "value": name},
                        {"name": "kind", "value": "task"},
                    ],
                },
            }
            for i, name in enumerate(["git-clone", "trivy-scan", "build-push"], start=1)
        ]
    }
    deps = []
    for dep in bd["resolvedDependencies"]:
        if dep.get("name") in {"pipeline", "pipelineTask"}:
            continue  # definitions at unpinned git refs; this build uses bundles instead
        if dep.get("name") == "inputs/result" and dep["uri"].startswith("git+"):
            dep = {**dep, "uri": "git+https://github.com/acme/app.git", "digest": {"sha1": COMMIT}}
        deps.append(dep)
    bd["resolvedDependencies"] = deps
    for bp in rd["byproducts"]:
        if bp["name"].endswith("CHAINS-GIT_COMMIT"):
            bp["content"] = base64.b64encode(json.dumps(COMMIT).encode()).decode()
        if bp["name"].endswith("CHAINS-GIT_URL"):
            bp["content"] = base64.b64encode(json.dumps("https://github.com/acme/app").encode()).decode()
    s["subject"] = [{"name": "registry.example.com/acme/app", "digest": {"sha256": DIGEST.hex}}]
    return s
