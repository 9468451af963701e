"""`signatures.threshold` counts distinct signers, on real signatures in OCI layouts.

An attacker holding one key (or one keyless identity) must not meet `threshold: 2`
because the policy names that key twice, or because two keyless authorities over one
trusted root both accept the same certificate (or two certificates of one identity).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from tests.support.cli import Run, cli
from tests.support.keys import write_key_pairs
from tests.support.sigstore_mock import MockSigstore, mock_sigstore

__all__ = ["cli", "mock_sigstore"]  # the fixtures, imported for pytest

pytestmark = pytest.mark.integration

CI = "https://kubernetes.io/namespaces/ci/serviceaccounts/"


def _layout(tmp_path: Path, seed: str) -> str:
    layout = tmp_path / seed
    scratch.push(LayoutStore(layout, create=True), scratch.image({"hello": seed.encode()}), tag="v1")
    return f"oci:{layout}:v1"


def _threshold(run: Run) -> dict[str, str]:
    check: dict[str, str] = next(c for c in run.json()["checks"] if c["id"] == "signatures.threshold")
    return check


def test_one_key_listed_under_two_names_is_one_signer(cli: Callable[..., Run], tmp_path: Path) -> None:
    write_key_pairs(tmp_path, "release", "second")
    # The same key in a second file, spelled differently (the PEM with a trailing comment line).
    (tmp_path / "release-copy.pub").write_text((tmp_path / "release.pub").read_text() + "\n# copy\n")
    image = _layout(tmp_path, "img")
    policy = tmp_path / "two-names.yaml"
    policy.write_text(textwrap.dedent(f"""\
        apiVersion: slsacheck.dev/v1alpha1
        kind: ImagePolicy
        metadata:
          name: two-names
        spec:
          images:
            include: ["oci:{tmp_path / 'img'}"]
          authorities:
            - name: release
              key:
                file: release.pub
            - name: release-again
              key:
                file: release-copy.pub
            - name: second
              key:
                file: second.pub
          signatures:
            authorities: [release, release-again, second]
            threshold: 2
        """))
    assert cli("policy", "lint", str(policy)).err.count("can be satisfied by one signer") == 1
    assert cli("sign", "--key", str(tmp_path / "release.key"), image).code == 0
    assert cli("sign", "--key", str(tmp_path / "release.key"), image).code == 0  # a second signature, same key
    run = cli("verify", "--policy", str(policy), "--output", "json", image)
    assert run.code == 1, run.out
    threshold = _threshold(run)
    assert threshold["outcome"] == "fail" and "one signer counts once" in threshold["found"], threshold
    assert cli("sign", "--key", str(tmp_path / "second.key"), image).code == 0
    run = cli("verify", "--policy", str(policy), "--output", "json", image)
    assert run.code == 0, run.out


def test_overlapping_keyless_authorities_count_one_identity_once(
    cli: Callable[..., Run], tmp_path: Path, mock_sigstore: MockSigstore
) -> None:
    image = _layout(tmp_path, "keyless")
    policy = tmp_path / "keyless.yaml"
    policy.write_text(textwrap.dedent(f"""\
        apiVersion: slsacheck.dev/v1alpha1
        kind: ImagePolicy
        metadata:
          name: keyless-two
        spec:
          images:
            include: ["oci:{tmp_path / 'keyless'}"]
          authorities:
            - name: pipeline
              keyless:
                trustedRoot: {mock_sigstore.trusted_root}
                identities:
                  - issuerRegExp: '.*'
                    subjectRegExp: '^https://kubernetes\\.io/namespaces/ci/serviceaccounts/pipeline$'
            - name: any-ci
              keyless:
                trustedRoot: {mock_sigstore.trusted_root}
                identities:
                  - issuerRegExp: '.*'
                    subjectRegExp: '^https://kubernetes\\.io/namespaces/ci/serviceaccounts/.*$'
          signatures:
            authorities: [pipeline, any-ci]
            threshold: 2
        """))
    assert "can be satisfied by one signer" in cli("policy", "lint", str(policy)).err
    keyless = ["--keyless", "--trust-config", str(mock_sigstore.trust_config)]
    token = tmp_path / "pipeline-token"
    token.write_text(mock_sigstore.token(CI + "pipeline"))
    # Two signing events: two certificates, one identity.
    assert cli("sign", *keyless, "--identity-token", str(token), image).code == 0
    assert cli("sign", *keyless, "--identity-token", str(token), image).code == 0
    run = cli("verify", "--policy", str(policy), "--output", "json", image)
    assert run.code == 1, run.out
    assert "one signer counts once" in _threshold(run)["found"]
    # A second identity, accepted only by the wider authority, is a second signer.
    deployer = tmp_path / "deployer-token"
    deployer.write_text(mock_sigstore.token(CI + "deployer"))
    assert cli("sign", *keyless, "--identity-token", str(deployer), image).code == 0
    run = cli("verify", "--policy", str(policy), "--output", "json", image)
    assert run.code == 0, run.out
