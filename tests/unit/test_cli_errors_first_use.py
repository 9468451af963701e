"""Errors a new user meets, run as they ran them: one clear message, the right exit code,
never a traceback or a Python repr (`None`, `'x'` from a dict) in what they read."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from slsacheck.errors import EXIT_INCOMPLETE, EXIT_POLICY, EXIT_USAGE
from slsacheck.oci import scratch
from slsacheck.oci.layout import LayoutStore
from tests.support.cli import Cli, cli

__all__ = ["cli"]


def _clean(text: str) -> None:
    assert "Traceback" not in text and "None" not in text and "HTTPConnectionPool" not in text, text


@pytest.fixture
def image(tmp_path: Path) -> str:
    store = LayoutStore(tmp_path / "img", create=True)
    scratch.push(store, scratch.image({"f": b"hello"}), tag="v1")
    return f"oci:{tmp_path / 'img'}:v1"


@pytest.fixture
def pair(tmp_path: Path, cli: Cli) -> tuple[Path, Path]:
    assert cli("generate-key-pair", "--output-key-prefix", str(tmp_path / "keys" / "release")).code == 0
    return tmp_path / "keys" / "release.key", tmp_path / "keys" / "release.pub"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens


# -- files the user asked to write ----------------------------------------------------


def test_public_key_outfile_into_a_missing_directory_creates_it(tmp_path: Path, cli: Cli,
                                                              pair: tuple[Path, Path]) -> None:
    out = tmp_path / "new" / "deeper" / "release.pub"
    run = cli("public-key", "--key", str(pair[0]), "--outfile", str(out))
    assert run.code == 0, run.err
    assert out.read_bytes() == pair[1].read_bytes()


def test_every_file_flag_refuses_a_path_through_a_file_in_one_line(tmp_path: Path, cli: Cli,
                                                                  pair: tuple[Path, Path], image: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    runs = {
        "--outfile": cli("public-key", "--key", str(pair[0]), "--outfile", str(blocker / "k.pub")),
        "--output-key-prefix": cli("generate-key-pair", "--output-key-prefix", str(blocker / "k")),
        "--output-file": cli("verify", "--key", str(pair[1]), "--output-file", str(blocker / "r.json"), image),
        "--bundle": cli("sign-blob", "--key", str(pair[0]), "--bundle", str(blocker / "b.json"), str(blocker)),
        "--output-signature": cli("sign-blob", "--key", str(pair[0]), "--output-signature", str(blocker / "s"),
                                  str(blocker)),
    }
    for flag, run in runs.items():
        assert run.code == EXIT_USAGE, (flag, run.err)
        first = run.err.splitlines()[0]
        assert first.startswith(f"error: {flag} {blocker}") and "not a directory" in first, run.err
        _clean(run.err)


def test_verify_report_into_a_missing_directory_is_written(tmp_path: Path, cli: Cli, pair: tuple[Path, Path],
                                                          image: str) -> None:
    report = tmp_path / "reports" / "today" / "verdict.json"
    run = cli("verify", "--key", str(pair[1]), "--report", str(report), image)
    assert run.code == EXIT_POLICY  # unsigned: the verdict fails, and is still written
    assert json.loads(report.read_text())["outcome"] == "fail"


# -- the network ------------------------------------------------------------------------


def test_a_registry_that_is_not_running_reads_connection_refused(cli: Cli) -> None:
    port = _closed_port()
    run = cli("inspect", f"127.0.0.1:{port}/team/app:v1")
    assert run.code == EXIT_INCOMPLETE
    assert f"cannot reach 127.0.0.1:{port}: connection refused (is the registry running? TLS? proxy?)" in run.err
    assert "Max retries" not in run.err and "NewConnectionError" not in run.err
    _clean(run.err)


def test_a_host_name_that_does_not_resolve_says_so(cli: Cli) -> None:
    run = cli("inspect", "no-such-registry.invalid/team/app:v1")
    assert run.code == EXIT_INCOMPLETE
    assert "does not resolve" in run.err and "gaierror" not in run.err
    _clean(run.err)


# -- keys -----------------------------------------------------------------------------


def test_verify_given_the_private_key_says_to_use_the_public_key(cli: Cli, pair: tuple[Path, Path],
                                                                image: str) -> None:
    run = cli("verify", "--key", str(pair[0]), image)
    assert run.code == EXIT_USAGE
    assert "is a private key; verifying takes the public key" in run.err
    assert f"slsacheck public-key --key {pair[0]}" in run.err
    assert "COSIGN_PASSWORD" not in run.err and "--password-file" not in run.err


# -- credentials ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{\n  "auths": {\n    "r.example": {"auth": "eDp5"},\n  }\n}\n', "line 4"),
        ('{"auths": {"r.example": "eDp5"}}', "\"auths\" entry 'r.example' must be an object"),
        ('{"auths": []}', '"auths" must be an object'),
        ('{"credHelpers": {"r.example": 3}}', '"credHelpers" entry'),
        ("[]", "must hold a JSON object"),
    ],
)
def test_a_malformed_docker_config_is_refused_before_any_registry(tmp_path: Path, cli: Cli, text: str,
                                                                  says: str) -> None:
    config = tmp_path / "config.json"
    config.write_text(text)
    # A registry that is not running: the file must be refused first, not ignored.
    run = cli("inspect", "--docker-config", str(config), f"127.0.0.1:{_closed_port()}/team/app:v1")
    assert run.code == EXIT_USAGE, run.err
    assert str(config) in run.err and says in run.err
    _clean(run.err)


def test_a_docker_config_directory_without_config_json_means_no_credentials(tmp_path: Path, cli: Cli) -> None:
    # As for Docker: the directory is valid, pulls are anonymous; the registry is then asked.
    run = cli("inspect", "--docker-config", str(tmp_path), f"127.0.0.1:{_closed_port()}/a:v1")
    assert run.code == EXIT_INCOMPLETE and "connection refused" in run.err


# -- layouts, bundles, provenance -------------------------------------------------------


def test_a_missing_tag_in_a_layout_lists_the_image_tags_without_reprs(cli: Cli, pair: tuple[Path, Path],
                                                                     image: str) -> None:
    assert cli("sign", "--key", str(pair[0]), image).code == 0  # adds an evidence tag
    missing = image.rsplit(":", 1)[0] + ":v2"
    for run in (cli("inspect", missing), cli("verify", "--key", str(pair[1]), missing)):
        assert run.code == EXIT_INCOMPLETE
        text = run.out + run.err
        assert "tag 'v2' not found" in text and "image tags 'v1' (and 1 evidence tag)" in text, text
        assert "`slsacheck inspect`" not in text and "sha256-" not in text
        _clean(text)


@pytest.mark.parametrize("content", ["{not json", "[]", '{"mediaType": "text/plain"}',
                                     '{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}'])
def test_a_file_that_is_not_a_bundle_is_an_input_error(tmp_path: Path, cli: Cli, pair: tuple[Path, Path],
                                                       content: str) -> None:
    bundle, artifact = tmp_path / "b.sigstore.json", tmp_path / "artifact"
    bundle.write_text(content)
    artifact.write_bytes(b"artifact")
    run = cli("verify-bundle", "--bundle", str(bundle), "--key", str(pair[1]), str(artifact))
    assert run.code == EXIT_USAGE, run.err
    assert run.err.startswith(f"error: --bundle {bundle}: ")
    _clean(run.err)


def test_provenance_validate_names_field_expected_and_found(tmp_path: Path, cli: Cli) -> None:
    doc = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "app", "digest": {"sha256": "xyz"}}],
        "predicate": {"buildDefinition": {"externalParameters": {}},
                      "runDetails": {"builder": {"id": 5}}},
    }
    path = tmp_path / "prov.json"
    path.write_text(json.dumps(doc, indent=2))
    run = cli("provenance", "validate", str(path))
    assert run.code == EXIT_USAGE
    assert "missing field: expected predicateType, found no such field" in run.err
    assert "at subject/0/digest/sha256: malformed: expected text matching ^[0-9a-f]{64}$, found \"xyz\"" in run.err
    doc["predicateType"] = "https://slsa.dev/provenance/v1"
    path.write_text(json.dumps(doc, indent=2))
    run = cli("provenance", "validate", str(path))
    assert "at predicate/runDetails/builder/id: wrong type: expected string, found a number 5" in run.err
    assert "missing field: expected buildType" in run.err
    assert "is not of type" not in run.err and "is a required property" not in run.err
    _clean(run.err)


TWO_AUTHORITIES = """\
apiVersion: slsacheck.dev/v1alpha1
kind: ImagePolicy
metadata: {{name: team}}
spec:
  images: {{include: ["oci:**"]}}
  authorities:
    - name: release
      key: {{file: "{release}"}}
    - name: ci
      key: {{file: "{ci}"}}
  signatures: {{authorities: [release]}}
  attestations:
    - name: provenance
      predicateType: slsaprovenance1
      authorities: [ci]
"""


def test_a_signature_by_another_authoritys_key_names_the_key_and_both_authorities(
    tmp_path: Path, cli: Cli, pair: tuple[Path, Path], image: str
) -> None:
    from slsacheck.signing.keys import fingerprint, load_public_key

    assert cli("generate-key-pair", "--output-key-prefix", str(tmp_path / "ci")).code == 0
    policy = tmp_path / "policy.yaml"
    policy.write_text(TWO_AUTHORITIES.format(release=pair[1], ci=tmp_path / "ci.pub"))
    assert cli("sign", "--key", str(tmp_path / "ci.key"), image).code == 0  # the CI key signs, not release
    run = cli("verify", "--policy", str(policy), image)
    assert run.code == EXIT_POLICY
    ci = fingerprint(load_public_key((tmp_path / "ci.pub").read_bytes()))
    assert f"signed by key sha256:{ci[:16]} (authority ci), not a key of authority release" in run.out, run.out


@pytest.mark.parametrize("exists", [True, False])
def test_audit_of_one_format_into_a_directory_writes_audit_json_there(
    tmp_path: Path, cli: Cli, pair: tuple[Path, Path], image: str, exists: bool
) -> None:
    """`--output-file reports/` names a directory for one format as for several (it wrote a
    file called `reports`, or failed with a traceback when the directory was there)."""
    reports = tmp_path / "reports"
    if exists:
        reports.mkdir()
    assert cli("sign", "--key", str(pair[0]), image).code == 0
    run = cli("audit", "--output", "json", "--output-file", f"{reports}/", image)
    _clean(run.err)
    assert run.code == 0 and reports.is_dir()
    assert [p.name for p in reports.iterdir()] == ["audit.json"]
    assert json.loads((reports / "audit.json").read_text())["images"][0]["image"] == image


def test_blob_outputs_into_a_missing_directory_are_written(tmp_path: Path, cli: Cli, pair: tuple[Path, Path]) -> None:
    """sign-blob/attest-blob write like every other file flag: the directory is made (they refused it)."""
    blob = tmp_path / "f.txt"
    blob.write_text("hello\n")
    out = tmp_path / "new" / "dir"
    assert cli("sign-blob", "--key", str(pair[0]), "--bundle", str(out / "f.sigstore.json"),
               "--output-signature", str(out / "f.sig"), str(blob)).code == 0
    predicate = tmp_path / "p.json"
    predicate.write_text("{}")
    assert cli("attest-blob", "--key", str(pair[0]), "--predicate", str(predicate), "--type", "custom",
               "--bundle", str(out / "att" / "f.intoto.sigstore.json"), str(blob)).code == 0
    verified = cli("verify-blob", "--key", str(pair[1]), "--bundle", str(out / "f.sigstore.json"), str(blob))
    assert verified.code == 0, verified.err
    assert (out / "f.sig").read_bytes() and (out / "att" / "f.intoto.sigstore.json").is_file()
