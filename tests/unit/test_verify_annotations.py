"""`slsacheck verify -a KEY=VALUE`, as with cosign: only a verified signature whose signed
annotations hold every pair counts; an annotation on a signature that does not verify
counts for nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from slsacheck.errors import EXIT_OK, EXIT_POLICY, EXIT_USAGE
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from tests.support.cli import Cli, cli

__all__ = ["cli"]


@pytest.fixture
def image(tmp_path: Path, cli: Cli) -> str:
    for name in ("release", "other"):
        assert cli("generate-key-pair", "--output-key-prefix", str(tmp_path / name)).code == 0
    scratch.push(LayoutStore(tmp_path / "img", create=True), scratch.image({"f": b"a"}), tag="v1")
    return f"oci:{tmp_path / 'img'}:v1"


@pytest.mark.parametrize("fmt", ["legacy", "bundle"])
def test_annotations_signed_with_the_image_are_checked(tmp_path: Path, cli: Cli, image: str, fmt: str) -> None:
    assert cli("sign", "--key", str(tmp_path / "release.key"), "--format", fmt, "-a", "env=prod", "-a", "build=42",
               image).code == 0
    pub = str(tmp_path / "release.pub")
    assert cli("verify", "--key", pub, "-a", "env=prod", image).code == EXIT_OK
    assert cli("verify", "--key", pub, "-a", "env=prod", "-a", "build=42", image).code == EXIT_OK
    wrong = cli("verify", "--key", pub, "-a", "env=dev", image)
    assert wrong.code == EXIT_POLICY and "FAIL  signature.annotations" in wrong.out
    assert 'with env=dev' in wrong.out and '"env": "prod"' in wrong.out
    missing = cli("verify", "--key", pub, "-a", "owner=me", image)
    assert missing.code == EXIT_POLICY


def test_an_annotation_on_a_signature_by_another_key_does_not_count(tmp_path: Path, cli: Cli, image: str) -> None:
    # The attacker's key signs with the wanted annotation; the release key signed without it.
    assert cli("sign", "--key", str(tmp_path / "other.key"), "-a", "env=prod", image).code == 0
    assert cli("sign", "--key", str(tmp_path / "release.key"), image).code == 0
    run = cli("verify", "--key", str(tmp_path / "release.pub"), "-a", "env=prod", image)
    assert run.code == EXIT_POLICY and "signature.annotations" in run.out


def test_annotations_are_key_value_pairs_and_not_for_policies(tmp_path: Path, cli: Cli, image: str) -> None:
    run = cli("verify", "--key", str(tmp_path / "release.pub"), "-a", "justakey", image)
    assert run.code == EXIT_USAGE and "not KEY=VALUE" in run.err
    (tmp_path / "p.yaml").write_text("x: 1\n")
    run = cli("verify", "--policy", str(tmp_path / "p.yaml"), "-a", "env=prod", image)
    assert run.code == EXIT_USAGE and "-a applies to --key" in run.err
