"""`slsacheck policy test`: a policy judged offline against statements the user has on
disk, at a chosen time, and a folder of cases with expected outcomes (as CI runs it)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from slsacheck.cli import demo_inputs
from slsacheck.errors import EXIT_OK, EXIT_POLICY, EXIT_USAGE
from slsacheck.signing.keys import generate_key_pair
from tests.support.cli import Cli, cli

__all__ = ["cli"]

BUILT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DIGEST = "sha256:" + "ab" * 32
EXCEPTION = """\
  exceptions:
    - images: ["oci:/legacy/**"]
      checks: [provenance.builderIds]
      until: 2026-06-30
      reason: legacy builder until the migration
"""


def _runs(folder: Path, git_url: str = demo_inputs.GIT_URL) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, doc in demo_inputs.pipeline_run(DIGEST, BUILT).items():
        text = json.dumps(doc).replace(demo_inputs.GIT_URL, git_url)
        (folder / name).write_text(text)
        paths.append(folder / name)
    return paths


@pytest.fixture
def world(tmp_path: Path, cli: Cli) -> Path:
    """A policy (the demo's, with an exception for legacy images), its key, and two statements:
    the real build, and one an attacker made from a fork of the repository."""
    (tmp_path / "release.pub").write_bytes(generate_key_pair(b"")[1])
    policy = demo_inputs.policy("team", "release.pub", demo_inputs.BUILDER_ID)
    (tmp_path / "policy.yaml").write_text(policy.replace("        maxAge: 24h\n", "        maxAge: 168h\n") + EXCEPTION)
    for name, url in (("good", demo_inputs.GIT_URL), ("fork", "https://git.example.org/attacker/hello")):
        paths = _runs(tmp_path / f"run-{name}", url)
        children = [a for p in paths[1:] for a in ("--child", str(p))]
        run = cli("provenance", "generate", "--run", str(paths[0]), *children, "-o", str(tmp_path / f"{name}.json"))
        assert run.code == EXIT_OK, run.err
    return tmp_path


def _test(cli: Cli, world: Path, *extra: str, statement: str = "good.json") -> tuple[int, dict[str, object]]:
    run = cli("policy", "test", str(world / "policy.yaml"), "--statement", str(world / statement),
              "--output", "json", *extra)
    assert run.err == "" or run.code == EXIT_USAGE, run.err
    doc = run.json() if run.out else {}
    return run.code, doc


def _failed(doc: dict[str, object]) -> list[str]:
    return [c["id"] for c in doc["checks"] if c["outcome"] == "fail"]  # type: ignore[index, union-attr]


def test_the_real_build_passes_within_max_age_and_the_signature_rule_is_not_counted(cli: Cli, world: Path) -> None:
    code, doc = _test(cli, world, "--image", "oci:/team/app", "--at", "2026-03-02T00:00:00Z")
    assert code == EXIT_OK and doc["outcome"] == "pass", doc
    (signatures,) = [c for c in doc["checks"] if c["id"] == "signatures.threshold"]  # type: ignore[union-attr]
    assert signatures["outcome"] == "skip" and "no signature facts" in signatures["found"]


def test_at_moves_now_past_max_age(cli: Cli, world: Path) -> None:
    code, doc = _test(cli, world, "--image", "oci:/team/app", "--at", "2026-03-20")
    assert code == EXIT_POLICY and _failed(doc) == ["provenance.maxAge"]


def test_a_statement_from_a_fork_fails_on_the_source(cli: Cli, world: Path) -> None:
    code, doc = _test(cli, world, "--image", "oci:/team/app", "--at", "2026-03-02", statement="fork.json")
    assert code == EXIT_POLICY and _failed(doc) == ["provenance.source.repositories"]


def test_a_statement_about_another_digest_is_not_evidence_for_this_image(cli: Cli, world: Path) -> None:
    other = "sha256:" + "cd" * 32
    code, doc = _test(cli, world, "--image", f"oci:/team/app@{other}", "--at", "2026-03-02")
    assert code == EXIT_POLICY and "attestations.provenance.present" in _failed(doc)
    assert doc["digest"] == other


def test_signature_facts_count_only_for_authorities_the_policy_lists(cli: Cli, world: Path) -> None:
    code, doc = _test(cli, world, "--image", "oci:/team/app", "--at", "2026-03-02", "--signed-by", "demo-key")
    assert code == EXIT_OK and {c["id"]: c["outcome"] for c in doc["checks"]}["signatures.threshold"] == "pass"  # type: ignore[index, union-attr]
    run = cli("policy", "test", str(world / "policy.yaml"), "--statement", str(world / "good.json"),
              "--image", "oci:/team/app", "--signed-by", "someone-else")
    assert run.code == EXIT_USAGE and "--signed-by someone-else: not an authority of policy team" in run.err


def test_exceptions_hold_until_their_date(cli: Cli, world: Path) -> None:
    policy = world / "policy.yaml"
    policy.write_text(policy.read_text().replace(demo_inputs.BUILDER_ID, "https://builder.example.com/other"))
    before = _test(cli, world, "--image", "oci:/legacy/app", "--at", "2026-03-02")
    assert before[0] == EXIT_OK, before[1]
    code, doc = _test(cli, world, "--image", "oci:/legacy/app", "--at", "2026-07-01")
    assert code == EXIT_POLICY and "provenance.builderIds" in _failed(doc)  # expired: fails again


def test_a_dsse_envelope_of_the_statement_is_read(cli: Cli, world: Path) -> None:
    payload = base64.b64encode((world / "good.json").read_bytes()).decode()
    (world / "good.dsse.json").write_text(json.dumps(
        {"payloadType": "application/vnd.in-toto+json", "payload": payload, "signatures": []}))
    code, doc = _test(cli, world, "--image", "oci:/team/app", "--at", "2026-03-02", statement="good.dsse.json")
    assert code == EXIT_OK, doc


@pytest.mark.parametrize(("content", "says"), [("{}", "not an in-toto statement"), ("[1, 2", "not JSON or YAML"),
                                                ('{"payloadType": "text/plain", "payload": "e30="}', "envelope")])
def test_what_is_not_a_statement_is_an_input_error(cli: Cli, world: Path, content: str, says: str) -> None:
    (world / "bad.json").write_text(content)
    run = cli("policy", "test", str(world / "policy.yaml"), "--statement", str(world / "bad.json"))
    assert run.code == EXIT_USAGE and says in run.err and "Traceback" not in run.err


@pytest.mark.parametrize(("payload", "says"), [
    (b"[" * 100_000 + b"]" * 100_000, "nested deeper than"),  # a RecursionError if parsed unbounded
    (b'{"predicateType": "a", "predicateType": "b"}', "duplicate"),
])
def test_an_envelope_payload_is_parsed_within_bounds(cli: Cli, world: Path, payload: bytes, says: str) -> None:
    (world / "hostile.dsse.json").write_text(json.dumps(
        {"payloadType": "application/vnd.in-toto+json", "payload": base64.b64encode(payload).decode()}))
    run = cli("policy", "test", str(world / "policy.yaml"), "--statement", str(world / "hostile.dsse.json"))
    assert run.code == EXIT_USAGE and "payload is not base64 JSON" in run.err and says in run.err, run.err
    assert "Traceback" not in run.err


SUITE = """\
policies: [policy.yaml]
cases:
  - name: the release build
    image: oci:/team/app
    statements: [good.json]
    signedBy: [demo-key]
    at: 2026-03-02T00:00:00Z
    expect: pass
  - name: a build from a fork
    image: oci:/team/app
    statements: [fork.json]
    at: 2026-03-02T00:00:00Z
    expect: fail
    failedChecks: [provenance.source.repositories]
  - name: last month's build
    image: oci:/team/app
    statements: [good.json]
    at: 2026-04-15T00:00:00Z
    expect: fail
    failedChecks: [provenance.maxAge]
"""


def test_a_folder_of_cases_runs_each_against_its_expectation(cli: Cli, world: Path) -> None:
    (world / "slsacheck-tests.yaml").write_text(SUITE)
    run = cli("policy", "test", str(world))
    assert run.code == EXIT_OK, run.out + run.err
    assert run.out.count("ok  ") == 3 and "3 of 3 case(s) as expected" in run.out


def test_a_case_whose_outcome_differs_fails_the_suite_and_says_how(cli: Cli, world: Path) -> None:
    (world / "slsacheck-tests.yaml").write_text(SUITE.replace("failedChecks: [provenance.maxAge]",
                                                              "failedChecks: [provenance.builderIds]"))
    run = cli("policy", "test", str(world), "--output", "json")
    assert run.code == EXIT_POLICY
    doc = run.json()
    assert doc["passed"] == 2 and doc["failed"] == 1
    (bad,) = [c for c in doc["cases"] if not c["ok"]]
    assert bad["name"] == "last month's build"
    assert bad["problems"] == ["expected failed checks [provenance.builderIds], found [provenance.maxAge]"]


@pytest.mark.parametrize(("suite", "says"), [
    ("cases: []\n", "non-empty cases"),
    ("policies: [policy.yaml]\ncases:\n  - statements: [good.json]\n    expect: maybe\n", "expect must be one of"),
    ("policies: [policy.yaml]\ncases:\n  - statements: [good.json]\n    expect: pass\n    sigendBy: [x]\n",
     "unknown field(s) sigendBy"),
])
def test_a_malformed_suite_is_an_input_error(cli: Cli, world: Path, suite: str, says: str) -> None:
    (world / "slsacheck-tests.yaml").write_text(suite)
    run = cli("policy", "test", str(world))
    assert run.code == EXIT_USAGE and says in run.err, run.err
