"""Policy evaluation cost: one image's evidence judged N times in-process.

The policy has 10 typed rules (signature threshold, builder, build type, repositories,
refs, commit, required tasks, trusted task refs, step images, max age) and 3 CEL
conditions, over a Tekton Chains-shaped SLSA v1 statement with 12 tasks and 24 step
images. The baseline, measured in the same run, is the same loop doing only
`json.loads` of the statement (the least any evaluator must do with a fetched
attestation). Prints time per evaluation and the ratio to the baseline.

    .venv/bin/python bench/bench_policy.py [--iterations 10000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from slsacheck.models.digest import Digest
from slsacheck.models.evidence import Evidence, SignerInfo, VerifiedAttestation, VerifiedSignature
from slsacheck.models.verdict import Outcome
from slsacheck.policy.evaluate import evaluate
from slsacheck.policy.load import load_policies

POLICY = """\
apiVersion: slsacheck.dev/v1alpha1
kind: ImagePolicy
metadata: {name: bench}
spec:
  images: {include: ["registry.example.com/**"]}
  authorities:
    - name: release-key
      key: {file: release.pub}
  signatures: {authorities: [release-key], threshold: 1}
  attestations:
    - name: provenance
      predicateType: slsaprovenance1
      authorities: [release-key]
      provenance:
        builderIds: ["https://tekton.dev/chains/v2"]
        buildTypes: ["https://tekton.dev/chains/v2/slsa"]
        source:
          repositories: ["https://github.com/acme/*"]
          refs: ["refs/heads/main", "refs/tags/v*"]
          requireCommit: true
        tasks:
          required: [git-clone, trivy-scan, build-push]
          trustedRefs: ["oci://registry.example.com/tekton/*"]
        stepImages: {requireDigest: true, allowedRegistries: ["registry.example.com"]}
        maxAge: 168h
      conditions:
        - expr: >-
            !predicate.buildDefinition.externalParameters.runSpec.params.exists(p,
              string(p.value).contains("--skip-tls-verify"))
          message: no TLS skipping
        - expr: predicate.runDetails.builder.id.startsWith("https://tekton.dev/")
          message: Tekton builder
        - expr: size(subject) >= 1 && subject.all(s, s.digest.sha256.size() == 64)
          message: subjects carry sha256 digests
"""

DIGEST = "ab" * 32
COMMIT = "0123456789abcdef0123456789abcdef01234567"
TASKS = ["git-clone", "trivy-scan", "build-push"] + [f"task-{i}" for i in range(9)]


def statement() -> dict[str, Any]:
    tasks = [
        {
            "name": name,
            "taskRef": {
                "resolver": "bundles",
                "params": [
                    {"name": "bundle", "value": f"registry.example.com/tekton/{name}:1@sha256:{'c' * 64}"},
                    {"name": "name", "value": name},
                    {"name": "kind", "value": "task"},
                ],
            },
        }
        for name in TASKS
    ]
    deps: list[dict[str, Any]] = [
        {"uri": f"oci://registry.example.com/steps/s{i}", "digest": {"sha256": f"{i:064x}"}} for i in range(24)
    ]
    deps.append({"name": "inputs/result", "uri": "git+https://github.com/acme/app.git", "digest": {"sha1": COMMIT}})
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "registry.example.com/acme/app", "digest": {"sha256": DIGEST}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://tekton.dev/chains/v2/slsa",
                "externalParameters": {
                    "runSpec": {
                        "params": [
                            {"name": "revision", "value": "refs/heads/main"},
                            {"name": "CHAINS-GIT_URL", "value": "https://github.com/acme/app"},
                            {"name": "CHAINS-GIT_COMMIT", "value": COMMIT},
                            {"name": "IMAGE", "value": "registry.example.com/acme/app"},
                        ],
                        "pipelineSpec": {"tasks": tasks},
                    }
                },
                "internalParameters": {},
                "resolvedDependencies": deps,
            },
            "runDetails": {
                "builder": {"id": "https://tekton.dev/chains/v2"},
                "metadata": {
                    "invocationId": "x",
                    "startedOn": "2026-11-26T10:00:00Z",
                    "finishedOn": "2026-11-26T11:00:00Z",
                },
            },
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=10_000)
    n = parser.parse_args().iterations
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        key = ec.generate_private_key(ec.SECP256R1()).public_key()
        (d / "release.pub").write_bytes(
            key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        (d / "policy.yaml").write_text(POLICY)
        t0 = time.perf_counter()
        policy = load_policies([d / "policy.yaml"]).policies[0]
        load_s = time.perf_counter() - t0
    doc = statement()
    raw = json.dumps(doc)
    signer = SignerInfo(kind="key", key_fingerprint="11" * 32)
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

    def evidence(stmt: dict[str, Any]) -> Evidence:
        return Evidence(
            f"registry.example.com/acme/app@sha256:{DIGEST}",
            Digest("sha256", DIGEST),
            signatures=(VerifiedSignature("release-key", signer, "sig"),),
            attestations=(VerifiedAttestation("release-key", signer, "att", doc["predicateType"], stmt),),
        )

    checks = evaluate(policy, evidence(doc), now=now)
    assert all(c.outcome is Outcome.PASS for c in checks), [c for c in checks if c.outcome is not Outcome.PASS]
    assert len(checks) == 14

    t0 = time.perf_counter()
    for _ in range(n):
        json.loads(raw)
    baseline = (time.perf_counter() - t0) / n

    ev = evidence(doc)
    t0 = time.perf_counter()
    for _ in range(n):
        evaluate(policy, ev, now=now)
    per_eval = (time.perf_counter() - t0) / n

    print(f"policy load (schema, globs, 3 CEL compiles): {load_s * 1e3:.1f} ms")
    print(f"statement size: {len(raw)} bytes; checks per evaluation: {len(checks)}")
    print(f"baseline json.loads of the statement: {baseline * 1e6:.1f} us per iteration ({n} iterations)")
    print(f"evaluate (10 rules + 3 CEL conditions): {per_eval * 1e6:.1f} us per evaluation ({n} iterations)")
    print(f"ratio evaluate / json.loads: {per_eval / baseline:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
