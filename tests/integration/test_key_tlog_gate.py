"""`cosign sign --key` with Rekor (the default) through the gate, on a real registry: a
`.sig` layer carrying the key's signature and a `dev.sigstore.cosign/bundle` SET from the
private Sigstore's Rekor key. A key authority with `trustedRoot` and `tlog: require`
admits it, says it was log-checked, and refuses the same key's signature without an
entry or with an entry that logs another key.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from slsacheck.attach.cosign_tags import append_layers, signature_layer, signature_tag
from slsacheck.signing.signer import Material, SignedMessage
from slsacheck.signing.simplesigning import build_payload
from tests.support.cli import Run, cli, registry_flags
from tests.support.gate_scenarios import validate_verdict
from tests.support.private_sigstore import PEM, SPKI, START, PrivateSigstore, hashedrekord, make_private_sigstore
from tests.support.registry import RunningRegistry, push_scratch

__all__ = ["cli"]  # a fixture, imported so pytest finds it here

KEY = ec.generate_private_key(ec.SECP256R1())
ATTACKER = ec.generate_private_key(ec.SECP256R1())

POLICY = """\
apiVersion: slsacheck.dev/v1alpha1
kind: ImagePolicy
metadata: {{name: logged-key}}
spec:
  images: {{include: ["{host}/**"]}}
  authorities:
    - name: release
      key: {{file: release.pub, trustedRoot: trusted_root.json, tlog: {rule}}}
  signatures: {{authorities: [release], threshold: 1}}
"""


@pytest.fixture(scope="module")
def sigstore() -> PrivateSigstore:
    return make_private_sigstore()


@dataclass(frozen=True)
class Gate:
    """One registry repository, a policy folder and the private Sigstore, for one test."""

    cli: Callable[..., Run]
    reg: RunningRegistry
    repo: str
    folder: Path
    sigstore: PrivateSigstore

    def policy(self, rule: str) -> Path:
        (self.folder / "release.pub").write_bytes(KEY.public_key().public_bytes(PEM, SPKI))
        (self.folder / "trusted_root.json").write_text(json.dumps(self.sigstore.doc))
        path = self.folder / f"policy-{rule}.yaml"
        path.write_text(POLICY.format(host=self.reg.host, rule=rule))
        return path

    def sign(self, tag: str, logged_by: ec.EllipticCurvePrivateKey | None) -> str:
        """Push an image and a `.sig` layer signed by KEY, with a SET over an entry naming `logged_by`."""
        built = push_scratch(self.reg, self.repo, tag, tag)
        payload = build_payload(f"{self.reg.host}/{self.repo}", built.digest)
        signature = KEY.sign(payload, ec.ECDSA(hashes.SHA256()))
        rekor = None
        if logged_by is not None:
            body = hashedrekord(signature, payload, logged_by.public_key())
            rekor = self.sigstore.rekor_set(body, START + dt.timedelta(days=1))
        layer = signature_layer(SignedMessage(payload, signature, Material(rekor_bundle=rekor)))
        append_layers(self.reg.store(self.repo), signature_tag(built.digest), [layer])
        return f"{self.reg.host}/{self.repo}:{tag}"

    def verify(self, rule: str, image: str, *extra: str) -> Run:
        return self.cli("verify", "--policy", str(self.policy(rule)), *extra, image, *registry_flags(self.reg))


@pytest.fixture
def gate(
    cli: Callable[..., Run], registry_http: RunningRegistry, repo_name: str, tmp_path: Path, sigstore: PrivateSigstore
) -> Gate:
    return Gate(cli, registry_http, repo_name, tmp_path, sigstore)


def test_key_signature_logged_in_rekor_passes_a_require_policy(gate: Gate) -> None:
    logged = gate.sign("logged", KEY)
    run = gate.verify("require", logged, "--output", "json")
    assert run.code == 0, run.out + run.err
    doc = run.json()
    validate_verdict(doc)
    assert [v["tlog"] for v in doc["evidence"]["signatures"]["verified"]] == [True]
    text = gate.verify("require", logged)
    assert text.code == 0 and "transparency log checked" in text.out


@pytest.mark.parametrize(
    ("logged_by", "reason"), [(None, "requires one"), (ATTACKER, "another certificate or public key")]
)
def test_key_signature_without_its_own_log_entry_fails_a_require_policy(
    gate: Gate, logged_by: ec.EllipticCurvePrivateKey | None, reason: str
) -> None:
    image = gate.sign("unlogged", logged_by)
    run = gate.verify("require", image, "--output", "json")
    assert run.code == 1
    failed = {c["id"]: c for c in run.json()["checks"] if c["outcome"] == "fail"}
    assert set(failed) == {"signatures.threshold"} and reason in failed["signatures.threshold"]["found"]
    # the same evidence under `ignore`: the key alone decides, and the verdict says the log was not checked
    ignored = gate.verify("ignore", image, "--output", "json")
    assert ignored.code == 0
    assert [v["tlog"] for v in ignored.json()["evidence"]["signatures"]["verified"]] == [False]


def test_verify_key_takes_the_same_rule(gate: Gate) -> None:
    """`verify --key` without a policy: `--trusted-root` and `--tlog` as a key authority has them."""
    gate.policy("require")  # writes release.pub and trusted_root.json
    key, root = str(gate.folder / "release.pub"), str(gate.folder / "trusted_root.json")
    flags = registry_flags(gate.reg)
    logged, unlogged = gate.sign("logged", KEY), gate.sign("unlogged", None)
    assert gate.cli("verify", "--key", key, "--trusted-root", root, "--tlog", "require", logged, *flags).code == 0
    refused = gate.cli("verify", "--key", key, "--trusted-root", root, "--tlog", "require", unlogged, *flags)
    assert refused.code == 1 and "requires one" in refused.out + refused.err
    assert gate.cli("verify", "--key", key, unlogged, *flags).code == 0  # default rule, no root: the key alone
    usage = gate.cli("verify", "--key", key, "--tlog", "require", logged, *flags)
    assert usage.code == 2 and "--tlog require needs --trusted-root" in usage.err
