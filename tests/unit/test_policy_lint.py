"""`policy lint` warnings about authorities one signer can satisfy: no false alarm on independent ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from slsacheck.policy.authority import Authority, KeyAuthority, KeylessAuthority
from slsacheck.policy.lint import one_signer_for_both
from slsacheck.signing.identity import Identity
from tests.support.cli import Cli, cli
from tests.support.policy_evidence import public_pem

__all__ = ["cli"]  # the fixture, imported so pytest finds it here

KEY = public_pem()
ROOT = Path("/trust/root.json")
ISSUER = "https://token.actions.githubusercontent.com"


def _keyless(*identities: Identity, root: Path = ROOT) -> KeylessAuthority:
    return KeylessAuthority("k", root, identities)


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        (KeyAuthority("a", (KEY,)), KeyAuthority("b", (KEY.replace(b"\n", b"\r\n") + b"\n",)), True),
        (KeyAuthority("a", (KEY,)), KeyAuthority("b", (public_pem(), KEY)), True),
        (KeyAuthority("a", (KEY,)), KeyAuthority("b", (public_pem(),)), False),
        (_keyless(Identity(ISSUER, "https://ci/a")), _keyless(Identity(ISSUER, "https://ci/a")), True),
        (_keyless(Identity(ISSUER, "https://ci/a")), _keyless(Identity(ISSUER, "https://ci/b")), False),
        (_keyless(Identity(ISSUER, "https://ci/a")),
         _keyless(Identity(issuer_regexp=".*", subject_regexp="https://ci/.*")), True),
        (_keyless(Identity(ISSUER, "https://ci/a")),
         _keyless(Identity(issuer_regexp=".*", subject_regexp="https://other/.*")), False),
        (_keyless(Identity(ISSUER, "https://ci/a")),
         _keyless(Identity(ISSUER, "https://ci/a"), root=Path("/trust/other.json")), False),
        (KeyAuthority("a", (KEY,)), _keyless(Identity(ISSUER, "https://ci/a")), False),
    ],
)
def test_one_signer_for_both(a: Authority, b: Authority, overlap: bool) -> None:
    assert (one_signer_for_both(a, b) is not None) is overlap
    assert (one_signer_for_both(b, a) is not None) is overlap


def test_lint_compares_catch_alls_only_among_image_policies(tmp_path: Path, cli: Cli) -> None:
    """An ArtifactPolicy's file patterns (`*.tgz`) beside an image catch-all are no image
    names to compare: lint judges them apart and never stops with a traceback."""
    (tmp_path / "cosign.pub").write_bytes(KEY)
    (tmp_path / "images.yaml").write_text(
        "apiVersion: slsacheck.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: all-images}\nspec:\n"
        "  images: {include: ['**']}\n  authorities: [{name: k, key: {file: cosign.pub}}]\n"
        "  signatures: {authorities: [k]}\n")
    (tmp_path / "files.yaml").write_text(
        "apiVersion: slsacheck.dev/v1alpha1\nkind: ArtifactPolicy\nmetadata: {name: files}\nspec:\n"
        "  artifacts: {include: ['*.tgz']}\n  authorities: [{name: k, key: {file: cosign.pub}}]\n"
        "  attestations: [{name: p, predicateType: slsaprovenance1, authorities: [k]}]\n")
    run = cli("policy", "lint", str(tmp_path / "images.yaml"), str(tmp_path / "files.yaml"))
    assert run.code == 0, run.err
    assert "Traceback" not in run.err and "ok: 2 policies" in run.out + run.err
