"""ArtifactPolicy: the image policy's authorities and attestation rules, for files.

Loaded by the same loader (schema + builder), judged by the same `policy.evaluate` with the
same check ids, and never applied by the image gate. Attacker-built evidence: another key,
a statement about another file (also one naming this file by sha256 and another by sha512),
provenance from an untrusted builder or repository, a keyless envelope without its log entry.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from slsacheck.policy.explain import explain_policy
from slsacheck.policy.load import load_policies
from slsacheck.policy.problems import PolicyLoadError
from slsacheck.signing.dsse import pae
from tests.support.cli import Cli, cli
from tests.support.keys import write_key_pairs
from tests.support.private_sigstore import ISSUER, PEM, SUBJECT, make_private_sigstore
from tests.unit.test_blob_commands import _envelope, _provenance, _signer, _statement, _subject
from tests.unit.test_provenance_generate import taskrun

__all__ = ["cli"]

TEKTON_BUILDER = "https://tekton.dev/chains/v2"


def _policy(directory: Path, pub: Path, *, include: str = "*.tgz", provenance: str | None = None,
            extra: str = "", kind: str = "ArtifactPolicy") -> Path:
    rules = provenance if provenance is not None else f"""
        builderIds: ["{TEKTON_BUILDER}"]
        source:
          repositories: ["github.com/acme/*"]
          refs: ["refs/tags/v*"]"""
    path = directory / "artifacts.yaml"
    path.write_text(f"""\
apiVersion: slsacheck.dev/v1alpha1
kind: {kind}
metadata:
  name: release-files
spec:
  artifacts:
    include: ["{include}"]
  authorities:
    - name: release-key
      key:
        file: {pub}
{extra}
  attestations:
    - name: provenance
      predicateType: slsaprovenance1
      authorities: [release-key]
      provenance:{rules}
      conditions:
        - expr: predicate.buildDefinition.buildType == "https://tekton.dev/chains/v2/slsa"
          message: built by Tekton Chains' format
""")
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = write_key_pairs(tmp_path, "release", "other")
    (tmp_path / "app.tgz").write_bytes(b"release 1.2.0\n")
    (tmp_path / "evil.tgz").write_bytes(b"release 1.2.0, patched\n")
    return {**paths, "app": tmp_path / "app.tgz", "evil": tmp_path / "evil.tgz", "dir": tmp_path}


def _jsonl(path: Path, *envelopes: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in envelopes))
    return path


def _checks(run: Any) -> dict[str, str]:
    return {c["id"]: c["outcome"] for c in run.json()["checks"]}


def test_the_loader_keeps_the_two_kinds_apart(files: dict[str, Path]) -> None:
    policy = _policy(files["dir"], files["release.pub"], include="**")
    loaded = load_policies([policy])
    assert loaded.matching_artifact("app.tgz") and not loaded.matching("registry.example.com/app:v1")
    assert "Judges files named **" in explain_policy(loaded.policies[0])
    for extra in ("  signatures:\n    authorities: [release-key]", "  images:\n    include: ['**']"):
        bad = _policy(files["dir"], files["release.pub"], extra=extra)
        with pytest.raises(PolicyLoadError, match="an ArtifactPolicy"):
            load_policies([bad])
    image_with_artifacts = _policy(files["dir"], files["release.pub"], kind="ImagePolicy")
    with pytest.raises(PolicyLoadError, match="images"):
        load_policies([image_with_artifacts])


def test_verify_blob_attestation_with_an_artifact_policy(cli: Cli, files: dict[str, Path]) -> None:
    signer = _signer(files["release"])
    good = _jsonl(files["dir"] / "app.intoto.jsonl",
                  _envelope(signer, _statement([_subject(files["app"], "sha256", "sha512")])))
    policy = _policy(files["dir"], files["release.pub"])
    run = cli("verify-blob-attestation", "--bundle", str(good), "--policy", str(policy), "--output", "json",
              str(files["app"]))
    assert run.code == 0, run.out + run.err
    assert _checks(run) == {
        "attestations.provenance.present": "pass", "provenance.builderIds": "pass",
        "provenance.source.repositories": "pass", "provenance.source.refs": "pass",
        "attestations.provenance.conditions[0]": "pass",
    }
    # The same statement about another file: not present.
    about_other = cli("verify-blob-attestation", "--bundle", str(good), "--policy", str(policy), "--output", "json",
                      str(files["evil"]))
    assert about_other.code == 1 and _checks(about_other)["attestations.provenance.present"] == "fail"
    # Signed by a key the policy does not name.
    other = _jsonl(files["dir"] / "other.jsonl",
                   _envelope(_signer(files["other"]), _statement([_subject(files["app"])])))
    assert cli("verify-blob-attestation", "--bundle", str(other), "--policy", str(policy), str(files["app"])).code == 1
    # Flags cannot loosen or replace the policy.
    mixed = cli("verify-blob-attestation", "--bundle", str(good), "--policy", str(policy), "--key",
                str(files["other.pub"]), str(files["app"]))
    assert mixed.code == 2


@pytest.mark.parametrize(("provenance", "failing"), [
    (_provenance(builder="https://evil.example/builder"), "provenance.builderIds"),
    (_provenance(repo="git+https://github.com/mallory/app"), "provenance.source.repositories"),
    (_provenance(ref="refs/heads/dev"), "provenance.source.refs"),
])
def test_provenance_rules_fail_as_for_an_image(cli: Cli, files: dict[str, Path], provenance: dict[str, Any],
                                               failing: str) -> None:
    doc = _jsonl(files["dir"] / "p.jsonl",
                 _envelope(_signer(files["release"]), _statement([_subject(files["app"])], provenance)))
    run = cli("verify-blob-attestation", "--bundle", str(doc), "--policy",
              str(_policy(files["dir"], files["release.pub"])), "--output", "json", str(files["app"]))
    assert run.code == 1 and _checks(run)[failing] == "fail"


def test_subjects_compare_on_shared_algorithms(cli: Cli, files: dict[str, Path]) -> None:
    """npm names packages by sha512 only: that counts. A subject whose sha256 is this file's and
    whose sha512 is another file's does not."""
    policy = str(_policy(files["dir"], files["release.pub"]))
    signer = _signer(files["release"])
    sha512_only = _jsonl(files["dir"] / "a.jsonl", _envelope(signer, _statement([_subject(files["app"], "sha512")])))
    assert cli("verify-blob-attestation", "--bundle", str(sha512_only), "--policy", policy, str(files["app"])).code == 0
    mixed = _subject(files["app"], "sha256")
    mixed["digest"]["sha512"] = hashlib.sha512(files["evil"].read_bytes()).hexdigest()
    split = _jsonl(files["dir"] / "b.jsonl", _envelope(signer, _statement([mixed])))
    assert cli("verify-blob-attestation", "--bundle", str(split), "--policy", policy, str(files["app"])).code == 1


def test_a_file_no_policy_names_is_denied(cli: Cli, files: dict[str, Path]) -> None:
    doc = _jsonl(files["dir"] / "p.jsonl", _envelope(_signer(files["release"]), _statement([_subject(files["app"])])))
    policy = str(_policy(files["dir"], files["release.pub"], include="*.whl"))
    run = cli("verify-blob-attestation", "--bundle", str(doc), "--policy", policy, str(files["app"]))
    assert run.code == 1 and "policy.match" in run.out
    allowed = cli("verify-blob-attestation", "--bundle", str(doc), "--policy", policy, "--no-match", "allow",
                  str(files["app"]))
    assert allowed.code == 0


def test_keyless_authority_and_the_log_rule(cli: Cli, files: dict[str, Path]) -> None:
    """A bare keyless envelope has no log entry: refused under requireTlog (the default),
    counted without it, and the verdict says no log vouched for it."""
    ps = make_private_sigstore()
    root = files["dir"] / "trusted_root.json"
    root.write_text(json.dumps(ps.doc))
    payload = _statement([_subject(files["app"])])
    key, cert = ps.leaf(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    sig = key.sign(pae("application/vnd.in-toto+json", payload), ec.ECDSA(hashes.SHA256()))
    envelope = {"payloadType": "application/vnd.in-toto+json", "payload": base64.b64encode(payload).decode(),
                "signatures": [{"keyid": "", "sig": base64.b64encode(sig).decode(),
                                "cert": cert.public_bytes(PEM).decode()}]}
    doc = _jsonl(files["dir"] / "k.jsonl", envelope)

    def policy(require: bool, subject: str = SUBJECT) -> str:
        path = files["dir"] / "keyless.yaml"
        path.write_text(f"""\
apiVersion: slsacheck.dev/v1alpha1
kind: ArtifactPolicy
metadata: {{name: keyless-files}}
spec:
  artifacts: {{include: ["*.tgz"]}}
  authorities:
    - name: ci
      keyless:
        trustedRoot: {root}
        identities: [{{issuer: "{ISSUER}", subject: "{subject}"}}]
        requireTlog: {str(require).lower()}
  attestations:
    - name: provenance
      predicateType: slsaprovenance1
      authorities: [ci]
""")
        return str(path)

    strict = cli("verify-blob-attestation", "--bundle", str(doc), "--policy", policy(True), str(files["app"]))
    assert strict.code == 1 and "transparency-log" in strict.out
    lax = cli("verify-blob-attestation", "--bundle", str(doc), "--policy", policy(False), "--output", "json",
              str(files["app"]))
    assert lax.code == 0, lax.out
    assert lax.json()["evidence"]["attestations"]["verified"][0]["tlog"] is False
    other = cli("verify-blob-attestation", "--bundle", str(doc), "--policy",
                policy(False, "https://kubernetes.io/namespaces/ci/serviceaccounts/other"), str(files["app"]))
    assert other.code == 1


def test_tekton_artifact_outputs_against_an_artifact_policy(cli: Cli, files: dict[str, Path]) -> None:
    """The loop of Tekton Chains' non-image subjects: a TaskRun that built a file
    (`*ARTIFACT_OUTPUTS`) -> provenance generate -> attest-blob -> an ArtifactPolicy."""
    digest = "sha256:" + hashlib.sha256(files["app"].read_bytes()).hexdigest()
    run = taskrun([{"name": "bin-ARTIFACT_OUTPUTS",
                    "value": {"uri": "https://files.example.com/app.tgz", "digest": digest,
                              "isBuildArtifact": "true"}}])
    (files["dir"] / "taskrun.json").write_text(json.dumps(run))
    stmt = files["dir"] / "statement.json"
    assert cli("provenance", "generate", "--run", str(files["dir"] / "taskrun.json"), "--output", str(stmt)).code == 0
    bundle = files["dir"] / "app.att.json"
    assert cli("attest-blob", "--key", str(files["release"]), "--predicate", str(stmt), "--bundle", str(bundle),
               str(files["app"])).code == 0
    builder = json.loads(stmt.read_text())["predicate"]["runDetails"]["builder"]["id"]
    rules = f"""
        builderIds: ["{builder}"]
        source:
          repositories: ["git.example.com/team/*"]
          requireCommit: true
        maxAge: 876000h"""
    policy = _policy(files["dir"], files["release.pub"], provenance=rules)
    ok = cli("verify-blob-attestation", "--bundle", str(bundle), "--policy", str(policy), "--output", "json",
             str(files["app"]))
    assert ok.code == 0, ok.out
    assert _checks(ok)["provenance.source.requireCommit"] == "pass"
    assert cli("verify-blob-attestation", "--bundle", str(bundle), "--policy", str(policy),
               str(files["evil"])).code == 1


def test_file_verdicts_follow_the_verdict_schema(cli: Cli, files: dict[str, Path]) -> None:
    import jsonschema

    from tests.support.env import ROOT

    schema = json.loads((ROOT / "schemas" / "verdict.schema.json").read_text())
    doc = _jsonl(files["dir"] / "p.jsonl", _envelope(_signer(files["release"]), _statement([_subject(files["app"])])))
    with_policy = cli("verify-blob-attestation", "--bundle", str(doc), "--policy",
                      str(_policy(files["dir"], files["release.pub"])), "--output", "json", str(files["app"]))
    sha384 = "sha384:" + hashlib.sha384(files["app"].read_bytes()).hexdigest()
    with_flags = cli("verify-blob-attestation", "--bundle", str(doc), "--key", str(files["release.pub"]),
                     "--builder-id", TEKTON_BUILDER, "--output", "json", sha384)
    for run in (with_policy, with_flags):
        jsonschema.validate(run.json(), schema)
    # The statement names the file by sha256 only: a sha384 digest shares nothing with it.
    assert with_flags.code == 1 and with_flags.json()["digest"] == sha384


def test_slsa_verifier_flags_are_exact_values() -> None:
    from slsacheck.errors import InputError
    from slsacheck.policy.artifact_flags import ProvenanceFlags

    assert ProvenanceFlags().rules() is None
    rules = ProvenanceFlags(builder_id=TEKTON_BUILDER, source_uri="git+https://github.com/acme/app",
                            source_tag="v1.2.0").rules()
    assert rules is not None and rules.source is not None
    assert [g.pattern for g in rules.source.refs] == ["refs/tags/v1.2.0"]
    assert [g.pattern for g in rules.source.repositories] == ["https://github.com/acme/app"]
    for bad in (ProvenanceFlags(source_uri="github.com/acme/*"), ProvenanceFlags(builder_id="https://b/?"),
                ProvenanceFlags(source_uri="github.com/acme/app", source_tag="v1", source_branch="main"),
                ProvenanceFlags(source_tag="v1")):
        with pytest.raises(InputError):
            bad.rules()
