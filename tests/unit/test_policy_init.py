"""`slsacheck policy init`, as a user starts a policy of their own after the demo: the
written policy lints, and judges a real image signed (or not) by the key it names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slsacheck.errors import EXIT_OK, EXIT_POLICY, EXIT_USAGE
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from slsacheck.policy.load import load_policies
from slsacheck.policy.starter import shipped_names
from tests.support.cli import Cli, cli

__all__ = ["cli"]


@pytest.fixture
def keys(tmp_path: Path, cli: Cli) -> Path:
    assert cli("generate-key-pair", "--output-key-prefix", str(tmp_path / "keys" / "release")).code == 0
    return tmp_path / "keys"


def test_a_key_policy_for_my_images_lints_and_judges_them(tmp_path: Path, cli: Cli, keys: Path) -> None:
    policy = tmp_path / "policies" / "team.yaml"
    run = cli("policy", "init", "--image", "oci:**", "--key", str(keys / "release.pub"), "-o", str(policy))
    assert run.code == EXIT_OK, run.err
    assert f"slsacheck policy lint {policy}" in run.err
    text = policy.read_text()
    assert 'file: "../keys/release.pub"' in text  # relative to the policy file, as policies read it
    assert text.count("\n#") >= 2 and "# attestations:" in text  # commented, with what to switch on next
    lint = cli("policy", "lint", str(policy))
    assert lint.code == EXIT_OK and "ok: 1 policy" in lint.out, lint.err
    (loaded,) = load_policies([policy]).policies
    assert loaded.name == "team"

    LayoutStore(tmp_path / "app", create=True)
    scratch.push(LayoutStore(tmp_path / "app"), scratch.image({"f": b"app"}), tag="v1")
    image = f"oci:{tmp_path / 'app'}:v1"
    unsigned = cli("verify", "--policy", str(policy), "--output", "json", image)
    assert unsigned.code == EXIT_POLICY and unsigned.json()["outcome"] == "fail"
    assert cli("sign", "--key", str(keys / "release.key"), image).code == 0
    signed = cli("verify", "--policy", str(policy), image)
    assert signed.code == EXIT_OK, signed.out


def test_a_keyless_policy_keeps_the_identity_exact(tmp_path: Path, cli: Cli) -> None:
    subject = r"^https://github\.com/acme/app/\.github/workflows/release\.yml@refs/tags/v.*$"
    run = cli("policy", "init", "--image", "ghcr.io/acme/**", "--certificate-identity-regexp", subject,
              "--certificate-oidc-issuer", "https://token.actions.githubusercontent.com")
    assert run.code == EXIT_OK, run.err
    path = tmp_path / "keyless.yaml"
    path.write_text(run.out)
    from slsacheck import _yaml
    from slsacheck.policy.yamlsource import POLICY_LIMITS

    (doc,) = _yaml.load_all(run.out, POLICY_LIMITS)
    (identity,) = doc["spec"]["authorities"][0]["keyless"]["identities"]
    assert identity == {"issuer": "https://token.actions.githubusercontent.com", "subjectRegExp": subject}
    assert doc["spec"]["authorities"][0]["keyless"]["trustedRoot"] == "trusted_root.json"


@pytest.mark.parametrize("name", shipped_names())
def test_every_shipped_policy_copies_out_with_the_files_it_reads(tmp_path: Path, cli: Cli, name: str) -> None:
    out = tmp_path / "mine" / f"{name}.yaml"
    run = cli("policy", "init", "--from", name, "-o", str(out))
    assert run.code == EXIT_OK, run.err
    doc_files = [a.get("key", {}).get("file") or a.get("keyless", {}).get("trustedRoot")
                 for a in _spec(out)["authorities"]]
    for file in filter(None, doc_files):
        assert file in run.err, run.err  # the user is told what to put beside it
    assert f"put {'them' if len(set(filter(None, doc_files))) > 1 else 'it'} in {out.parent}/" in run.err


def _spec(path: Path) -> dict[str, object]:
    from slsacheck import _yaml
    from slsacheck.policy.yamlsource import POLICY_LIMITS

    (doc,) = _yaml.load_all(path.read_text(), POLICY_LIMITS)
    spec: dict[str, object] = doc["spec"]
    return spec


def test_a_mistyped_shipped_name_gets_did_you_mean(cli: Cli) -> None:
    run = cli("policy", "init", "--from", "tekton-slsa")
    assert run.code == EXIT_USAGE and "did you mean tekton-slsa3?" in run.err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--key", "k.pub"], "--image PATTERN"),
        (["--image", "r.example/**"], "exactly one signer"),
        (["--image", "r.example/**", "--certificate-identity", "me@example.com"], "--certificate-oidc-issuer"),
        (["--from", "key-signed-only", "--image", "r.example/**"], "--from copies a shipped policy as it is"),
    ],
)
def test_incomplete_init_says_what_is_missing(cli: Cli, argv: list[str], says: str) -> None:
    run = cli("policy", "init", *argv)
    assert run.code == EXIT_USAGE and says in run.err and "Traceback" not in run.err


def test_init_does_not_overwrite_without_force(tmp_path: Path, cli: Cli) -> None:
    out = tmp_path / "p.yaml"
    out.write_text("mine\n")
    run = cli("policy", "init", "--from", "key-signed-only", "-o", str(out))
    assert run.code == EXIT_USAGE and out.read_text() == "mine\n"
    assert cli("policy", "init", "--from", "key-signed-only", "-o", str(out), "--force").code == EXIT_OK
    assert json.dumps(_spec(out))


@pytest.mark.parametrize("flag", ["--output-file", "--output", "-o"])
def test_the_written_file_is_named_with_output_file_as_elsewhere(tmp_path: Path, cli: Cli, flag: str) -> None:
    """`--output` is a format everywhere else; the file is `--output-file` (the earlier spellings still work)."""
    out = tmp_path / "p.yaml"
    assert cli("policy", "init", "--from", "key-signed-only", flag, str(out)).code == EXIT_OK
    assert _spec(out)
    again = cli("policy", "init", "--from", "key-signed-only", flag, str(out))
    assert again.code == EXIT_USAGE and f"--output-file {out} already exists" in again.err
    converted = tmp_path / "c.yaml"
    run = cli("policy", "convert", str(out), flag, str(converted))
    assert run.code in (EXIT_OK, EXIT_USAGE) and "unrecognized arguments" not in run.err
